"""The tenant database (PostgreSQL, psycopg 3): the system of record.

``TenantDatabase`` implements the data plane's persistence ports
(``data_plane.domain.ports``) and returns their typed records. Every write that changes a
document's state appends its audit event in the same transaction, so the trail and the
state never disagree.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from data_plane.adapters import embedding_collections, intake_records, policy_store
from data_plane.adapters.audit_store import AuditStore
from data_plane.domain.canonical import CanonicalDocument
from data_plane.domain.chunking import Chunk
from data_plane.domain.consistency import requeueable, requeued_event
from data_plane.domain.embedding_models import ReembedRecord
from data_plane.domain.events import (
    failed_event,
    indexed_event,
    intake_event,
    saved_events,
)
from data_plane.domain.idempotency import DEFAULT_TTL_S, IdempotentBatch
from data_plane.domain.intake import DocStatus, Reason
from data_plane.domain.policy.outcome import PolicyOutcome
from data_plane.domain.ports import ModelInfo
from data_plane.domain.records import (
    BatchRecord,
    ChunkText,
    DocumentRecord,
    IndexModelRecord,
    NewDocument,
    NewEvent,
    StoredChunk,
    VendorKeyRecord,
)
from data_plane.errors import DatabaseUnavailable
from frostbyte_common.audit_chain import AuditEvent
from frostbyte_common.audit_checkpoint import Checkpoint
from frostbyte_common.canonical_json import sha256_hex

__all__ = ["Conn", "NewDocument", "PgTransaction", "Row", "TenantDatabase"]

Row = dict[str, Any]
Conn = psycopg.Connection[Row]

SUSPENDED = "tenant.suspended"
RESUMED = "tenant.resumed"


def _insert_document(conn: Conn, batch_id: uuid.UUID, d: NewDocument,
                     actor: str) -> NewEvent | None:
    """Insert one intake verdict; its audit event, or None when the row existed already."""
    inserted = conn.execute(
        "INSERT INTO documents (document_id, batch_id, ordinal, name, sha256,"
        " declared_sha256, size, declared_type, mime_type, metadata, status, reason,"
        " stored, duplicate_of, raw_key, detail, held_reason, malware_signature,"
        " parent_document_id)"
        " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
        " ON CONFLICT (document_id) DO NOTHING",
        (d.document_id, batch_id, d.ordinal, d.name, d.sha256, d.declared_sha256,
         d.size, d.declared_type, d.mime_type, Jsonb(d.metadata), d.status.value,
         d.reason.value if d.reason else None, d.stored, d.duplicate_of, d.raw_key,
         d.detail, d.held_reason.value if d.held_reason else None,
         d.malware_signature, d.parent_document_id),
    ).rowcount
    return intake_event(batch_id, d, actor) if inserted else None


def _reason(value: str | None) -> Reason | None:
    return Reason(value) if value else None


def document_record(r: Row) -> DocumentRecord:
    """A ``documents`` row (``SELECT *``) as its record."""
    return DocumentRecord(
        document_id=r["document_id"], batch_id=r["batch_id"], ordinal=r["ordinal"],
        name=r["name"], status=DocStatus(r["status"]), created_at=r["created_at"],
        updated_at=r["updated_at"], sha256=r["sha256"], declared_sha256=r["declared_sha256"],
        size=r["size"], declared_type=r["declared_type"], mime_type=r["mime_type"],
        metadata=r["metadata"], reason=_reason(r["reason"]), detail=r["detail"],
        stored=r["stored"], duplicate_of=r["duplicate_of"], stage=r["stage"],
        raw_key=r["raw_key"], canonical_key=r["canonical_key"], title=r["title"],
        parser=r["parser"], parser_version=r["parser_version"],
        parse_status=r["parse_status"], page_count=r["page_count"],
        chunk_count=r["chunk_count"], superseded_by=r["superseded_by"],
        timings=r["timings"], held_reason=_reason(r["held_reason"]),
        malware_signature=r["malware_signature"], doc_type=r["doc_type"],
        sensitivity=r["sensitivity"], classified_by=r["classified_by"],
        safety_verdict=r["safety_verdict"], safety_score=r["safety_score"],
        safety_signals=r["safety_signals"], safety_detail=r["safety_detail"],
        pii_counts=r["pii_counts"], parent_document_id=r["parent_document_id"])


def _batch(r: Row) -> BatchRecord:
    return BatchRecord(batch_id=r["batch_id"], client_ref=r["client_ref"],
                       idempotency_key=r["idempotency_key"], key_id=r["key_id"],
                       received_at=r["received_at"])


def _lock_in_pipeline(conn: Conn, document_id: uuid.UUID) -> bool:
    """Lock the document's row in ``conn``'s transaction; False if it is no longer in
    the pipeline (erased, or already ended): the caller then writes nothing."""
    row = conn.execute(
        "SELECT status FROM documents WHERE document_id = %s FOR UPDATE",
        (document_id,)).fetchone()
    return row is not None and row["status"] in ("ACCEPTED", "PROCESSING")


def _suspension_event(conn: Conn, tenant: str) -> str | None:
    row = conn.execute(
        "SELECT event_type FROM audit.events WHERE tenant = %s"
        " AND event_type IN (%s, %s) ORDER BY seq DESC LIMIT 1",
        (tenant, SUSPENDED, RESUMED)).fetchone()
    return row["event_type"] if row else None


class PgTransaction:
    """The ``Transaction`` port on one connection inside one PostgreSQL transaction."""

    def __init__(self, conn: Conn, audit: AuditStore) -> None:
        self.conn = conn
        self._audit = audit

    def lock_document(self, document_id: uuid.UUID) -> DocumentRecord | None:
        row = self.conn.execute(
            "SELECT * FROM documents WHERE document_id = %s FOR UPDATE",
            (document_id,)).fetchone()
        return document_record(row) if row else None

    def child_documents(self, parent_id: uuid.UUID) -> list[uuid.UUID]:
        rows = self.conn.execute(
            "WITH RECURSIVE tree(document_id, depth) AS ("
            " SELECT document_id, 1 FROM documents WHERE parent_document_id = %s"
            " UNION ALL SELECT d.document_id, t.depth + 1 FROM documents d"
            " JOIN tree t ON d.parent_document_id = t.document_id WHERE t.depth < 16)"
            " SELECT document_id FROM tree ORDER BY depth DESC", (parent_id,)).fetchall()
        return [r["document_id"] for r in rows]

    def object_shared(self, key: str, document_id: uuid.UUID) -> bool:
        row = self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM documents WHERE raw_key = %s"
            " AND document_id <> %s) AS shared", (key, document_id)).fetchone()
        return bool(row and row["shared"])

    def erase_document(self, document_id: uuid.UUID) -> dict[str, int]:
        statements = {
            "chunks": "DELETE FROM chunks WHERE document_id = %s",
            "elements": "DELETE FROM document_elements WHERE document_id = %s",
            "pii_findings": "DELETE FROM pii_findings WHERE document_id = %s",
        }
        removed = {kind: self.conn.execute(statement, (document_id,)).rowcount
                   for kind, statement in statements.items()}
        self.conn.execute("DELETE FROM documents WHERE document_id = %s", (document_id,))
        return removed

    def append_audit(self, event: NewEvent) -> AuditEvent:
        return self._audit.append_many(self.conn, [event])[0]


class TenantDatabase:
    """One tenant's database over a connection pool: every persistence port."""

    def __init__(self, conninfo: str, tenant: str, *, min_size: int = 1, max_size: int = 8):
        self.tenant = tenant
        self._pool: ConnectionPool[Conn] = ConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            kwargs={"row_factory": dict_row, "autocommit": False},
            open=False,
        )
        self.audit = AuditStore(tenant, self._connection)

    def open(self, *, wait: bool = True) -> None:
        """Open the pool; ``wait``: until its first connection is made (30 s at most)."""
        self._pool.open(wait=wait, timeout=30)

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def _connection(self, timeout_s: float = 10.0) -> Iterator[Conn]:
        """A pooled connection; PostgreSQL unreachable (restarting, down) or no connection
        free within ``timeout_s`` is ``DatabaseUnavailable`` — a 503 to a caller and an
        outage a job waits out — never an unmapped error."""
        try:
            with self._pool.connection(timeout=timeout_s) as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise DatabaseUnavailable(
                f"the tenant database is unreachable: {type(exc).__name__}") from exc

    @contextmanager
    def transaction(self) -> Iterator[Conn]:
        """A connection inside one transaction (committed on success)."""
        with self._connection() as conn, conn.transaction():
            yield conn

    @contextmanager
    def atomic(self) -> Iterator[PgTransaction]:
        """The ``UnitOfWork`` port: one transaction, committed when the block ends."""
        with self.transaction() as conn:
            yield PgTransaction(conn, self.audit)

    def _one(self, query: str, params: Sequence[Any] = ()) -> Row | None:
        with self._connection() as conn:
            return conn.execute(query, params).fetchone()

    def _all(self, query: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._connection() as conn:
            return conn.execute(query, params).fetchall()

    # -- schema ---------------------------------------------------------------------------

    def migrate(self) -> None:
        """Apply every ``sql/NNN_*.sql`` file in order (each is idempotent)."""
        folder = resources.files("data_plane.adapters").joinpath("sql")
        scripts = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")),
                         key=lambda f: f.name)
        with self.transaction() as conn:
            for script in scripts:
                conn.execute(script.read_text())

    def ping(self) -> bool:
        """Readiness: a connection within 2 s answers ``SELECT 1``; never raises."""
        try:
            with self._connection(timeout_s=2.0) as conn:
                return conn.execute("SELECT 1 AS ok").fetchone() is not None
        except DatabaseUnavailable:
            return False

    # -- audit ----------------------------------------------------------------------------

    def append_audit(
        self,
        conn: Conn,
        *,
        actor: str,
        event_type: str,
        subject_kind: str,
        subject_id: str,
        payload: dict[str, Any],
    ) -> AuditEvent:
        """Append one event to the chain inside the caller's transaction."""
        return self.audit.append(conn, actor=actor, event_type=event_type,
                                 subject_kind=subject_kind, subject_id=subject_id,
                                 payload=payload)

    def audit_events(self, *, after_seq: int = 0, limit: int | None = None) -> list[AuditEvent]:
        return self.audit.events(after_seq=after_seq, limit=limit)

    def audit_head(self) -> tuple[int, str]:
        return self.audit.head()

    def latest_checkpoint(self) -> Checkpoint | None:
        return self.audit.latest_checkpoint()

    def record_retrieval(self, actor: str, payload: dict[str, Any]) -> AuditEvent:
        """The audit event of a search: the only write of its transaction, so the event is
        appended and committed in one round trip (the most frequent event there is)."""
        with self._connection() as conn:
            return self.audit.append_committed(conn, [NewEvent(
                actor, "retrieval.performed", "query", payload["query_sha256"], payload)])[0]

    # -- suspension (the latest tenant.suspended / tenant.resumed event decides) -----------

    def suspended(self) -> bool:
        with self.transaction() as conn:
            return _suspension_event(conn, self.tenant) == SUSPENDED

    def set_suspended(self, suspended: bool, *, actor: str) -> bool:
        with self.transaction() as conn:
            # One change at a time: the audit append serialises on the chain's head, and
            # reading the state in the same transaction makes the check-then-append exact.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                         (f"suspension:{self.tenant}",))
            current = _suspension_event(conn, self.tenant) == SUSPENDED
            if current == suspended:
                return False
            self.audit.append_many(conn, [NewEvent(
                actor, SUSPENDED if suspended else RESUMED, "tenant", self.tenant, {})])
            return True

    # -- vendor keys ----------------------------------------------------------------------

    def add_vendor_key(self, key_id: str, sha256: str, scopes: Sequence[str],
                       label: str | None) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO vendor_keys (key_id, key_sha256, scopes, label) VALUES (%s,%s,%s,%s)"
                " ON CONFLICT (key_id) DO UPDATE SET key_sha256 = EXCLUDED.key_sha256,"
                " scopes = EXCLUDED.scopes, label = EXCLUDED.label, revoked_at = NULL",
                (key_id, sha256, list(scopes), label),
            )
            self.append_audit(conn, actor="control-plane", event_type="vendor_key.issued",
                              subject_kind="vendor_key", subject_id=key_id,
                              payload={"scopes": sorted(scopes)})

    def revoke_vendor_key(self, key_id: str) -> bool:
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE vendor_keys SET revoked_at = now() WHERE key_id = %s"
                " AND revoked_at IS NULL", (key_id,))
            if cur.rowcount:
                self.append_audit(conn, actor="control-plane", event_type="vendor_key.revoked",
                                  subject_kind="vendor_key", subject_id=key_id, payload={})
            return cur.rowcount > 0

    def vendor_key(self, key_id: str) -> VendorKeyRecord | None:
        row = self._one(
            "SELECT * FROM vendor_keys WHERE key_id = %s AND revoked_at IS NULL", (key_id,))
        if row is None:
            return None
        return VendorKeyRecord(key_id=row["key_id"], key_sha256=row["key_sha256"],
                               scopes=tuple(row["scopes"]), label=row["label"])

    # -- batches and intake ---------------------------------------------------------------

    def idempotent_batch(self, key_id: str, idempotency_key: str) -> IdempotentBatch | None:
        with self._connection() as conn:
            return intake_records.idempotent_batch(conn, key_id, idempotency_key)

    def keep_receipt(self, key_id: str, idempotency_key: str, batch_id: uuid.UUID,
                     receipt: dict[str, Any]) -> None:
        with self.transaction() as conn:
            intake_records.keep_receipt(conn, key_id, idempotency_key, batch_id, receipt)

    def stored_document_by_sha(self, sha256: str) -> uuid.UUID | None:
        """The live stored document with these bytes (for DUPLICATE)."""
        row = self._one(
            "SELECT document_id FROM documents WHERE sha256 = %s AND stored"
            " AND duplicate_of IS NULL AND status NOT IN ('PURGED')"
            " ORDER BY created_at LIMIT 1", (sha256,))
        return row["document_id"] if row else None

    def record_batch(self, *, batch_id: uuid.UUID, client_ref: str,
                     idempotency_key: str | None, key_id: str,
                     documents: Sequence[NewDocument], manifest_sha256: str | None = None,
                     idempotency_ttl_s: float = DEFAULT_TTL_S) -> None:
        """Insert the batch and all its document rows with their audit events, atomically;
        claim its Idempotency-Key (``IdempotencyKeyReused`` while a live one names another
        batch: nothing is written)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO batches (batch_id, client_ref, idempotency_key, key_id)"
                " VALUES (%s,%s,%s,%s)", (batch_id, client_ref, idempotency_key, key_id))
            if idempotency_key is not None:
                intake_records.claim_idempotency_key(
                    conn, key_id, idempotency_key, batch_id=batch_id,
                    manifest_sha256=manifest_sha256, ttl_s=idempotency_ttl_s)
            actor = f"vendor_key:{key_id}"
            events = [NewEvent(actor, "batch.received", "batch", str(batch_id),
                               {"client_ref": client_ref, "files": len(documents)})]
            events += [e for d in documents
                       if (e := _insert_document(conn, batch_id, d, actor)) is not None]
            # Last, and all at once: the chain's lock is held only from here to the commit.
            self.audit.append_many(conn, events)

    def record_attachments(self, parent_id: uuid.UUID,
                           documents: Sequence[NewDocument]) -> list[NewDocument] | None:
        """Insert the intake verdicts of an e-mail's attachments in the parent's batch,
        with their audit events, under the parent's pipeline lock. Idempotent (a retried job
        derives the same ids): returns the rows inserted now, or None when the parent is no
        longer in the pipeline (erased meanwhile)."""
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT batch_id, status FROM documents WHERE document_id = %s FOR UPDATE",
                (parent_id,)).fetchone()
            if row is None or row["status"] not in ("ACCEPTED", "PROCESSING"):
                return None
            inserted: list[NewDocument] = []
            events: list[NewEvent] = []
            for d in documents:
                event = _insert_document(conn, row["batch_id"], d, "pipeline")
                if event is not None:
                    inserted.append(d)
                    events.append(event)
            if events:
                self.audit.append_many(conn, events)
            return inserted

    def attachment_depth(self, document_id: uuid.UUID) -> int:
        """How many e-mails up the document's parent chain is (0: an uploaded file)."""
        row = self._one(
            "WITH RECURSIVE up(document_id, parent, depth) AS ("
            " SELECT document_id, parent_document_id, 0 FROM documents"
            " WHERE document_id = %s"
            " UNION ALL SELECT d.document_id, d.parent_document_id, u.depth + 1"
            " FROM documents d JOIN up u ON d.document_id = u.parent WHERE u.depth < 16)"
            " SELECT max(depth) AS depth FROM up", (document_id,))
        return int(row["depth"] or 0) if row else 0

    def get_batch(self, batch_id: uuid.UUID) -> BatchRecord | None:
        row = self._one("SELECT * FROM batches WHERE batch_id = %s", (batch_id,))
        return _batch(row) if row else None

    def list_batches(self, *, limit: int, offset: int) -> list[BatchRecord]:
        return [_batch(r) for r in self._all(
            "SELECT * FROM batches ORDER BY received_at DESC, batch_id LIMIT %s OFFSET %s",
            (limit, offset))]

    def batch_documents(self, batch_id: uuid.UUID) -> list[DocumentRecord]:
        return [document_record(r) for r in self._all(
            "SELECT * FROM documents WHERE batch_id = %s"
            " ORDER BY ordinal, parent_document_id IS NOT NULL, created_at,"
            " (metadata->>'attachment_number')::int NULLS FIRST, name",
            (batch_id,))]

    def get_document(self, document_id: uuid.UUID) -> DocumentRecord | None:
        row = self._one("SELECT * FROM documents WHERE document_id = %s", (document_id,))
        return document_record(row) if row else None

    def list_documents(self, *, limit: int, offset: int) -> list[DocumentRecord]:
        return [document_record(r) for r in self._all(
            "SELECT * FROM documents WHERE stored AND duplicate_of IS NULL"
            " ORDER BY created_at DESC, document_id LIMIT %s OFFSET %s",
            (limit, offset))]

    # -- held files and quarantine (SQL in ``intake_records``) ----------------------------

    def pending_documents(self, limit: int = 100) -> list[DocumentRecord]:
        with self.transaction() as conn:
            return [document_record(r)
                    for r in intake_records.pending_documents(conn, limit)]

    def resolve_pending(self, document_id: uuid.UUID, *, status: DocStatus,
                        reason: Reason | None, detail: str | None, raw_key: str | None,
                        stored: bool, duplicate_of: uuid.UUID | None = None,
                        malware_signature: str | None = None) -> bool:
        with self.transaction() as conn:
            return intake_records.resolve_pending(
                conn, self.audit, document_id, status=status, reason=reason, detail=detail,
                raw_key=raw_key, stored=stored, duplicate_of=duplicate_of,
                malware_signature=malware_signature)

    def quarantined(self, *, limit: int, offset: int) -> list[DocumentRecord]:
        with self.transaction() as conn:
            return [document_record(r) for r in intake_records.quarantined(
                conn, limit=limit, offset=offset)]

    def release(self, document_id: uuid.UUID, *, actor: str,
                raw_key: str) -> DocumentRecord | None:
        with self.transaction() as conn:
            row = intake_records.release(conn, self.audit, document_id, actor=actor,
                                         raw_key=raw_key)
        return document_record(row) if row else None

    def purge(self, document_id: uuid.UUID, *, actor: str) -> DocumentRecord | None:
        with self.transaction() as conn:
            row = intake_records.purge(conn, self.audit, document_id, actor=actor)
        return document_record(row) if row else None

    # -- pipeline -------------------------------------------------------------------------

    def mark_processing(self, document_id: uuid.UUID) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE documents SET status = 'PROCESSING', updated_at = now()"
                " WHERE document_id = %s AND status = 'ACCEPTED'", (document_id,))

    def mark_failed(self, document_id: uuid.UUID, reason: Reason, detail: str,
                    doc: CanonicalDocument | None, timings: dict[str, float]) -> bool:
        """End the document FAILED; False (nothing written) when it left the pipeline
        meanwhile (erased while its job ran)."""
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE documents SET status = 'FAILED', reason = %s, detail = %s,"
                " parser = %s, parser_version = %s, parse_status = %s, timings = %s,"
                " updated_at = now() WHERE document_id = %s"
                " AND status IN ('ACCEPTED', 'PROCESSING')",
                (reason.value, detail[:2000], doc.parser if doc else None,
                 doc.parser_version if doc else None, doc.status.value if doc else None,
                 Jsonb(timings), document_id))
            if not cur.rowcount:
                return False
            self.audit.append_many(conn, [failed_event(document_id, reason, doc)])
            return True

    def record_policy(self, document_id: uuid.UUID, outcome: PolicyOutcome, *,
                      released: bool = False) -> bool:
        """Replace the document's findings and policy columns (idempotent on retry), under
        its pipeline lock. False (nothing written) when it was erased while its job ran."""
        with self.transaction() as conn:
            if not _lock_in_pipeline(conn, document_id):
                return False
            policy_store.write_policy(conn, self.audit, document_id, outcome,
                                      released=released)
        return True

    def refuse(self, document_id: uuid.UUID, status: DocStatus, reason: Reason,
               detail: str, timings: dict[str, float]) -> bool:
        """End the document REJECTED (PII_BLOCKED) or QUARANTINED (safety) — never indexed.
        False (nothing written) when the document was erased while its job ran."""
        with self.transaction() as conn:
            if not _lock_in_pipeline(conn, document_id):
                return False
            policy_store.write_refusal(conn, self.audit, document_id, status, reason,
                                       detail, timings)
        return True

    def save_chunks(self, document_id: uuid.UUID, doc: CanonicalDocument, canonical_key: str,
                    chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]],
                    model: ModelInfo, timings: dict[str, float]) -> bool:
        """Replace the document's elements and chunks (with vectors) in one transaction.

        The document's row is locked first and must still be in the pipeline: False
        (nothing written) when it was erased while its job ran, so a job never brings an
        erased document back (an erasure takes the same lock)."""
        with self.transaction() as conn:
            if not _lock_in_pipeline(conn, document_id):
                return False
            conn.execute("DELETE FROM chunks WHERE document_id = %s", (document_id,))
            conn.execute("DELETE FROM document_elements WHERE document_id = %s", (document_id,))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO document_elements (document_id, element_index, type, text,"
                    " level, heading_path, page, sheet, cells) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    [(document_id, e.index, e.type.value, e.text, e.level, list(e.heading_path),
                      e.page, e.sheet,
                      Jsonb([c.model_dump() for c in e.cells]) if e.cells else None)
                     for e in doc.elements],
                )
                cur.executemany(
                    "INSERT INTO chunks (chunk_id, document_id, ordinal, text, content_sha256,"
                    " heading_path, page, pages, sheet, element_indexes, token_count,"
                    " embedding_model, embedding) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
                    " ON CONFLICT (chunk_id) DO NOTHING",
                    [(c.chunk_id, document_id, c.ordinal, c.text, sha256_hex(c.text),
                      list(c.heading_path), c.page, list(c.pages), c.sheet,
                      list(c.element_indexes), c.token_count, model.name, list(v))
                     for c, v in zip(chunks, vectors, strict=True)],
                )
            conn.execute(
                "UPDATE documents SET stage = 'EMBEDDED', status = 'PROCESSING',"
                " canonical_key = %s, title = %s, parser = %s, parser_version = %s,"
                " parse_status = %s, page_count = %s, chunk_count = %s, timings = %s,"
                " updated_at = now() WHERE document_id = %s",
                (canonical_key, doc.title, doc.parser, doc.parser_version, doc.status.value,
                 doc.page_count, len(chunks), Jsonb(timings), document_id))
            self.audit.append_many(conn, saved_events(document_id, doc, chunks, model))
            return True

    def document_chunks(self, document_id: uuid.UUID) -> list[StoredChunk]:
        return [embedding_collections.stored_chunk(r)
                for r in self._all(
                "SELECT c.*, d.name AS document_name, d.batch_id, d.mime_type"
                " FROM chunks c JOIN documents d USING (document_id)"
                " WHERE c.document_id = %s ORDER BY c.ordinal", (document_id,))]

    def mark_indexed(self, document_id: uuid.UUID, points: int,
                     index_seconds: float) -> list[uuid.UUID] | None:
        """Mark the document INDEXED; older versions (same name, other bytes) are superseded
        and returned so their vectors can be removed. None when the document was not
        waiting to be indexed (e.g. erased meanwhile): the caller removes what it wrote."""
        with self.transaction() as conn:
            row = conn.execute(
                "UPDATE documents SET stage = 'INDEXED', status = 'INDEXED', updated_at = now(),"
                " timings = timings || jsonb_build_object('index', %s::float8)"
                " WHERE document_id = %s AND status = 'PROCESSING' RETURNING name, sha256",
                (round(index_seconds, 4), document_id)).fetchone()
            if row is None:
                return None
            old = conn.execute(
                "UPDATE documents SET superseded_by = %s, updated_at = now()"
                " WHERE name = %s AND sha256 <> %s AND stored AND status = 'INDEXED'"
                " AND superseded_by IS NULL AND document_id <> %s RETURNING document_id",
                (document_id, row["name"], row["sha256"], document_id)).fetchall()
            superseded = [r["document_id"] for r in old]
            self.audit.append_many(conn, [indexed_event(document_id, points, superseded)])
            for old_id in superseded:
                conn.execute("DELETE FROM chunks WHERE document_id = %s", (old_id,))
            return superseded

    def chunks_by_ids(self, chunk_ids: Sequence[str]) -> dict[str, ChunkText]:
        """Chunks of documents that are visible to search (INDEXED, not superseded)."""
        if not chunk_ids:
            return {}
        rows = self._all(
            "SELECT c.chunk_id, c.document_id, c.text, c.content_sha256, c.heading_path,"
            " c.page, c.sheet, d.name AS document_name FROM chunks c"
            " JOIN documents d USING (document_id)"
            " WHERE c.chunk_id = ANY(%s) AND d.status = 'INDEXED'"
            " AND d.superseded_by IS NULL", (list(chunk_ids),))
        return {r["chunk_id"]: ChunkText(
            chunk_id=r["chunk_id"], document_id=r["document_id"], text=r["text"],
            content_sha256=r["content_sha256"], heading_path=tuple(r["heading_path"]),
            page=r["page"], sheet=r["sheet"], document_name=r["document_name"])
            for r in rows}

    def all_indexed_documents(self) -> list[uuid.UUID]:
        rows = self._all(
            "SELECT document_id FROM documents WHERE status = 'INDEXED'"
            " AND superseded_by IS NULL ORDER BY created_at")
        return [r["document_id"] for r in rows]

    # -- consistency (``frostbyte doctor``) ------------------------------------------------

    def documents_naming_objects(self) -> list[DocumentRecord]:
        return [document_record(r) for r in self._all(
            "SELECT * FROM documents WHERE raw_key IS NOT NULL OR canonical_key IS NOT NULL"
            " ORDER BY created_at, document_id")]

    def projected_chunk_ids(self) -> dict[uuid.UUID, tuple[str, list[str]]]:
        rows = self._all(
            "SELECT d.document_id, d.stage, array_agg(c.chunk_id ORDER BY c.ordinal) AS ids"
            " FROM documents d JOIN chunks c USING (document_id)"
            " WHERE d.superseded_by IS NULL AND ((d.stage = 'EMBEDDED'"
            " AND d.status = 'PROCESSING') OR (d.stage = 'INDEXED' AND d.status = 'INDEXED'))"
            " GROUP BY d.document_id, d.stage")
        return {r["document_id"]: (r["stage"], list(r["ids"])) for r in rows}

    def requeue_document(self, document_id: uuid.UUID, *, actor: str) -> bool:
        with self.transaction() as conn:
            row = conn.execute("SELECT * FROM documents WHERE document_id = %s FOR UPDATE",
                               (document_id,)).fetchone()
            if row is None or not requeueable(before := document_record(row)):
                return False
            conn.execute("UPDATE documents SET status = 'ACCEPTED', stage = 'RECEIVED',"
                         " updated_at = now() WHERE document_id = %s", (document_id,))
            self.audit.append_many(conn, [requeued_event(before, actor)])
            return True

    def documents_with_waiting_jobs(self) -> set[uuid.UUID]:
        """From procrastinate's table in the same database: jobs to do (now or at a retry's
        time) or running."""
        rows = self._all(
            "SELECT DISTINCT args->>'document_id' AS document_id FROM procrastinate_jobs"
            " WHERE status IN ('todo', 'doing') AND args ? 'document_id'")
        return {uuid.UUID(r["document_id"]) for r in rows}

    # -- vector index identity ------------------------------------------------------------

    def recorded_index_model(self) -> IndexModelRecord | None:
        row = self._one("SELECT * FROM vector_index")
        if row is None:
            return None
        return IndexModelRecord(collection=row["collection"], model=row["model"],
                                version=row["version"], dimension=row["dimension"])

    def record_index_model(self, collection: str, model: ModelInfo) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO vector_index (collection, model, version, dimension)"
                " VALUES (%s,%s,%s,%s) ON CONFLICT (singleton) DO NOTHING",
                (collection, model.name, model.version, model.dimension))


    # -- re-embedding (EmbeddingCollections; SQL in embedding_collections) -----------------

    def start_reembed(self, reembed_id: uuid.UUID, collection: str, model: ModelInfo, *,
                      actor: str) -> ReembedRecord:
        with self._connection() as conn:
            return embedding_collections.start(conn, reembed_id, collection, model, actor)

    def reembed(self, reembed_id: uuid.UUID | None = None) -> ReembedRecord | None:
        with self.transaction() as conn:
            return embedding_collections.get(conn, reembed_id)

    def chunks_to_reembed(self, collection: str, limit: int) -> list[StoredChunk]:
        with self.transaction() as conn:
            return embedding_collections.chunks_to_reembed(conn, collection, limit)

    def chunks_with_vectors(self, collection: str, document_ids: Sequence[uuid.UUID]
                            ) -> list[StoredChunk]:
        with self.transaction() as conn:
            return embedding_collections.chunks_with_vectors(conn, collection, document_ids)

    def save_collection_vectors(self, reembed_id: uuid.UUID, collection: str, model: str,
                                vectors: Sequence[tuple[str, Sequence[float]]]) -> int:
        with self.transaction() as conn:
            return embedding_collections.save_vectors(conn, reembed_id, collection, model,
                                                      vectors)

    def count_reembed_total(self, reembed_id: uuid.UUID) -> int:
        with self.transaction() as conn:
            return embedding_collections.count_total(conn, reembed_id)

    def visible_chunk_ids(self) -> set[str]:
        with self.transaction() as conn:
            return embedding_collections.visible_chunk_ids(conn)

    def interrupted_reembeds(self) -> list[ReembedRecord]:
        with self.transaction() as conn:
            return embedding_collections.interrupted(conn)

    def switch_collection(self, reembed_id: uuid.UUID, collection: str,
                          model: ModelInfo) -> None:
        with self.transaction() as conn:
            embedding_collections.switch(conn, self.audit, reembed_id, collection, model)

    def fail_reembed(self, reembed_id: uuid.UUID, error: str) -> None:
        with self.transaction() as conn:
            embedding_collections.fail(conn, reembed_id, error)

    def replace_chunk_vectors(self, document_id: uuid.UUID, model: str,
                              vectors: Sequence[tuple[str, Sequence[float]]]) -> None:
        with self.transaction() as conn:
            embedding_collections.replace_vectors(conn, document_id, model, vectors)
