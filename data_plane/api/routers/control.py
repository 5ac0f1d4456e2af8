"""Control routes under ``/control/v1``: what only the control plane may do on a tenant's
data plane — suspend/resume it, fetch the tenant's signed audit export (which the
control plane archives before deprovisioning) and check (or repair) the consistency of its
three stores (``frostbyte doctor``); the quarantine actions are in
:mod:`data_plane.api.routers.quarantine`.

They need the control credential and the admin's name (see :mod:`data_plane.api.auth`):
vendor keys get ``INSUFFICIENT_SCOPE`` here; the control key, conversely, has none of the
vendor scopes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from data_plane.api.auth import ControlCallerDep
from data_plane.api.dependencies import Audit, Consistency, Suspension
from data_plane.api.routers.audit import export_response

CONTROL_PREFIX = "/control/v1"

router = APIRouter(prefix=CONTROL_PREFIX, tags=["control"])


class SuspensionIn(BaseModel):
    suspended: bool


@router.get("/suspension")
def get_suspension(suspension: Suspension, caller: ControlCallerDep) -> dict[str, Any]:
    """Whether the tenant is suspended (control credential only)."""
    return {"suspended": suspension.is_suspended()}


@router.put("/suspension")
def put_suspension(body: SuspensionIn, suspension: Suspension, caller: ControlCallerDep
                   ) -> dict[str, Any]:
    """Suspend or resume the vendor endpoint (audited; control credential only)."""
    return suspension.set(body.suspended, actor=caller.actor)


@router.post("/audit/export")
def audit_export(audit: Audit, caller: ControlCallerDep) -> StreamingResponse:
    """The tenant's signed audit export, as ``POST /v1/audit/export`` makes it (JSON
    Lines: manifest, then every event up to a checkpoint signed now), for the control
    plane to archive before deprovisioning (control credential only; audited)."""
    return export_response(audit, actor=caller.actor)


@router.get("/consistency")
def check_consistency(consistency: Consistency, caller: ControlCallerDep,
                      first: Annotated[int, Query(ge=0, le=1000)] = 20) -> dict[str, Any]:
    """The drift between PostgreSQL, the object store and the index, per kind: counts and
    the ``first`` findings (control credential only; reads only, appends nothing)."""
    return consistency.check().to_json(first=first)


@router.post("/consistency/repair")
def repair_consistency(consistency: Consistency, caller: ControlCallerDep,
                       first: Annotated[int, Query(ge=0, le=1000)] = 20) -> dict[str, Any]:
    """Check, then fix what can be fixed from PostgreSQL (re-project or prune the index,
    queue or re-process stuck documents); what cannot be fixed is reported. Audited as
    ``consistency.repaired`` by the admin, when anything was repaired."""
    return consistency.check(repair=True, actor=caller.actor).to_json(first=first)
