"""The audit stream in PostgreSQL (schema ``audit``, see ``sql/004_audit.sql``).

Appends run inside the caller's transaction, so an event and the state change it records
commit together or not at all. Appends of one tenant are serialised by a transaction-scoped
advisory lock; the natural key ``(tenant, seq)`` is the backstop: an append that loses a
race anyway (``ON CONFLICT DO NOTHING`` returns no row) reads the new head and retries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from frostbyte_common.audit_chain import GENESIS_HASH, AuditEvent, next_event
from frostbyte_common.audit_checkpoint import Checkpoint

Row = dict[str, Any]
Conn = psycopg.Connection[Row]
Connect = Callable[[], AbstractContextManager[Conn]]

_MAX_APPEND_ATTEMPTS = 8
_HEAD = "SELECT seq, hash FROM audit.events WHERE tenant = %s ORDER BY seq DESC LIMIT 1"


class AuditAppendConflict(RuntimeError):
    """Another writer kept taking the next sequence number (never expected in practice)."""


def _lock_key(tenant: str) -> int:
    digest = hashlib.sha256(f"frostbyte.audit:{tenant}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Query of ``GET /v1/audit/events``; every field narrows the result."""

    document_id: str | None = None
    batch_id: str | None = None
    event_type: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int = 0
    limit: int = 100


def _event(r: Row) -> AuditEvent:
    return AuditEvent(r["tenant"], r["seq"], r["occurred_at"].astimezone(UTC), r["actor"],
                      r["event_type"], r["subject_kind"], r["subject_id"], r["payload"],
                      r["prev_hash"], r["hash"], str(r["event_id"]))


def _checkpoint(r: Row) -> Checkpoint:
    return Checkpoint(tenant=r["tenant"], tree_size=r["tree_size"], root_hash=r["root_hash"],
                      signed_at=r["signed_at"].astimezone(UTC), key_id=r["key_id"],
                      public_key=r["public_key"], signature=r["signature"])


class AuditStore:
    """One tenant's audit events and checkpoints."""

    def __init__(self, tenant: str, connect: Connect) -> None:
        self.tenant = tenant
        self._connect = connect
        self._lock_key = _lock_key(tenant)

    @contextmanager
    def transaction(self) -> Iterator[Conn]:
        """A connection inside one transaction (committed on success)."""
        with self._connect() as conn, conn.transaction():
            yield conn

    # -- writes (inside the caller's transaction) ------------------------------------------

    def append(self, conn: Conn, *, actor: str, event_type: str, subject_kind: str,
               subject_id: str, payload: dict[str, Any]) -> AuditEvent:
        """Append one event to the chain inside the caller's transaction."""
        # One round trip for both: in a pipeline the statements still run in order, and the
        # head is read by a statement that starts (takes its snapshot) after the lock is held.
        with conn.pipeline():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
            cur = conn.execute(_HEAD, (self.tenant,))
        for _ in range(_MAX_APPEND_ATTEMPTS):
            head = cur.fetchone()
            event = next_event(tenant=self.tenant, seq=(head["seq"] + 1) if head else 1,
                               prev_hash=head["hash"] if head else GENESIS_HASH, actor=actor,
                               event_type=event_type, subject_kind=subject_kind,
                               subject_id=subject_id, payload=payload)
            inserted = conn.execute(
                "INSERT INTO audit.events (tenant, seq, event_id, occurred_at, actor,"
                " event_type, subject_kind, subject_id, payload, prev_hash, hash)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
                " ON CONFLICT (tenant, seq) DO NOTHING RETURNING seq",
                (event.tenant, event.seq, event.event_id, event.occurred_at, event.actor,
                 event.event_type, event.subject_kind, event.subject_id, Jsonb(event.payload),
                 event.prev_hash, event.hash)).fetchone()
            if inserted is not None:
                return event
            cur = conn.execute(_HEAD, (self.tenant,))
        raise AuditAppendConflict(f"could not append to the audit chain of {self.tenant!r}")

    def add_checkpoint(self, checkpoint: Checkpoint) -> bool:
        """Store a signed checkpoint; False if one of that size exists already."""
        with self._connect() as conn, conn.transaction():
            row = conn.execute(
                "INSERT INTO audit.checkpoints (tenant, tree_size, root_hash, signed_at, key_id,"
                " public_key, signature) VALUES (%s,%s,%s,%s,%s,%s,%s)"
                " ON CONFLICT DO NOTHING RETURNING tree_size",
                (checkpoint.tenant, checkpoint.tree_size, checkpoint.root_hash,
                 checkpoint.signed_at, checkpoint.key_id, checkpoint.public_key,
                 checkpoint.signature)).fetchone()
        return row is not None

    # -- reads ------------------------------------------------------------------------------

    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the newest event; ``(0, GENESIS_HASH)`` for an empty chain."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT seq, hash FROM audit.events WHERE tenant = %s"
                " ORDER BY seq DESC LIMIT 1", (self.tenant,)).fetchone()
        return (row["seq"], row["hash"]) if row else (0, GENESIS_HASH)

    def events(self, *, after_seq: int = 0, limit: int | None = None) -> list[AuditEvent]:
        """Events in chain order after ``after_seq``."""
        return list(self.iter_events(after_seq=after_seq, limit=limit))

    def iter_events(self, *, after_seq: int = 0, limit: int | None = None,
                    until_seq: int | None = None, page: int = 5000) -> Iterator[AuditEvent]:
        """Events in chain order, read page by page (for verify and export)."""
        last = after_seq
        left = limit
        while left is None or left > 0:
            size = page if left is None else min(page, left)
            bound = "" if until_seq is None else " AND seq <= %s"
            params: list[Any] = [self.tenant, last]
            if until_seq is not None:
                params.append(until_seq)
            params.append(size)
            with self._connect() as conn:
                rows = conn.execute(
                    "SELECT * FROM audit.events WHERE tenant = %s AND seq > %s" + bound +
                    " ORDER BY seq LIMIT %s", params).fetchall()
            for r in rows:
                yield _event(r)
            if len(rows) < size:
                return
            last = rows[-1]["seq"]
            if left is not None:
                left -= len(rows)

    def query(self, f: EventFilter) -> list[AuditEvent]:
        """Events matching every given filter, in chain order, one page."""
        where = [sql.SQL("tenant = %s"), sql.SQL("seq > %s")]
        params: list[Any] = [self.tenant, f.after_seq]
        if f.document_id:
            where.append(sql.SQL("((subject_kind = 'document' AND subject_id = %s)"
                                 " OR payload->>'document_id' = %s)"))
            params += [f.document_id, f.document_id]
        if f.batch_id:
            where.append(sql.SQL("((subject_kind = 'batch' AND subject_id = %s)"
                                 " OR payload->>'batch_id' = %s)"))
            params += [f.batch_id, f.batch_id]
        if f.event_type:
            where.append(sql.SQL("event_type = %s"))
            params.append(f.event_type)
        if f.actor:
            where.append(sql.SQL("actor = %s"))
            params.append(f.actor)
        if f.since:
            where.append(sql.SQL("occurred_at >= %s"))
            params.append(f.since)
        if f.until:
            where.append(sql.SQL("occurred_at < %s"))
            params.append(f.until)
        query = (sql.SQL("SELECT * FROM audit.events WHERE ") + sql.SQL(" AND ").join(where)
                 + sql.SQL(" ORDER BY seq LIMIT %s"))
        params.append(f.limit)
        with self._connect() as conn:
            return [_event(r) for r in conn.execute(query, params).fetchall()]

    def leaf_hashes(self, tree_size: int) -> list[str]:
        """The event hashes of seq 1..tree_size (the Merkle tree's leaves, in order)."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT hash FROM audit.events WHERE tenant = %s AND seq <= %s ORDER BY seq",
                (self.tenant, tree_size)).fetchall()
        return [r["hash"] for r in rows]

    def latest_checkpoint(self) -> Checkpoint | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT * FROM audit.checkpoints WHERE tenant = %s"
                " ORDER BY tree_size DESC LIMIT 1", (self.tenant,)).fetchone()
        return _checkpoint(row) if row else None

    def checkpoint(self, tree_size: int) -> Checkpoint | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT * FROM audit.checkpoints WHERE tenant = %s AND tree_size = %s",
                (self.tenant, tree_size)).fetchone()
        return _checkpoint(row) if row else None

    def checkpoints(self) -> list[Checkpoint]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM audit.checkpoints WHERE tenant = %s ORDER BY tree_size",
                (self.tenant,)).fetchall()
        return [_checkpoint(r) for r in rows]


def grant_service_role(conn: psycopg.Connection[Any], role: str) -> None:
    """Privileges of the service role after a migration run as the owning (migration) role:
    the audit schema is INSERT and SELECT only; the other tables are read-write (no DDL)."""
    ident = sql.Identifier(role)
    for statement in (
        "GRANT USAGE ON SCHEMA audit TO {}",
        "GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA audit TO {}",
        "REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA audit"
        " FROM {}",
        "GRANT USAGE ON SCHEMA public TO {}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}",
        "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {}",
        "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {}",
    ):
        conn.execute(sql.SQL(statement).format(ident))


def connect_rows(conninfo: str) -> AbstractContextManager[Conn]:
    """A one-off dict-row connection (tests, bench, tools)."""
    return psycopg.connect(conninfo, row_factory=dict_row)
