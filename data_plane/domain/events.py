"""Pure: the audit events that record each change of the system of record. Every adapter
of the persistence ports appends exactly these, in the same transaction as the change."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from data_plane.domain.canonical import CanonicalDocument
from data_plane.domain.chunking import Chunk
from data_plane.domain.intake import DocStatus, Reason
from data_plane.domain.policy.outcome import PolicyOutcome
from data_plane.domain.ports import ModelInfo
from data_plane.domain.records import NewDocument, NewEvent

# The audit event of a document's intake verdict (PROCESSING: held until it is scanned).
_INTAKE_EVENTS = {DocStatus.ACCEPTED: "document.ingested",
                  DocStatus.QUARANTINED: "document.quarantined",
                  DocStatus.PROCESSING: "document.held"}


def intake_event(batch_id: uuid.UUID, d: NewDocument, actor: str) -> NewEvent:
    """The audit event that records one intake verdict."""
    payload: dict[str, Any] = {"batch_id": str(batch_id), "sha256": d.sha256,
                               "reason": d.reason.value if d.reason else None}
    if d.parent_document_id is not None:
        payload["parent_document_id"] = str(d.parent_document_id)
    return NewEvent(actor, _INTAKE_EVENTS.get(d.status, "document.rejected"), "document",
                    str(d.document_id), payload)


def resolved_event_type(status: DocStatus) -> str:
    """The event of a held (SCAN_PENDING) file's verdict once it is scanned."""
    return {DocStatus.ACCEPTED: "document.ingested",
            DocStatus.QUARANTINED: "document.quarantined"}.get(status, "document.rejected")


def saved_events(document_id: uuid.UUID, doc: CanonicalDocument, chunks: Sequence[Chunk],
                 model: ModelInfo) -> list[NewEvent]:
    """``document.parsed`` and ``document.embedded`` of a document's saved chunks."""
    return [
        NewEvent("worker", "document.parsed", "document", str(document_id),
                 {"parser": doc.parser, "version": doc.parser_version,
                  "status": doc.status.value, "elements": len(doc.elements)}),
        NewEvent("worker", "document.embedded", "document", str(document_id),
                 {"chunks": len(chunks), "model": model.name, "dimension": model.dimension,
                  "chunk_ids": [c.chunk_id for c in chunks]}),
    ]


def failed_event(document_id: uuid.UUID, reason: Reason,
                 doc: CanonicalDocument | None) -> NewEvent:
    return NewEvent("worker", "document.parse_failed", "document", str(document_id),
                    {"reason": reason.value, "parser": doc.parser if doc else None})


def indexed_event(document_id: uuid.UUID, points: int,
                  superseded: Sequence[uuid.UUID]) -> NewEvent:
    return NewEvent("indexer", "document.indexed", "document", str(document_id),
                    {"points": points, "supersedes": [str(d) for d in superseded]})


def stored_verdict(outcome: PolicyOutcome, released: bool) -> str:
    """The safety verdict recorded; a document released from a safety quarantine keeps
    ``RELEASED``."""
    verdict = outcome.safety.verdict.value
    return "RELEASED" if released and verdict == "QUARANTINE" else verdict


def safety_signals(outcome: PolicyOutcome) -> list[dict[str, Any]]:
    """The safety signals as recorded (``documents.safety_signals``)."""
    return [{"reason": s.reason, "rule": s.rule, "score": s.score,
             "element_index": s.element_index} for s in outcome.safety.signals]


def policy_events(document_id: uuid.UUID, outcome: PolicyOutcome,
                  verdict: str) -> list[NewEvent]:
    """``document.classified``, then ``document.pii_redacted`` or ``pii_flagged`` when
    there are findings."""
    subject = str(document_id)
    events = [NewEvent("worker", "document.classified", "document", subject,
                       {"doc_type": outcome.classification.doc_type.value,
                        "sensitivity": outcome.classification.sensitivity.value,
                        "classified_by": outcome.classification.source,
                        "safety_verdict": verdict})]
    findings = outcome.pii.findings
    if findings:
        redacted = sum(1 for f in findings if f.action.value == "REDACT")
        events.append(NewEvent(
            "worker", "document.pii_redacted" if redacted else "document.pii_flagged",
            "document", subject, {"counts": outcome.pii.counts(), "redacted": redacted}))
    return events


def refusal_event(document_id: uuid.UUID, status: DocStatus, reason: Reason,
                  detail: str) -> NewEvent:
    """The event of a document the policy refused."""
    event = ("document.quarantined" if status is DocStatus.QUARANTINED
             else "document.rejected")
    return NewEvent("worker", event, "document", str(document_id),
                    {"reason": reason.value, "detail": detail[:500]})
