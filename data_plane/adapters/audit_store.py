"""The audit stream in PostgreSQL (schema ``audit``, see ``sql/004_audit.sql``).

Appends run inside the caller's transaction, so an event and the state change it records
commit together or not at all. Appends of one tenant are serialised by a transaction-scoped
advisory lock, held until the caller commits; the natural key ``(tenant, seq)`` is the
backstop.

Throughput is set by how long that lock is held (from the append to the caller's commit),
so nothing of an append waits on the client inside it: the client encodes each event's
canonical form (RFC 8785) around the link before it asks for the lock, and one statement,
sent in the same pipeline as the lock request, reads the head, fills in each link
(``"prev_hash":…,"seq":…``), hashes (``sha256``) and inserts — one round trip for any
number of events (``append_many``). The bytes hashed are exactly those ``verify_chain``
recomputes, so the chain is checked the same way whoever computed it.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

from data_plane.domain.records import EventFilter as EventFilter  # re-exported
from data_plane.domain.records import NewEvent as NewEvent  # re-exported
from frostbyte_common.audit_chain import (
    GENESIS_HASH,
    AuditEvent,
    ChainVerdict,
    canonical_parts,
    uuid7,
    verify_chain,
)
from frostbyte_common.audit_checkpoint import Checkpoint

Row = dict[str, Any]
Conn = psycopg.Connection[Row]
Connect = Callable[[], AbstractContextManager[Conn]]

_MAX_APPEND_ATTEMPTS = 8
_STREAM = ("SELECT tenant, seq, occurred_at, actor, event_type, subject_kind, subject_id,"
           " payload, prev_hash, hash, event_id::text FROM audit.events"
           " WHERE tenant = %s AND seq > %s")
# Under the lock: read the head, then chain, hash and insert the events in order (a
# recursive CTE: each link needs the hash before it). RETURNING tells the client each one's
# seq and hashes.
_APPEND = """
WITH RECURSIVE head AS (
    SELECT seq, hash FROM audit.events WHERE tenant = %(tenant)s ORDER BY seq DESC LIMIT 1
), item AS (
    SELECT * FROM unnest(
        %(event_id)s::uuid[], %(occurred_at)s::timestamptz[], %(actor)s::text[],
        %(event_type)s::text[], %(subject_kind)s::text[], %(subject_id)s::text[],
        %(payload)s::jsonb[], %(before)s::bytea[], %(after)s::bytea[])
        WITH ORDINALITY AS t(event_id, occurred_at, actor, event_type, subject_kind,
                             subject_id, payload, before, after, n)
), link AS (
    SELECT 0::bigint AS n, COALESCE((SELECT seq FROM head), 0) AS seq,
           COALESCE((SELECT hash FROM head), %(genesis)s) AS hash, ''::text AS prev_hash
    UNION ALL
    SELECT l.n + 1, l.seq + 1,
           encode(sha256(i.before || convert_to(
               '"prev_hash":"' || l.hash || '","seq":' || (l.seq + 1), 'UTF8') || i.after),
               'hex'),
           l.hash
    FROM link l JOIN item i ON i.n = l.n + 1
)
INSERT INTO audit.events (tenant, seq, event_id, occurred_at, actor, event_type,
                          subject_kind, subject_id, payload, prev_hash, hash)
SELECT %(tenant)s, l.seq, i.event_id, i.occurred_at, i.actor, i.event_type, i.subject_kind,
       i.subject_id, i.payload, l.prev_hash, l.hash
FROM link l JOIN item i ON i.n = l.n
ON CONFLICT (tenant, seq) DO NOTHING
RETURNING seq, prev_hash, hash
"""
# The same for one event, the common case, without the recursion (cheaper to plan and run).
_APPEND_ONE = """
WITH head AS (
    SELECT seq, hash FROM audit.events WHERE tenant = %(tenant)s ORDER BY seq DESC LIMIT 1
), link AS (
    SELECT COALESCE((SELECT seq FROM head), 0) + 1 AS seq,
           COALESCE((SELECT hash FROM head), %(genesis)s) AS prev_hash
)
INSERT INTO audit.events (tenant, seq, event_id, occurred_at, actor, event_type,
                          subject_kind, subject_id, payload, prev_hash, hash)
SELECT %(tenant)s, l.seq, %(event_id)s::uuid, %(occurred_at)s::timestamptz, %(actor)s,
       %(event_type)s, %(subject_kind)s, %(subject_id)s, %(payload)s::jsonb, l.prev_hash,
       encode(sha256(%(before)s::bytea || convert_to(
           '"prev_hash":"' || l.prev_hash || '","seq":' || l.seq, 'UTF8') || %(after)s::bytea),
           'hex')
FROM link l
ON CONFLICT (tenant, seq) DO NOTHING
RETURNING seq, prev_hash, hash
"""


class AuditAppendConflict(RuntimeError):
    """Another writer kept taking the next sequence number (never expected in practice)."""


def _lock_key(tenant: str) -> int:
    digest = hashlib.sha256(f"frostbyte.audit:{tenant}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


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
        #: told each appended event's type (the metrics; a transaction rolled back after
        #: the append is counted all the same)
        self.on_append: Callable[[Sequence[str]], None] | None = None

    @contextmanager
    def transaction(self) -> Iterator[Conn]:
        """A connection inside one transaction (committed on success)."""
        with self._connect() as conn, conn.transaction():
            yield conn

    # -- writes (inside the caller's transaction) ------------------------------------------

    def append(self, conn: Conn, *, actor: str, event_type: str, subject_kind: str,
               subject_id: str, payload: dict[str, Any]) -> AuditEvent:
        """Append one event to the chain inside the caller's transaction."""
        return self.append_many(conn, [NewEvent(actor, event_type, subject_kind, subject_id,
                                                payload)])[0]

    def append_many(self, conn: Conn, new: Sequence[NewEvent]) -> list[AuditEvent]:
        """Append events, in order, inside the caller's transaction: one lock acquisition
        and one round trip for all of them."""
        return self._append(conn, new, own_transaction=False)

    def append_committed(self, conn: Conn, new: Sequence[NewEvent]) -> list[AuditEvent]:
        """Append events in a transaction of their own on ``conn`` (idle, not inside one):
        BEGIN, the lock, the insert and COMMIT go in one round trip, so the lock is held only
        while the server works — for events that record no other change (a retrieval)."""
        return self._append(conn, new, own_transaction=True)

    def _append(self, conn: Conn, new: Sequence[NewEvent], *,
                own_transaction: bool) -> list[AuditEvent]:
        if not new:
            return []
        now = datetime.now(UTC)
        ids = [str(uuid7()) for _ in new]
        parts = [canonical_parts(tenant=self.tenant, occurred_at=now, actor=e.actor,
                                 event_type=e.event_type, subject_kind=e.subject_kind,
                                 subject_id=e.subject_id, payload=e.payload, event_id=event_id)
                 for e, event_id in zip(new, ids, strict=True)]
        params: dict[str, Any] = {
            "tenant": self.tenant, "genesis": GENESIS_HASH, "event_id": ids,
            "occurred_at": [now] * len(new), "actor": [e.actor for e in new],
            "event_type": [e.event_type for e in new],
            "subject_kind": [e.subject_kind for e in new],
            "subject_id": [e.subject_id for e in new],
            "payload": [Jsonb(e.payload) for e in new],
            "before": [b for b, _ in parts], "after": [a for _, a in parts],
        }
        statement = _APPEND
        if len(new) == 1:
            statement = _APPEND_ONE
            params = {k: (v[0] if isinstance(v, list) else v) for k, v in params.items()}
        for _ in range(_MAX_APPEND_ATTEMPTS):
            if own_transaction:
                cur = self._committed(conn, statement, params)
            else:
                with conn.pipeline():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
                    cur = conn.execute(statement, params)
            rows = sorted(cur.fetchall(), key=lambda r: r["seq"])
            if len(rows) == len(new):
                if self.on_append is not None:
                    self.on_append([e.event_type for e in new])
                return [AuditEvent(self.tenant, r["seq"], now, e.actor, e.event_type,
                                   e.subject_kind, e.subject_id, e.payload, r["prev_hash"],
                                   r["hash"], event_id)
                        for r, e, event_id in zip(rows, new, ids, strict=True)]
            if rows:  # only a writer that skips the lock could take some of the seqs
                break
        raise AuditAppendConflict(f"could not append to the audit chain of {self.tenant!r}")

    def _committed(self, conn: Conn, statement: str,
                   params: dict[str, Any]) -> psycopg.Cursor[Row]:
        # psycopg syncs the pipeline after the BEGIN and the COMMIT it issues itself (two
        # more round trips, one inside the lock): send our own, in autocommit mode.
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raise ValueError("append_committed needs a connection outside any transaction")
        autocommit = conn.autocommit
        conn.autocommit = True
        try:
            with conn.pipeline():
                conn.execute("BEGIN")
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
                cur = conn.execute(statement, params)
                conn.execute("COMMIT")
            return cur
        except BaseException:
            if not conn.closed and (conn.info.transaction_status
                                    != psycopg.pq.TransactionStatus.IDLE):
                conn.execute("ROLLBACK")
            raise
        finally:
            if not conn.closed:
                conn.autocommit = autocommit

    def record(self, event: NewEvent) -> AuditEvent:
        """Append one event in a transaction of its own (an event that records no other
        change)."""
        with self.transaction() as conn:
            return self.append_many(conn, [event])[0]

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
                    until_seq: int | None = None, page: int = 10_000) -> Iterator[AuditEvent]:
        """Events in chain order, streamed from one server-side cursor (``page`` rows per
        fetch) in one snapshot — for verify and export, whatever the chain's length."""
        query = _STREAM + ("" if until_seq is None else " AND seq <= %s") + " ORDER BY seq"
        params: list[Any] = [self.tenant, after_seq]
        if until_seq is not None:
            params.append(until_seq)
        if limit is not None:
            query += " LIMIT %s"
            params.append(limit)
        with self._connect() as conn, conn.transaction(), conn.cursor(
                name="audit_stream", row_factory=tuple_row) as cur:
            conn.execute("SET LOCAL TIME ZONE 'UTC'")  # timestamps arrive in UTC already
            cur.itersize = page
            cur.execute(query, params)
            for r in cur:
                occurred_at = r[2]
                if occurred_at.tzinfo is not UTC:
                    occurred_at = occurred_at.astimezone(UTC)
                yield AuditEvent(r[0], r[1], occurred_at, r[3], r[4], r[5], r[6], r[7], r[8],
                                 r[9], r[10])

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


def _verify_range(conninfo: str, tenant: str, after: int,
                  until: int) -> tuple[str, ChainVerdict]:
    """One process's share of ``verify_in_processes``: events ``after < seq <= until`` on
    a connection of its own, recomputed from the stored hash of event ``after``."""
    store = AuditStore(tenant, lambda: connect_rows(conninfo))
    start = GENESIS_HASH
    if after:
        before = store.events(after_seq=after - 1, limit=1)
        if not before or before[0].seq != after:
            return start, ChainVerdict(False, 0, start, after, f"event {after} is missing")
        start = before[0].hash
    return start, verify_chain(store.iter_events(after_seq=after, until_seq=until),
                               start_seq=after + 1, start_hash=start)


def verify_in_processes(conninfo: str, tenant: str, size: int,
                        workers: int) -> ChainVerdict:
    """Verify the chain's first ``size`` events in ``workers`` processes, each reading and
    recomputing a contiguous range (reading and hashing are both CPU-bound in Python, so
    threads would not help). Range k must start from the hash that range k-1 ends with and
    every range must verify whole: the verdict of one pass, with its first problem found
    per range rather than overall — and, told ``size``, a cut tail too. Processes are
    forked where the platform allows: call it from a tool or a job, not from inside a
    threaded server."""
    workers = max(1, min(workers, size))
    bounds = [size * k // workers for k in range(workers + 1)]
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(max_workers=workers,
                             mp_context=multiprocessing.get_context(method)) as pool:
        parts = list(pool.map(_verify_range, [conninfo] * workers, [tenant] * workers,
                              bounds[:-1], bounds[1:]))
    head, count = GENESIS_HASH, 0
    for (start, verdict), lo, hi in zip(parts, bounds[:-1], bounds[1:], strict=True):
        if not verdict.ok:
            return ChainVerdict(False, count + verdict.events, verdict.head_hash,
                                verdict.first_bad_seq, verdict.problem)
        if start != head:
            return ChainVerdict(False, count, head, lo + 1,
                                "prev_hash does not link to the previous event's hash")
        if verdict.events != hi - lo:
            return ChainVerdict(False, count + verdict.events, verdict.head_hash,
                                lo + verdict.events + 1, "events missing at the end")
        head, count = verdict.head_hash, count + verdict.events
    return ChainVerdict(True, count, head)


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
