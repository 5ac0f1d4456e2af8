"""Quarantine routes (SPEC §5.3, §9).

* ``GET /v1/quarantine`` — a vendor key with the ``audit`` scope may *see* what is held
  (read-only: she learns which of her files were held and why).
* ``GET /control/v1/quarantine``, ``POST /control/v1/quarantine/{id}/release|purge`` — the
  control credential only (see :mod:`data_plane.api.routes_control`): the control plane calls
  them for ``/v1/tenants/{slug}/quarantine...`` on behalf of an admin. Vendor keys never
  release or purge. Each release and purge is audited with the admin as actor.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from data_plane.api.routes_control import CONTROL_PREFIX, control_caller
from data_plane.services.intake_quarantine import QuarantineService
from data_plane.settings import DataPlaneSettings


def _service(request: Request, settings: DataPlaneSettings) -> QuarantineService:
    core = request.app.state.services.core
    return QuarantineService(core.db, core.store, core.queue,
                             Path(settings.work_dir) / "quarantine")


def quarantine_router(settings: DataPlaneSettings,
                      require_audit: Callable[..., Any]) -> APIRouter:
    """The vendor's read-only view (``audit`` scope)."""
    router = APIRouter(prefix="/v1/quarantine", tags=["quarantine"])
    # A default, not Annotated[...]: the dependency is a local, which a postponed
    # annotation cannot name.
    caller_dependency = Depends(require_audit)

    @router.get("")
    def list_quarantine(request: Request,
                        limit: Annotated[int, Query(ge=1, le=500)] = 50,
                        offset: Annotated[int, Query(ge=0)] = 0,
                        caller: Any = caller_dependency) -> dict[str, Any]:
        """Quarantined documents, newest first (paged). Release and purge are admin-only."""
        return {"documents": _service(request, settings).list(limit=limit, offset=offset),
                "limit": limit, "offset": offset}

    return router


def quarantine_control_router(settings: DataPlaneSettings,
                              require_control: Callable[..., Any]) -> APIRouter:
    """The admin's actions, reached only with the control credential."""
    router = APIRouter(prefix=f"{CONTROL_PREFIX}/quarantine", tags=["control"])
    caller_dependency = Depends(control_caller(require_control))

    @router.get("")
    def list_quarantine(request: Request,
                        limit: Annotated[int, Query(ge=1, le=500)] = 50,
                        offset: Annotated[int, Query(ge=0)] = 0,
                        caller: Any = caller_dependency) -> dict[str, Any]:
        """Quarantined documents, newest first (paged)."""
        return {"documents": _service(request, settings).list(limit=limit, offset=offset),
                "limit": limit, "offset": offset}

    @router.post("/{document_id}/release")
    async def release(request: Request, document_id: uuid.UUID,
                      caller: Any = caller_dependency) -> dict[str, Any]:
        """Release a quarantined document into the pipeline (audited with the admin)."""
        return await run_in_threadpool(_service(request, settings).release, document_id,
                                       actor=caller.actor)

    @router.post("/{document_id}/purge")
    async def purge(request: Request, document_id: uuid.UUID,
                    caller: Any = caller_dependency) -> dict[str, Any]:
        """Purge a quarantined document: its bytes are deleted, the row says PURGED."""
        return await run_in_threadpool(_service(request, settings).purge, document_id,
                                       actor=caller.actor)

    return router
