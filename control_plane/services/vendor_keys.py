"""Vendor keys: issued for an ACTIVE tenant (the hash goes to the registry and to the
tenant's data plane; the key is shown once and never stored), listed, revoked."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from control_plane.domain.lifecycle import TenantState
from control_plane.domain.ports import TenantRegistryPort
from control_plane.domain.vendor_keys import IssuedVendorKey, VendorKeyRecord
from control_plane.errors import TenantNotActive
from control_plane.providers.base import Provider
from control_plane.services.providers import provider_for
from frostbyte_common.errors import ValidationFailed
from frostbyte_common.vendor_keys import SCOPES, generate_key

log = logging.getLogger(__name__)


class VendorKeyService:
    def __init__(self, registry: TenantRegistryPort, providers: Mapping[str, Provider]) -> None:
        self._registry = registry
        self._providers = dict(providers)

    async def list_keys(self, slug: str) -> list[VendorKeyRecord]:
        await self._registry.get(slug)
        return await self._registry.vendor_keys(slug)

    async def issue(self, slug: str, scopes: Sequence[str], label: str | None, *,
                    actor: str) -> IssuedVendorKey:
        """Generate a vendor key for an ACTIVE tenant: its hash goes to the registry and to the
        tenant's data plane; the key itself is returned once and never stored."""
        wanted = tuple(dict.fromkeys(scopes))
        unknown = [s for s in wanted if s not in SCOPES]
        if not wanted or unknown:
            raise ValidationFailed(
                f"scopes must be a non-empty subset of {list(SCOPES)}; unknown: {unknown}",
                code="INVALID_SCOPES",
            )
        tenant = await self._registry.get(slug)
        if tenant.state is not TenantState.ACTIVE:
            raise TenantNotActive(
                f"tenant {slug!r} is {tenant.state.value}; vendor keys need an ACTIVE tenant"
            )
        issued = generate_key()
        await self._registry.add_vendor_key(
            VendorKeyRecord(issued.key_id, slug, issued.sha256, wanted, label)
        )
        provider = self._providers[tenant.provider]
        try:
            await asyncio.to_thread(
                provider.install_vendor_key, tenant, issued.key_id, issued.sha256, wanted, label
            )
        except Exception:
            await self._registry.delete_vendor_key(issued.key_id)
            raise
        log.info("tenant %s: vendor key %s issued by %s, scopes %s", slug, issued.key_id,
                 actor, ",".join(wanted))
        return IssuedVendorKey(issued.key_id, issued.key, wanted, label)

    async def revoke(self, slug: str, key_id: str, *, actor: str) -> VendorKeyRecord:
        """Make the tenant's data plane refuse the key, then mark it revoked in the registry."""
        tenant = await self._registry.get(slug)
        record = await self._registry.vendor_key(slug, key_id)
        if record.revoked_at is None and tenant.state is not TenantState.DEPROVISIONED:
            await asyncio.to_thread(provider_for(self._providers, tenant).revoke_vendor_key,
                                    tenant, key_id)
        await self._registry.revoke_vendor_keys(slug, [key_id])
        log.info("tenant %s: vendor key %s revoked by %s", slug, key_id, actor)
        return await self._registry.vendor_key(slug, key_id)
