"""PostgreSQL rows of the policy step (schema ``003_policy.sql``): findings, the
classification and the safety verdict, each change with its audit event."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg.types.json import Jsonb

from data_plane.adapters.postgres import TenantDatabase
from data_plane.domain.intake import DocStatus, Reason
from data_plane.domain.policy.outcome import PolicyOutcome


class PolicyStore:
    """Writes a ``PolicyOutcome`` next to the document it judged."""

    def __init__(self, db: TenantDatabase) -> None:
        self._db = db

    def record(self, document_id: uuid.UUID, outcome: PolicyOutcome, *,
               released: bool = False) -> bool:
        """Replace the document's findings and policy columns (idempotent on retry). A
        document released from a safety quarantine keeps the verdict ``RELEASED``. False
        (nothing written) when the document was erased while its job ran."""
        pii = outcome.pii
        verdict = outcome.safety.verdict.value
        if released and verdict == "QUARANTINE":
            verdict = "RELEASED"
        with self._db.transaction() as conn:
            if not self._db.lock_in_pipeline(conn, document_id):
                return False
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
                 verdict, outcome.safety.score, Jsonb(_signals(outcome)),
                 outcome.safety.summary,
                 Jsonb(pii.counts()), document_id))
            self._db.append_audit(
                conn, actor="worker", event_type="document.classified",
                subject_kind="document", subject_id=str(document_id),
                payload={"doc_type": outcome.classification.doc_type.value,
                         "sensitivity": outcome.classification.sensitivity.value,
                         "classified_by": outcome.classification.source,
                         "safety_verdict": verdict})
            if pii.findings:
                redacted = sum(1 for f in pii.findings if f.action.value == "REDACT")
                self._db.append_audit(
                    conn, actor="worker", event_type="document.pii_redacted"
                    if redacted else "document.pii_flagged",
                    subject_kind="document", subject_id=str(document_id),
                    payload={"counts": pii.counts(), "redacted": redacted})
        return True

    def refuse(self, document_id: uuid.UUID, status: DocStatus, reason: Reason,
               detail: str, timings: dict[str, float]) -> bool:
        """End the document REJECTED (PII_BLOCKED) or QUARANTINED (safety) — never indexed.
        False (nothing written) when the document was erased while its job ran."""
        event = ("document.quarantined" if status is DocStatus.QUARANTINED
                 else "document.rejected")
        with self._db.transaction() as conn:
            if not self._db.lock_in_pipeline(conn, document_id):
                return False
            conn.execute("DELETE FROM chunks WHERE document_id = %s", (document_id,))
            conn.execute(
                "UPDATE documents SET status = %s, reason = %s, detail = %s, timings = %s,"
                " updated_at = now() WHERE document_id = %s",
                (status.value, reason.value, detail[:2000], Jsonb(timings), document_id))
            self._db.append_audit(conn, actor="worker", event_type=event,
                                  subject_kind="document", subject_id=str(document_id),
                                  payload={"reason": reason.value, "detail": detail[:500]})
        return True


def _signals(outcome: PolicyOutcome) -> list[dict[str, Any]]:
    return [{"reason": s.reason, "rule": s.rule, "score": s.score,
             "element_index": s.element_index} for s in outcome.safety.signals]
