"""PostgreSQL rows of the policy step (schema ``003_policy.sql``): findings, the
classification and the safety verdict, each change with its audit event
(``TenantDatabase.record_policy`` / ``refuse`` run these inside their transactions, after
locking the document's row)."""

from __future__ import annotations

import uuid

from psycopg.types.json import Jsonb

from data_plane.adapters.audit_store import AuditStore, Conn
from data_plane.domain.events import (
    policy_events,
    refusal_event,
    safety_signals,
    stored_verdict,
)
from data_plane.domain.intake import DocStatus, Reason
from data_plane.domain.policy.outcome import PolicyOutcome


def write_policy(conn: Conn, audit: AuditStore, document_id: uuid.UUID,
                 outcome: PolicyOutcome, *, released: bool) -> None:
    """Replace the document's findings and policy columns (idempotent on retry)."""
    pii = outcome.pii
    verdict = stored_verdict(outcome, released)
    conn.execute("DELETE FROM pii_findings WHERE document_id = %s", (document_id,))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO pii_findings (document_id, seq, entity_type, action, location,"
            " element_index, cell_row, cell_col, meta_key, start_offset, end_offset,"
            " score, recognizer) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            [(document_id, i, f.entity_type, f.action.value, f.location,
              f.element_index, f.cell_row, f.cell_col, f.key, f.start, f.end,
              f.score, f.recognizer) for i, f in enumerate(pii.findings)])
    conn.execute(
        "UPDATE documents SET doc_type = %s, sensitivity = %s, classified_by = %s,"
        " safety_verdict = %s, safety_score = %s, safety_signals = %s,"
        " safety_detail = %s, pii_counts = %s, updated_at = now()"
        " WHERE document_id = %s",
        (outcome.classification.doc_type.value,
         outcome.classification.sensitivity.value, outcome.classification.source,
         verdict, outcome.safety.score, Jsonb(safety_signals(outcome)),
         outcome.safety.summary,
         Jsonb(pii.counts()), document_id))
    audit.append_many(conn, policy_events(document_id, outcome, verdict))


def write_refusal(conn: Conn, audit: AuditStore, document_id: uuid.UUID, status: DocStatus,
                  reason: Reason, detail: str, timings: dict[str, float]) -> None:
    """End the document REJECTED (PII_BLOCKED) or QUARANTINED (safety) — never indexed."""
    conn.execute("DELETE FROM chunks WHERE document_id = %s", (document_id,))
    conn.execute(
        "UPDATE documents SET status = %s, reason = %s, detail = %s, timings = %s,"
        " updated_at = now() WHERE document_id = %s",
        (status.value, reason.value, detail[:2000], Jsonb(timings), document_id))
    audit.append_many(conn, [refusal_event(document_id, status, reason, detail)])
