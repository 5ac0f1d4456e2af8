"""Intake's rows beyond the batch insert: files held for a scan, and quarantine.

Each state change appends its audit event in the same transaction (as ``postgres.py``
does). Every update is conditional on the state it leaves, so a retried job or a second
admin call changes nothing twice.
"""

from __future__ import annotations

import uuid
from typing import Any

from data_plane.adapters.postgres import TenantDatabase
from data_plane.domain.intake import DocStatus, Reason

Row = dict[str, Any]


def quarantine_key(document_id: uuid.UUID | str) -> str:
    """Quarantined bytes live apart from ``raw/``: nothing that parses or indexes reads here."""
    return f"quarantine/{document_id}"


def pending_key(document_id: uuid.UUID | str) -> str:
    """Bytes of a file held until its malware scan can run."""
    return f"pending/{document_id}"


def pending_documents(db: TenantDatabase, limit: int = 100) -> list[Row]:
    with db.transaction() as conn:
        return conn.execute(
            "SELECT * FROM documents WHERE status = 'PROCESSING' AND reason = 'SCAN_PENDING'"
            " ORDER BY created_at LIMIT %s", (limit,)).fetchall()


def resolve_pending(db: TenantDatabase, document_id: uuid.UUID, *, status: DocStatus,
                    reason: Reason | None, detail: str | None, raw_key: str | None,
                    stored: bool, duplicate_of: uuid.UUID | None = None,
                    malware_signature: str | None = None) -> bool:
    """Move a held document to its verdict; False when it was not held (any more)."""
    event = {DocStatus.ACCEPTED: "document.ingested",
             DocStatus.QUARANTINED: "document.quarantined"}.get(status, "document.rejected")
    with db.transaction() as conn:
        row = conn.execute(
            "UPDATE documents SET status = %s, reason = %s, detail = %s, raw_key = %s,"
            " stored = %s, duplicate_of = %s, malware_signature = %s, held_reason = NULL,"
            " updated_at = now() WHERE document_id = %s AND status = 'PROCESSING'"
            " AND reason = 'SCAN_PENDING' RETURNING batch_id, sha256",
            (status.value, reason.value if reason else None, detail, raw_key, stored,
             duplicate_of, malware_signature, document_id)).fetchone()
        if row is None:
            return False
        db.append_audit(conn, actor="scanner", event_type=event, subject_kind="document",
                        subject_id=str(document_id),
                        payload={"batch_id": str(row["batch_id"]), "sha256": row["sha256"],
                                 "reason": reason.value if reason else None,
                                 "after": "SCAN_PENDING"})
        return True


def quarantined(db: TenantDatabase, *, limit: int, offset: int) -> list[Row]:
    with db.transaction() as conn:
        return conn.execute(
            "SELECT * FROM documents WHERE status = 'QUARANTINED'"
            " ORDER BY created_at DESC, document_id LIMIT %s OFFSET %s",
            (limit, offset)).fetchall()


def release(db: TenantDatabase, document_id: uuid.UUID, *, actor: str,
            raw_key: str) -> Row | None:
    """QUARANTINED → ACCEPTED with its bytes at ``raw_key``; the row, or None."""
    with db.transaction() as conn:
        row = conn.execute(
            "UPDATE documents SET status = 'ACCEPTED', reason = NULL, raw_key = %s, stored = true,"
            " updated_at = now() WHERE document_id = %s AND status = 'QUARANTINED'"
            " RETURNING *", (raw_key, document_id)).fetchone()
        if row is not None:
            db.append_audit(conn, actor=actor, event_type="document.released",
                            subject_kind="document", subject_id=str(document_id),
                            payload={"reason": row["reason"], "sha256": row["sha256"]})
        return row


def purge(db: TenantDatabase, document_id: uuid.UUID, *, actor: str) -> Row | None:
    """QUARANTINED → PURGED (bytes deleted by the caller after the commit)."""
    with db.transaction() as conn:
        row = conn.execute(
            "UPDATE documents SET status = 'PURGED', stored = false, updated_at = now()"
            " WHERE document_id = %s AND status = 'QUARANTINED' RETURNING *",
            (document_id,)).fetchone()
        if row is not None:
            db.append_audit(conn, actor=actor, event_type="document.purged",
                            subject_kind="document", subject_id=str(document_id),
                            payload={"reason": row["reason"], "sha256": row["sha256"]})
        return row
