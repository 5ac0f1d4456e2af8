"""What a fault round leaves behind, read from the system of record and the vector index, and
the invariants a vendor relies on: nothing lost, nothing twice, nothing half-indexed, nothing
stuck.

``read_ledger`` reads PostgreSQL (the API may still run); ``index_points`` reads the index
through the data plane's own wiring, once the API that owns the embedded index has stopped.
``problems`` is pure.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field

import psycopg
from psycopg.rows import dict_row

from data_plane.domain.intake import DocStatus
from data_plane.domain.ports import VectorIndex

#: Where a document may end; anything else is still in the pipeline.
TERMINAL = frozenset({DocStatus.INDEXED, DocStatus.FAILED, DocStatus.REJECTED,
                      DocStatus.QUARANTINED, DocStatus.PURGED})


@dataclass(frozen=True, slots=True)
class DocRow:
    document_id: uuid.UUID
    batch_id: uuid.UUID
    name: str
    status: str
    reason: str | None
    detail: str | None
    stage: str
    chunk_count: int | None
    canonical_key: str | None
    parent_document_id: uuid.UUID | None


@dataclass
class Ledger:
    """The tenant database at the end of a round."""

    documents: list[DocRow]
    #: idempotency key → batch ids recorded under it (one, or the re-send made a second)
    batches_by_key: dict[str, list[uuid.UUID]]
    chunks: Counter[uuid.UUID]
    indexed_events: Counter[str]
    open_jobs: Counter[str] = field(default_factory=Counter)

    def uploads(self) -> list[DocRow]:
        """Rows of uploaded files (an e-mail's attachments are rows of their own)."""
        return [d for d in self.documents if d.parent_document_id is None]

    def by_status(self) -> dict[str, int]:
        return dict(Counter(d.status for d in self.documents))


def read_ledger(database_url: str) -> Ledger:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        docs = [DocRow(**r) for r in conn.execute(
            "SELECT document_id, batch_id, name, status, reason, detail, stage, chunk_count,"
            " canonical_key, parent_document_id FROM documents ORDER BY batch_id, ordinal")]
        batches: dict[str, list[uuid.UUID]] = {}
        for r in conn.execute("SELECT batch_id, idempotency_key FROM batches"):
            batches.setdefault(r["idempotency_key"] or "", []).append(r["batch_id"])
        chunks = Counter({r["document_id"]: int(r["n"]) for r in conn.execute(
            "SELECT document_id, count(*) AS n FROM chunks GROUP BY document_id")})
        events = Counter({str(r["subject_id"]): int(r["n"]) for r in conn.execute(
            "SELECT subject_id, count(*) AS n FROM audit.events"
            " WHERE event_type = 'document.indexed' GROUP BY subject_id")})
        jobs = Counter({f"{r['queue_name']}:{r['status']}": int(r["n"]) for r in conn.execute(
            "SELECT queue_name, status::text AS status, count(*) AS n FROM procrastinate_jobs"
            " WHERE status IN ('todo', 'doing') AND task_name <> 'frostbyte.rescan_held_files'"
            " AND task_name <> 'frostbyte.recover_stalled_jobs'"
            " GROUP BY queue_name, status")})
    return Ledger(docs, batches, chunks, events, jobs)


def index_points(index: VectorIndex, document_ids: list[str]) -> tuple[Counter[str], int]:
    """Points per document (of ``document_ids``) and in all, as the data plane's own index
    reads them (opened once the API that owns it has stopped); the index is closed."""
    try:
        return Counter({doc: index.count(doc) for doc in document_ids}), index.count()
    finally:
        index.close()


def problems(ledger: Ledger, sent: dict[str, list[str]], points: Counter[str],
             must_index: set[str], total_points: int | None = None) -> dict[str, list[str]]:
    """Pure: every broken promise, by kind (empty lists: none).

    ``sent``: idempotency key → names of the files uploaded under it; ``points``: index
    points per INDEXED document id, ``total_points`` all the index holds (default: their
    sum); ``must_index``: names of files that must end INDEXED (the generated ones: any
    other end is a loss)."""
    found: dict[str, list[str]] = {"lost": [], "duplicated": [], "half_indexed": [],
                                   "stuck": []}
    uploads = ledger.uploads()
    by_batch: dict[uuid.UUID, list[DocRow]] = {}
    for d in uploads:
        by_batch.setdefault(d.batch_id, []).append(d)
    for key, names in sent.items():
        batch_ids = ledger.batches_by_key.get(key, [])
        if len(batch_ids) != 1:
            found["lost" if not batch_ids else "duplicated"].append(
                f"upload {key}: {len(batch_ids)} batches recorded")
            continue
        rows = Counter(d.name for d in by_batch.get(batch_ids[0], []))
        found["lost"] += [f"{n}: no row" for n in names if rows[n] == 0]
        found["duplicated"] += [f"{n}: {c} rows" for n, c in rows.items() if c > 1]
    names_everywhere = Counter(d.name for d in uploads)
    found["duplicated"] += [f"{n}: {c} rows across batches"
                            for n, c in names_everywhere.items() if c > 1]
    for d in ledger.documents:
        _check_document(d, ledger, points, must_index, found)
    indexed = {str(d.document_id) for d in ledger.documents if d.status == DocStatus.INDEXED}
    stray = (sum(points.values()) if total_points is None else total_points) - sum(
        points[doc] for doc in indexed)
    if stray:
        found["half_indexed"].append(f"{stray} index points belong to no INDEXED document")
    found["stuck"] += [f"{n} jobs {what}" for what, n in ledger.open_jobs.items()]
    return found


def _check_document(d: DocRow, ledger: Ledger, points: Counter[str], must_index: set[str],
                    found: dict[str, list[str]]) -> None:
    doc = str(d.document_id)
    label = f"{d.name} ({doc})"
    if DocStatus(d.status) not in TERMINAL:
        found["stuck"].append(f"{label}: {d.status}/{d.stage} {d.reason or ''}")
        return
    if d.name in must_index and d.status != DocStatus.INDEXED:
        found["lost"].append(f"{label}: ended {d.status} {d.reason}: {(d.detail or '')[:200]}")
    if d.status != DocStatus.INDEXED:
        return
    chunks = ledger.chunks[d.document_id]
    if not chunks or chunks != d.chunk_count or points[doc] != chunks:
        found["half_indexed"].append(
            f"{label}: INDEXED with chunk_count={d.chunk_count}, {chunks} chunk rows, "
            f"{points[doc]} points")
    if not d.canonical_key:
        found["half_indexed"].append(f"{label}: INDEXED without a canonical object key")
    events = ledger.indexed_events[doc]
    if events != 1:
        found["duplicated" if events > 1 else "half_indexed"].append(
            f"{label}: {events} document.indexed events")
