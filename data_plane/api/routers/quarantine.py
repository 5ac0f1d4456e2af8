"""Quarantine routes (SPEC §5.3, §9).

* ``GET /v1/quarantine`` — a vendor key with the ``audit`` scope may *see* what is held
  (read-only: she learns which of her files were held and why).
* ``GET /control/v1/quarantine``, ``POST /control/v1/quarantine/{id}/release|purge`` — the
  control credential only (see :mod:`data_plane.api.auth`): the control plane calls them for
  ``/v1/tenants/{slug}/quarantine...`` on behalf of an admin. Vendor keys never release or
  purge. Each release and purge is audited with the admin as actor.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from data_plane.api import schemas
from data_plane.api.auth import AuditCaller, ControlCallerDep
from data_plane.api.dependencies import Quarantine
from data_plane.api.routers import MAX_OFFSET
from data_plane.api.routers.control import CONTROL_PREFIX
from frostbyte_common.openapi import error_responses

#: The vendor's read-only view (``audit`` scope).
router = APIRouter(prefix="/v1/quarantine", tags=["quarantine"])
#: The admin's actions, reached only with the control credential.
#: (internal: not in the vendor's OpenAPI document)
control_router = APIRouter(prefix=f"{CONTROL_PREFIX}/quarantine", tags=["control"])


@router.get("", response_model=schemas.QuarantineList, responses=error_responses(503))
def list_quarantine(quarantine: Quarantine, caller: AuditCaller,
                    limit: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 50,
                    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET,
                                                 description="Items to skip.")] = 0,
                    ) -> dict[str, Any]:
    """Quarantined documents, newest first (paged). Release and purge are admin-only."""
    return {"documents": quarantine.list(limit=limit, offset=offset),
            "limit": limit, "offset": offset}


@control_router.get("", name="control_list_quarantine")
def list_quarantine_for_admin(quarantine: Quarantine, caller: ControlCallerDep,
                              limit: Annotated[int, Query(ge=1, le=500)] = 50,
                              offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
                              ) -> dict[str, Any]:
    """Quarantined documents, newest first (paged)."""
    return {"documents": quarantine.list(limit=limit, offset=offset),
            "limit": limit, "offset": offset}


@control_router.post("/{document_id}/release", name="control_release")
async def release(document_id: uuid.UUID, quarantine: Quarantine, caller: ControlCallerDep
                  ) -> dict[str, Any]:
    """Release a quarantined document into the pipeline (audited with the admin)."""
    return await run_in_threadpool(quarantine.release, document_id, actor=caller.actor)


@control_router.post("/{document_id}/purge", name="control_purge")
async def purge(document_id: uuid.UUID, quarantine: Quarantine, caller: ControlCallerDep
                ) -> dict[str, Any]:
    """Purge a quarantined document: its bytes are deleted, the row says PURGED."""
    return await run_in_threadpool(quarantine.purge, document_id, actor=caller.actor)
