"""A tenant's embedding model and online key (issue 18).

* ``reembed``: the tenant's data plane builds a new collection for another model from its
  PostgreSQL chunks while search keeps answering from the active one, then switches (its
  control route ``/control/v1/reembed``, through the provider's control channel). Once the
  data plane reports the switch, the tenant's config names the new model
  (``embedding.model``), recorded without re-applying it: the running data plane serves
  the new collection already, and a restarted one reads the active collection it records.
* ``set_embedding_key``: the key of the tenant's online embeddings API, kept only in its
  SOPS secrets (``online_embedding_api_key``); an ACTIVE tenant's data plane is restarted on it
  through the provider's ``apply_secrets`` (the path a rotation takes). Never logged, never
  answered, never in a job log or event: what is recorded is that it was set, by whom.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from control_plane.domain.lifecycle import Tenant, TenantState
from control_plane.domain.ports import SecretStore, TenantRegistryPort
from control_plane.domain.tenant_config import effective_config
from control_plane.domain.tenant_secrets import EMBEDDING_API_KEY
from control_plane.errors import TenantNotActive
from control_plane.providers.base import Provider
from control_plane.services.data_plane_control import DataPlaneControlService
from control_plane.services.providers import provider_for
from frostbyte_common.errors import ValidationFailed
from frostbyte_common.tenant_config import merge_patch

log = logging.getLogger(__name__)

#: What an embeddings API key may be: printable ASCII without spaces, 8 to 512 characters.
_KEY_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))


def check_api_key(value: str) -> str:
    """Pure: the key as given, or ``ValidationFailed`` (saying why, never echoing it)."""
    if not 8 <= len(value) <= 512 or not set(value) <= _KEY_CHARS:
        raise ValidationFailed("an embeddings API key is 8 to 512 printable ASCII characters "
                               "without spaces", code="INVALID_API_KEY")
    return value


class EmbeddingService:
    def __init__(self, registry: TenantRegistryPort, providers: Mapping[str, Provider],
                 secrets: SecretStore, control: DataPlaneControlService) -> None:
        self._registry = registry
        self._providers = dict(providers)
        self._secrets = secrets
        self._control = control

    async def _active_tenant(self, slug: str, what: str) -> Tenant:
        tenant = await self._registry.get(slug)
        if tenant.state is not TenantState.ACTIVE:
            raise TenantNotActive(f"tenant {slug!r} is {tenant.state.value}; {what} needs "
                                  "it ACTIVE")
        return tenant

    async def reembed(self, slug: str, model: str, *, actor: str) -> dict[str, Any]:
        """Start re-embedding the tenant into ``model``; the data plane's answer (the
        running re-embedding and the collection search uses meanwhile)."""
        tenant = await self._active_tenant(slug, "re-embedding")
        answer = await self._control.call(tenant, actor, lambda dp: dp.start_reembed(model))
        log.info("tenant %s: re-embedding into %s started by %s", slug, model, actor)
        return answer

    async def reembed_status(self, slug: str, *, actor: str) -> dict[str, Any]:
        """The latest re-embedding and the active collection, as the data plane reports
        them; once switched, the tenant's config is made to name the new model."""
        tenant = await self._active_tenant(slug, "a re-embedding's status")
        answer = await self._control.call(tenant, actor, lambda dp: dp.reembed_status())
        await self._record_model(tenant, answer, actor)
        return answer

    async def _record_model(self, tenant: Tenant, answer: dict[str, Any], actor: str) -> None:
        record = answer.get("reembed") or {}
        active = (answer.get("active") or {}).get("model") or {}
        name = active.get("name")
        if record.get("state") != "SWITCHED" or not isinstance(name, str):
            return
        if effective_config(tenant).embedding.model == name:
            return
        tenant.config = merge_patch(tenant.config, {"embedding": {"model": name}})
        await self._registry.save(tenant, None, expected_state=tenant.state)
        log.info("tenant %s: config now names embedding model %s (re-embedded by %s)",
                 tenant.slug, name, record.get("actor", actor))

    async def set_embedding_key(self, slug: str, api_key: str, *,
                                actor: str) -> dict[str, Any]:
        """Keep ``api_key`` in the tenant's SOPS secrets; restart an ACTIVE tenant's data
        plane on it. What was done (never the key)."""
        check_api_key(api_key)
        tenant = await self._registry.get(slug)
        if tenant.state in (TenantState.DEPROVISIONING, TenantState.DEPROVISIONED):
            raise TenantNotActive(f"tenant {slug!r} is {tenant.state.value}")
        values = (await asyncio.to_thread(self._secrets.get, slug)
                  if await asyncio.to_thread(self._secrets.exists, slug) else {})
        await asyncio.to_thread(self._secrets.put, slug, {**values, EMBEDDING_API_KEY: api_key})
        applied = tenant.state is TenantState.ACTIVE
        if applied:
            provider = provider_for(self._providers, tenant)
            await asyncio.to_thread(provider.apply_secrets, tenant, effective_config(tenant))
        log.info("tenant %s: embeddings API key set by %s%s", slug, actor,
                 " and applied to the running data plane" if applied else "")
        return {"tenant": slug, "stored": True, "applied": applied,
                "replaced": bool(values.get(EMBEDDING_API_KEY))}
