"""A tenant's effective configuration: its stored overrides over the product defaults."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from control_plane.domain.lifecycle import Tenant
from control_plane.errors import InvalidConfig
from frostbyte_common.tenant_config import TenantConfig


def effective_config(tenant: Tenant) -> TenantConfig:
    """The tenant's full configuration: its stored overrides over the product defaults."""
    return TenantConfig.model_validate(tenant.config)


def validate_overrides(overrides: Mapping[str, object]) -> None:
    """Raise :class:`InvalidConfig` (422) naming the first few problems of ``overrides``."""
    try:
        TenantConfig.model_validate(dict(overrides))
    except ValidationError as exc:
        parts = [
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            for err in exc.errors()[:5]
        ]
        raise InvalidConfig("invalid config: " + "; ".join(parts)) from None
