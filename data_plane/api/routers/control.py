"""Control routes under ``/control/v1``: what only the control plane may do on a tenant's
data plane — suspend/resume it, read the key its audit checkpoints are signed with (which
the control plane records at provisioning), record a secret rotation in the audit chain,
fetch the tenant's signed audit export (which the control plane archives before
deprovisioning, verified against the recorded key) and check (or repair) the consistency of its
three stores (``frostbyte doctor``); the quarantine actions are in
:mod:`data_plane.api.routers.quarantine`.

They need the control credential and the admin's name (see :mod:`data_plane.api.auth`):
vendor keys get ``INSUFFICIENT_SCOPE`` here; the control key, conversely, has none of the
vendor scopes.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from data_plane.api.auth import ControlCallerDep
from data_plane.api.dependencies import Audit, Consistency, Suspension
from data_plane.api.routers.audit import export_response

CONTROL_PREFIX = "/control/v1"

#: Internal: left out of the vendor's OpenAPI document (``create_app``), which the control
#: plane's own client does not need; ``frostbyte_common.openapi.full_document`` has them.
router = APIRouter(prefix=CONTROL_PREFIX, tags=["control"])


class SuspensionIn(BaseModel):
    suspended: bool


# names and ids only: a credential's name, a vendor key's id, a data key's id
_Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
_KeyId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


class VendorKeyReissued(BaseModel):
    model_config = ConfigDict(extra="forbid")
    old_key_id: _KeyId
    new_key_id: _KeyId


class RotationIn(BaseModel):
    """What a secret rotation re-issued: names and key ids, never a secret (a field that is
    not one of these is refused)."""

    model_config = ConfigDict(extra="forbid")
    job_id: UUID
    reissued: list[_Name] = Field(max_length=32)
    kept: list[_Name] = Field(default_factory=list, max_length=32)
    data_key_id: _KeyId | None = None
    control_key_id: _KeyId | None = None
    vendor_keys: list[VendorKeyReissued] = Field(default_factory=list, max_length=10_000)
    tls_fingerprint: Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")] | \
        None = None


_Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]


class RestoredIn(BaseModel):
    """Where a restored data plane came from: ids and hashes, never a secret."""

    model_config = ConfigDict(extra="forbid")
    source_tenant: _Slug
    restored_as: _Slug
    backup_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
    archive_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    backup_created_at: AwareDatetime
    source_head_hash: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    source_events: int = Field(ge=0, le=2**63 - 1)
    #: the source's vendor and control keys the restore revoked (the new tenant's are new)
    revoked_key_ids: list[_KeyId] = Field(default_factory=list, max_length=10_000)


@router.get("/suspension", name="control_get_suspension")
def get_suspension(suspension: Suspension, caller: ControlCallerDep) -> dict[str, Any]:
    """Whether the tenant is suspended (control credential only)."""
    return {"suspended": suspension.is_suspended()}


@router.put("/suspension", name="control_put_suspension")
def put_suspension(body: SuspensionIn, suspension: Suspension, caller: ControlCallerDep
                   ) -> dict[str, Any]:
    """Suspend or resume the vendor endpoint (audited; control credential only)."""
    return suspension.set(body.suspended, actor=caller.actor)


@router.get("/audit/key", name="control_audit_key")
def audit_key(audit: Audit, caller: ControlCallerDep) -> dict[str, str]:
    """The public key the tenant's audit checkpoints are signed with (``key_id``,
    ``public_key``: raw Ed25519, base64); 503 ``AUDIT_SIGNING_KEY_MISSING`` without one
    (control credential only; reads only)."""
    return audit.public_key()


@router.post("/audit/rotation", status_code=201, name="control_audit_rotation")
def audit_rotation(body: RotationIn, audit: Audit, caller: ControlCallerDep
                   ) -> dict[str, Any]:
    """Record a secret rotation (``secrets.rotated``, by the admin who asked) in the hash
    chain; answers the appended event (control credential only)."""
    event = audit.record_rotation(actor=caller.actor, rotation=body.model_dump(mode="json"))
    return event.to_json()


@router.post("/audit/restored", status_code=201, name="control_audit_restored")
def audit_restored(body: RestoredIn, audit: Audit, caller: ControlCallerDep
                   ) -> dict[str, Any]:
    """Record that this data plane was restored from a backup (``tenant.restored``, by the
    admin who asked) at the end of the chain it continues; answers the appended event
    (control credential only)."""
    restore = body.model_dump(mode="json")
    restore["backup_created_at"] = body.backup_created_at.isoformat()  # as audit times read
    event = audit.record_restored(actor=caller.actor, restore=restore)
    return event.to_json()


@router.post("/audit/export", name="control_audit_export")
def audit_export(audit: Audit, caller: ControlCallerDep) -> StreamingResponse:
    """The tenant's signed audit export, as ``POST /v1/audit/export`` makes it (JSON
    Lines: manifest, then every event up to a checkpoint signed now), for the control
    plane to archive before deprovisioning (control credential only; audited)."""
    return export_response(audit, actor=caller.actor)


@router.get("/consistency", name="control_check_consistency")
def check_consistency(consistency: Consistency, caller: ControlCallerDep,
                      first: Annotated[int, Query(ge=0, le=1000)] = 20) -> dict[str, Any]:
    """The drift between PostgreSQL, the object store and the index, per kind: counts and
    the ``first`` findings (control credential only; reads only, appends nothing)."""
    return consistency.check().to_json(first=first)


@router.post("/consistency/repair", name="control_repair_consistency")
def repair_consistency(consistency: Consistency, caller: ControlCallerDep,
                       first: Annotated[int, Query(ge=0, le=1000)] = 20) -> dict[str, Any]:
    """Check, then fix what can be fixed from PostgreSQL (re-project or prune the index,
    queue or re-process stuck documents); what cannot be fixed is reported. Audited as
    ``consistency.repaired`` by the admin, when anything was repaired."""
    return consistency.check(repair=True, actor=caller.actor).to_json(first=first)
