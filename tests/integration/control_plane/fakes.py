"""A fake Provider for control-plane tests: records calls, provisions instantly."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from control_plane.domain.lifecycle import Tenant
from control_plane.errors import DataPlaneError, ProvisioningFailed
from frostbyte_common.tenant_config import TenantConfig


class FakeProvider:
    """Tenants whose slug starts with ``fail`` fail to provision; ``nokey`` tenants refuse
    vendor keys."""

    name = "local"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.keys: dict[str, tuple[str, str, tuple[str, ...], str | None]] = {}
        self.configs: dict[str, TenantConfig] = {}
        self.healthy: set[str] = set()
        self.gone: set[str] = set()
        self.release = threading.Event()  # cleared: provisioning waits (up to hold_s)
        self.release.set()
        self.hold_s = 10.0

    def provision(self, tenant: Tenant, config: TenantConfig) -> str:
        self.calls.append(("provision", tenant.slug))
        self.release.wait(timeout=self.hold_s)
        if tenant.slug.startswith("fail"):
            raise ProvisioningFailed("the fake disk is full")
        self.configs[tenant.slug] = config
        self.healthy.add(tenant.slug)
        return f"http://127.0.0.1:{8100 + len(self.configs)}"

    def start(self, tenant: Tenant, config: TenantConfig) -> str:
        self.calls.append(("start", tenant.slug))
        self.healthy.add(tenant.slug)
        assert tenant.endpoint is not None
        return tenant.endpoint

    def is_healthy(self, tenant: Tenant) -> bool:
        return tenant.slug in self.healthy

    def stop(self, tenant: Tenant) -> list[str]:
        self.calls.append(("stop", tenant.slug))
        self.healthy.discard(tenant.slug)
        return [tenant.slug]

    def install_vendor_key(
        self, tenant: Tenant, key_id: str, sha256: str, scopes: Sequence[str], label: str | None
    ) -> None:
        self.calls.append(("install_vendor_key", tenant.slug))
        if tenant.slug.startswith("nokey"):
            raise DataPlaneError("the fake data plane refused the key")
        self.keys[key_id] = (tenant.slug, sha256, tuple(scopes), label)

    def revoke_vendor_key(self, tenant: Tenant, key_id: str) -> None:
        self.calls.append(("revoke_vendor_key", tenant.slug))
        self.keys.pop(key_id, None)

    def deprovision(self, tenant: Tenant) -> None:
        self.calls.append(("deprovision", tenant.slug))
        self.healthy.discard(tenant.slug)
        self.gone.add(tenant.slug)

    def verify_deprovisioned(self, tenant: Tenant) -> dict[str, bool]:
        """``leaky`` tenants keep their database."""
        gone = tenant.slug in self.gone
        return {"database": gone and not tenant.slug.startswith("leaky"), "files": gone}
