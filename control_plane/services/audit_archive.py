"""The deprovision job's first step (SPEC §3): the tenant's signed audit export, fetched
through its control routes and kept (:class:`~control_plane.domain.ports.AuditArchiveStore`,
which verifies it offline before and after writing) so the trail outlives the tenant."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from control_plane.domain.actors import SYSTEM_ACTOR
from control_plane.domain.lifecycle import Tenant
from control_plane.domain.ports import AuditArchiveFailed, AuditArchiveStore, DataPlaneClient
from control_plane.domain.tenant_config import effective_config
from control_plane.providers.base import Provider
from control_plane.services.data_plane_control import DataPlaneControlService
from frostbyte_common.errors import FrostbyteError

log = logging.getLogger(__name__)


class AuditArchiver:
    """Fetches, verifies and keeps a tenant's audit export; the job's ``Archiver``."""

    def __init__(self, control: DataPlaneControlService, archive: AuditArchiveStore) -> None:
        self._control = control
        self._archive = archive

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

        try:
            data = await self._control.call(tenant, SYSTEM_ACTOR, fetch)
        except FrostbyteError as exc:
            raise AuditArchiveFailed(f"cannot fetch the audit export of tenant "
                                     f"{tenant.slug!r}: {exc.message}") from None
        archived = await asyncio.to_thread(self._archive.store, tenant.slug, data)
        return archived.to_json()
