"""The audit routes (``audit`` scope): verify, events, inclusion and consistency proofs,
export. Checkpoints are signed in the background by the API process (see
:func:`data_plane.wiring.serve_api`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from data_plane.api import schemas
from data_plane.api.auth import AuditCaller
from data_plane.api.dependencies import Audit
from data_plane.domain.records import EventFilter
from data_plane.services.audit import AuditService
from frostbyte_common.openapi import error_responses

router = APIRouter(prefix="/v1/audit", tags=["audit"])
# A text filter PostgreSQL cannot hold (NUL) is the caller's error: 422, not a failed query.
_NO_NUL = r"^[^\x00]*$"


_UNAVAILABLE = error_responses(503)


@router.get("/verify", name="verify_audit_chain", response_model=schemas.AuditVerdict,
            response_model_exclude_unset=True, responses=_UNAVAILABLE)
def verify(audit: Audit, caller: AuditCaller) -> dict[str, Any]:
    """Recompute the hash chain and check every signed checkpoint against it."""
    return audit.verify()


@router.get("/events", name="list_audit_events", response_model=schemas.AuditEventList,
            responses=_UNAVAILABLE)
def events(
    audit: Audit,
    caller: AuditCaller,
    document_id: Annotated[str | None, Query(pattern=_NO_NUL,
                                             description="Events about this document.")] = None,
    batch_id: Annotated[str | None, Query(pattern=_NO_NUL,
                                          description="Events about this batch.")] = None,
    event_type: Annotated[str | None, Query(alias="type", pattern=_NO_NUL,
                                            description="e.g. `batch.received`.")] = None,
    actor: Annotated[str | None, Query(pattern=_NO_NUL,
                                       description="e.g. `vendor_key:<id>`.")] = None,
    since: Annotated[datetime | None, Query(description="At or after (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Before (ISO 8601).")] = None,
    after_seq: Annotated[int, Query(ge=0, description="Events after this sequence "
                                                      "number.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 100,
) -> dict[str, Any]:
    """Events in chain order, filtered by document, batch, type, actor and time; page
    on with `after_seq` = the previous page's `next_after_seq`."""
    return audit.events(EventFilter(document_id=document_id, batch_id=batch_id,
                                    event_type=event_type, actor=actor, since=since,
                                    until=until, after_seq=after_seq, limit=limit))


@router.get("/head", name="get_audit_head", response_model=schemas.AuditHead,
            responses=_UNAVAILABLE)
def head(audit: Audit, caller: AuditCaller) -> dict[str, Any]:
    """The chain head and the latest signed checkpoint."""
    return audit.head()


@router.get("/proof/{seq}", name="get_inclusion_proof", response_model=schemas.InclusionProof,
            responses=error_responses(503, e404="AUDIT_EVENT_NOT_FOUND: no such event."))
def proof(audit: Audit, seq: int, caller: AuditCaller) -> dict[str, Any]:
    """Inclusion proof (RFC 6962) of event `seq` against the latest signed checkpoint."""
    return audit.inclusion(seq)


@router.get("/consistency", name="get_consistency_proof",
            response_model=schemas.ConsistencyProof, responses=_UNAVAILABLE)
def consistency(audit: Audit,
                first: Annotated[int, Query(alias="from", ge=1,
                                            description="The smaller tree's size.")],
                second: Annotated[int, Query(alias="to", ge=1,
                                             description="The larger tree's size.")],
                caller: AuditCaller) -> dict[str, Any]:
    """Consistency proof (RFC 6962) between the trees of `from` and `to` events."""
    return audit.consistency(first, second)


@router.post("/export", name="export_audit", response_class=StreamingResponse, responses={
    200: {"description": "JSON Lines: the manifest, then every event.",
          "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
    **_UNAVAILABLE})
def export(audit: Audit, caller: AuditCaller) -> StreamingResponse:
    """JSON Lines: a manifest line, then every event up to a checkpoint signed now."""
    return export_response(audit, actor=f"vendor_key:{caller.key_id}")


def export_response(audit: AuditService, *, actor: str) -> StreamingResponse:
    """The signed export as a download (also served to the control plane)."""
    return StreamingResponse(
        audit.export(actor=actor), media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="audit-{audit.tenant}.jsonl"'})
