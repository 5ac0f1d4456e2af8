"""Intake's rows beyond the batch insert, in SQL: Idempotency-Keys, files held for a scan,
and quarantine (``TenantDatabase`` runs these inside its transactions).

Each state change appends its audit event in the same transaction. Every update is
conditional on the state it leaves, so a retried job or a second admin call changes nothing
twice.
"""

from __future__ import annotations

import uuid
from typing import Any

from psycopg.types.json import Jsonb

from data_plane.adapters.audit_store import AuditStore, Conn
from data_plane.domain.events import resolved_event_type
from data_plane.domain.idempotency import IdempotentBatch
from data_plane.domain.intake import DocStatus, Reason
from data_plane.domain.object_keys import pending_key, quarantine_key
from data_plane.domain.records import NewEvent
from data_plane.errors import IdempotencyKeyReused

Row = dict[str, Any]

__all__ = ["claim_idempotency_key", "idempotent_batch", "keep_receipt", "pending_documents",
           "pending_key", "purge", "quarantine_key", "quarantined", "release",
           "resolve_pending"]


def idempotent_batch(conn: Conn, key_id: str, idempotency_key: str) -> IdempotentBatch | None:
    """The live batch the vendor key sent under the Idempotency-Key."""
    row = conn.execute(
        "SELECT batch_id, manifest_sha256, receipt FROM idempotency_keys WHERE key_id = %s"
        " AND idempotency_key = %s AND expires_at > now()",
        (key_id, idempotency_key)).fetchone()
    return (IdempotentBatch(row["batch_id"], row["manifest_sha256"], row["receipt"])
            if row else None)


def keep_receipt(conn: Conn, key_id: str, idempotency_key: str, batch_id: uuid.UUID,
                 receipt: dict[str, Any]) -> None:
    """The receipt a replay answers, on the key's row while it names ``batch_id``."""
    conn.execute("UPDATE idempotency_keys SET receipt = %s WHERE key_id = %s"
                 " AND idempotency_key = %s AND batch_id = %s",
                 (Jsonb(receipt), key_id, idempotency_key, batch_id))


def claim_idempotency_key(conn: Conn, key_id: str, idempotency_key: str, *,
                          batch_id: uuid.UUID, manifest_sha256: str | None,
                          ttl_s: float) -> None:
    """Let the key name ``batch_id`` for ``ttl_s`` seconds, taking over an expired claim.
    A live claim (a request under the same key recorded meanwhile: the insert waits for its
    transaction) is ``IdempotencyKeyReused``; the caller's transaction then rolls back."""
    claimed = conn.execute(
        "INSERT INTO idempotency_keys (key_id, idempotency_key, manifest_sha256, batch_id,"
        " expires_at) VALUES (%s, %s, %s, %s, now() + make_interval(secs => %s))"
        " ON CONFLICT (key_id, idempotency_key) DO UPDATE SET"
        " manifest_sha256 = EXCLUDED.manifest_sha256, batch_id = EXCLUDED.batch_id,"
        " created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at"
        " WHERE idempotency_keys.expires_at <= now()",
        (key_id, idempotency_key, manifest_sha256, batch_id, float(ttl_s))).rowcount
    if not claimed:
        raise IdempotencyKeyReused("this Idempotency-Key names a batch sent meanwhile")


def pending_documents(conn: Conn, limit: int = 100) -> list[Row]:
    return conn.execute(
        "SELECT * FROM documents WHERE status = 'PROCESSING' AND reason = 'SCAN_PENDING'"
        " ORDER BY created_at LIMIT %s", (limit,)).fetchall()


def resolve_pending(conn: Conn, audit: AuditStore, document_id: uuid.UUID, *,
                    status: DocStatus, reason: Reason | None, detail: str | None,
                    raw_key: str | None, stored: bool, duplicate_of: uuid.UUID | None = None,
                    malware_signature: str | None = None) -> bool:
    """Move a held document to its verdict; False when it was not held (any more)."""
    row = conn.execute(
        "UPDATE documents SET status = %s, reason = %s, detail = %s, raw_key = %s,"
        " stored = %s, duplicate_of = %s, malware_signature = %s, held_reason = NULL,"
        " updated_at = now() WHERE document_id = %s AND status = 'PROCESSING'"
        " AND reason = 'SCAN_PENDING' RETURNING batch_id, sha256",
        (status.value, reason.value if reason else None, detail, raw_key, stored,
         duplicate_of, malware_signature, document_id)).fetchone()
    if row is None:
        return False
    audit.append_many(conn, [NewEvent(
        "scanner", resolved_event_type(status), "document", str(document_id),
        {"batch_id": str(row["batch_id"]), "sha256": row["sha256"],
         "reason": reason.value if reason else None, "after": "SCAN_PENDING"})])
    return True


def quarantined(conn: Conn, *, limit: int, offset: int) -> list[Row]:
    return conn.execute(
        "SELECT * FROM documents WHERE status = 'QUARANTINED'"
        " ORDER BY created_at DESC, document_id LIMIT %s OFFSET %s",
        (limit, offset)).fetchall()


def release(conn: Conn, audit: AuditStore, document_id: uuid.UUID, *, actor: str,
            raw_key: str) -> Row | None:
    """QUARANTINED → ACCEPTED with its bytes at ``raw_key``; the row, or None."""
    row = conn.execute(
        "UPDATE documents SET status = 'ACCEPTED', reason = NULL, raw_key = %s, stored = true,"
        " updated_at = now() WHERE document_id = %s AND status = 'QUARANTINED'"
        " RETURNING *", (raw_key, document_id)).fetchone()
    if row is not None:
        audit.append_many(conn, [NewEvent(
            actor, "document.released", "document", str(document_id),
            {"reason": row["reason"], "sha256": row["sha256"]})])
    return row


def purge(conn: Conn, audit: AuditStore, document_id: uuid.UUID, *,
          actor: str) -> Row | None:
    """QUARANTINED → PURGED (bytes deleted by the caller after the commit)."""
    row = conn.execute(
        "UPDATE documents SET status = 'PURGED', stored = false, updated_at = now()"
        " WHERE document_id = %s AND status = 'QUARANTINED' RETURNING *",
        (document_id,)).fetchone()
    if row is not None:
        audit.append_many(conn, [NewEvent(
            actor, "document.purged", "document", str(document_id),
            {"reason": row["reason"], "sha256": row["sha256"]})])
    return row
