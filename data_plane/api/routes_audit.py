"""The audit routes (`audit` scope): verify, events, inclusion and consistency proofs, export.

``audit_router`` is included from ``create_app``; its lifespan (run inside the app's, once the
tenant database is open) builds the ``AuditService`` and signs checkpoints periodically.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from data_plane.adapters.audit_store import EventFilter
from data_plane.services.audit import AuditService, CheckpointPolicy
from data_plane.settings import DataPlaneSettings
from frostbyte_common.audit_checkpoint import load_signing_key

log = logging.getLogger(__name__)


def signing_key(settings: DataPlaneSettings) -> Ed25519PrivateKey | None:
    """The audit signing key from the settings (a value or a file), or None."""
    if settings.audit_signing_key is not None:
        return load_signing_key(settings.audit_signing_key.get_secret_value().encode())
    if settings.audit_signing_key_file is not None:
        return load_signing_key(settings.audit_signing_key_file.read_bytes())
    return None


def _audit(request: Request) -> AuditService:
    service: AuditService = request.app.state.audit
    return service


Audit = Annotated[AuditService, Depends(_audit)]


def audit_router(settings: DataPlaneSettings, require_audit: Callable[..., Any]) -> APIRouter:
    """The `/v1/audit/*` routes; ``require_audit`` is the app's `audit`-scope dependency."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        policy = CheckpointPolicy(every_events=settings.audit_checkpoint_every_events,
                                  every_s=settings.audit_checkpoint_every_s)
        service = AuditService(app.state.services.core.db.audit,
                               signing_key=signing_key(settings), policy=policy)
        app.state.audit = service
        task = asyncio.create_task(_checkpoints(service, min(policy.every_s, 5.0)))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    router = APIRouter(prefix="/v1/audit", tags=["audit"], lifespan=lifespan)
    # A closure's alias cannot be an annotation (they are resolved as module globals).
    caller_dependency = Depends(require_audit)

    @router.get("/verify")
    def verify(audit: Audit, caller: Any = caller_dependency) -> dict[str, Any]:
        """Recompute the hash chain and check every signed checkpoint against it."""
        return audit.verify()

    @router.get("/events")
    def events(
        audit: Audit,
        document_id: str | None = None, batch_id: str | None = None,
        event_type: Annotated[str | None, Query(alias="type")] = None,
        actor: str | None = None, since: datetime | None = None, until: datetime | None = None,
        after_seq: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        caller: Any = caller_dependency,
    ) -> dict[str, Any]:
        """Events in chain order, filtered by document, batch, type, actor and time; page
        on with `after_seq` = the previous page's `next_after_seq`."""
        return audit.events(EventFilter(document_id=document_id, batch_id=batch_id,
                                        event_type=event_type, actor=actor, since=since,
                                        until=until, after_seq=after_seq, limit=limit))

    @router.get("/head")
    def head(audit: Audit, caller: Any = caller_dependency) -> dict[str, Any]:
        """The chain head and the latest signed checkpoint."""
        return audit.head()

    @router.get("/proof/{seq}")
    def proof(audit: Audit, seq: int, caller: Any = caller_dependency) -> dict[str, Any]:
        """Inclusion proof (RFC 6962) of event `seq` against the latest signed checkpoint."""
        return audit.inclusion(seq)

    @router.get("/consistency")
    def consistency(audit: Audit,
                    first: Annotated[int, Query(alias="from", ge=1)],
                    second: Annotated[int, Query(alias="to", ge=1)],
                    caller: Any = caller_dependency) -> dict[str, Any]:
        """Consistency proof (RFC 6962) between the trees of `from` and `to` events."""
        return audit.consistency(first, second)

    @router.post("/export")
    def export(audit: Audit, caller: Any = caller_dependency) -> StreamingResponse:
        """JSON Lines: a manifest line, then every event up to a checkpoint signed now."""
        lines = audit.export(actor=f"vendor_key:{caller.key_id}")
        return StreamingResponse(
            lines, media_type="application/x-ndjson",
            headers={"Content-Disposition":
                     f'attachment; filename="audit-{audit.tenant}.jsonl"'})

    return router


async def _checkpoints(service: AuditService, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await run_in_threadpool(service.checkpoint_if_due)
        except Exception:  # the next round tries again; the failure is logged
            log.exception("audit checkpoint failed")
