"""A tenant's quarantined documents (SPEC §9): listed, released into the pipeline or purged
— by an admin only, through the data plane's control routes, which record the action in the
tenant's audit chain with the admin as actor."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from control_plane.domain.lifecycle import Tenant, TenantState
from control_plane.domain.ports import QuarantineAction, TenantRegistryPort
from control_plane.errors import TenantNotActive
from control_plane.services.data_plane_control import DataPlaneControlService

log = logging.getLogger(__name__)


class QuarantineService:
    def __init__(self, registry: TenantRegistryPort, control: DataPlaneControlService) -> None:
        self._registry = registry
        self._control = control

    async def list_documents(self, slug: str, *, limit: int, offset: int,
                             actor: str) -> dict[str, Any]:
        """The tenant's quarantined documents, newest first."""
        tenant = await self._with_data_plane(slug)
        return await self._control.call(tenant, actor,
                                        lambda dp: dp.quarantine(limit=limit, offset=offset))

    async def act(self, slug: str, document_id: uuid.UUID, action: QuarantineAction, *,
                  actor: str) -> dict[str, Any]:
        """Release a quarantined document into the pipeline, or purge it."""
        tenant = await self._with_data_plane(slug)
        result = await self._control.call(
            tenant, actor, lambda dp: dp.quarantine_action(document_id, action))
        log.info("tenant %s: quarantined document %s %s by %s", slug, document_id,
                 "released" if action == "release" else "purged", actor)
        return result

    async def _with_data_plane(self, slug: str) -> Tenant:
        tenant = await self._registry.get(slug)
        if tenant.state not in (TenantState.ACTIVE, TenantState.SUSPENDED):
            raise TenantNotActive(f"tenant {slug!r} is {tenant.state.value}; its quarantine "
                                  "is reachable in ACTIVE and SUSPENDED")
        return tenant
