"""The deprovision job's first step (SPEC §3): the tenant's signed audit export, fetched
through its control routes and kept (:class:`~control_plane.domain.ports.AuditArchiveStore`,
which verifies it offline before and after writing) so the trail outlives the tenant.

The export is verified against the tenant's audit public key the control plane recorded at
provisioning (``Tenant.audit_public_key``), never against the key the export names: an
export signed by another key, or changed after it was signed, is not kept and the job fails
with the reason. A tenant provisioned before keys were recorded is verified against the key
its data plane reports now, and the archive's record says so."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from control_plane.domain.actors import SYSTEM_ACTOR
from control_plane.domain.lifecycle import Tenant
from control_plane.domain.ports import AuditArchiveFailed, AuditArchiveStore, DataPlaneClient
from control_plane.domain.tenant_config import effective_config
from control_plane.providers.base import Provider
from control_plane.services.data_plane_control import DataPlaneControlService
from frostbyte_common.audit_checkpoint import key_id_of
from frostbyte_common.errors import FrostbyteError

log = logging.getLogger(__name__)


class AuditArchiver:
    """Fetches, verifies and keeps a tenant's audit export; the job's ``Archiver``."""

    def __init__(self, control: DataPlaneControlService, archive: AuditArchiveStore,
                 chains: Callable[[str], Awaitable[str | None]] | None = None) -> None:
        """``chains``: the audit chain a tenant restored from a backup continues (None:
        its own), whose name its export carries."""
        self._control = control
        self._archive = archive
        self._chains = chains

    async def __call__(self, tenant: Tenant, provider: Provider) -> dict[str, Any]:
        """The data plane was stopped when deprovisioning began; it is started again
        (suspended first thing, so vendors stay out) for the export. Returns what was kept
        (``{"archive": path, "head_hash": ..., "events": n}``); raises when anything fails."""
        if not await asyncio.to_thread(provider.is_healthy, tenant):
            log.info("tenant %s: starting its data plane to export its audit trail",
                     tenant.slug)
            await asyncio.to_thread(provider.start, tenant, effective_config(tenant))

        async def fetch(dp: DataPlaneClient) -> bytes:
            await dp.set_suspended(True)
            return await dp.audit_export()

        trusted, source = tenant.audit_public_key, "recorded at provisioning"
        try:
            data = await self._control.call(tenant, SYSTEM_ACTOR, fetch)
            if trusted is None:
                log.warning("tenant %s: no audit public key was recorded at provisioning; "
                            "verifying its export against the key its data plane reports",
                            tenant.slug)
                _, trusted = await self._control.audit_key(tenant, actor=SYSTEM_ACTOR)
                source = "reported by the data plane at deprovisioning (none was recorded)"
        except FrostbyteError as exc:
            raise AuditArchiveFailed(f"cannot fetch the audit export of tenant "
                                     f"{tenant.slug!r}: {exc.message}") from None
        chain = None if self._chains is None else await self._chains(tenant.slug)
        archived = await asyncio.to_thread(self._archive.store, tenant.slug, data,
                                           trusted_public_key=trusted, audit_chain=chain)
        return archived.to_json() | {"audit_key_id": key_id_of(trusted), "audit_key": source}
