"""Quarantine routes: list, release, purge — each audited. For now a vendor key with the
`audit` scope; the control plane's admin routes (SPEC §9) will call the same service."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from data_plane.services.intake_quarantine import QuarantineService
from data_plane.settings import DataPlaneSettings


def quarantine_router(settings: DataPlaneSettings,
                      require_audit: Callable[..., Any]) -> APIRouter:
    router = APIRouter(prefix="/v1/quarantine", tags=["quarantine"])
    # A default, not Annotated[...]: the dependency is a local, which a postponed
    # annotation cannot name.
    caller_dependency = Depends(require_audit)

    def service(request: Request) -> QuarantineService:
        core = request.app.state.services.core
        return QuarantineService(core.db, core.store, core.queue,
                                 Path(settings.work_dir) / "quarantine")

    @router.get("")
    def list_quarantine(request: Request,
                        limit: Annotated[int, Query(ge=1, le=500)] = 50,
                        offset: Annotated[int, Query(ge=0)] = 0,
                        caller: Any = caller_dependency) -> dict[str, Any]:
        """Quarantined documents, newest first (paged)."""
        return {"documents": service(request).list(limit=limit, offset=offset),
                "limit": limit, "offset": offset}

    @router.post("/{document_id}/release")
    async def release(request: Request, document_id: uuid.UUID,
                      caller: Any = caller_dependency) -> dict[str, Any]:
        """Release a quarantined document into the pipeline (audited)."""
        return await run_in_threadpool(service(request).release, document_id,
                                       actor=f"vendor_key:{caller.key_id}")

    @router.post("/{document_id}/purge")
    async def purge(request: Request, document_id: uuid.UUID,
                    caller: Any = caller_dependency) -> dict[str, Any]:
        """Purge a quarantined document: its bytes are deleted, the row says PURGED."""
        return await run_in_threadpool(service(request).purge, document_id,
                                       actor=f"vendor_key:{caller.key_id}")

    return router
