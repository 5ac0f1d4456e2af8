"""The consistency check behind ``frostbyte doctor`` (SPEC §5.4 "three stores, one truth"):
compare PostgreSQL with the object store and the vector index, report the drift, and —
asked to repair — fix from PostgreSQL what can be fixed (re-project or prune the index,
queue the job a document waits for, process a document again from its raw bytes), audited.

It runs in the process that owns the index (the API process in the embedded default, where
the control route calls it), through the ``IndexService`` and under its lock, so it never
writes the index beside the indexer. The rules of what is drift live in
:mod:`data_plane.domain.consistency`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from data_plane.domain.consistency import (
    INDEX_KINDS,
    OBJECT_PREFIXES,
    REPAIRED_EVENT,
    ConsistencyReport,
    Finding,
    Repair,
    index_findings,
    repaired_payload,
    store_findings,
    stuck_findings,
)
from data_plane.domain.ports import (
    ConsistencyRecords,
    JobQueue,
    ObjectStore,
    UnitOfWork,
    WaitingJobs,
)
from data_plane.domain.records import NewEvent
from data_plane.services.pipeline import IndexService


class ConsistencyStore(ConsistencyRecords, UnitOfWork, Protocol):
    """What the check needs of the system of record."""


class ConsistencyService:
    """Checks (and repairs) one tenant's three stores. ``settle_s``: a document in the
    pipeline counts as stuck only once unchanged that long (its jobs are queued right
    after its batch commits)."""

    def __init__(self, *, db: ConsistencyStore, jobs: WaitingJobs, store: ObjectStore,
                 indexer: IndexService, queue: JobQueue, tenant: str, settle_s: float = 60.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._db = db
        self._jobs = jobs
        self._store = store
        self._indexer = indexer
        self._queue = queue
        self._tenant = tenant
        self._settle = timedelta(seconds=settle_s)
        self._clock = clock

    def check(self, *, repair: bool = False, actor: str = "control-plane"
              ) -> ConsistencyReport:
        """Find the drift; with ``repair``, fix what can be fixed and record it in one
        ``consistency.repaired`` event (none when nothing was repaired)."""
        findings = self._index_findings() + self._other_findings()
        if not repair:
            return ConsistencyReport(tuple(findings))
        repaired = self._repair(findings, actor)
        seq = None
        if repaired:
            with self._db.atomic() as tx:
                seq = tx.append_audit(NewEvent(actor, REPAIRED_EVENT, "tenant", self._tenant,
                                               repaired_payload(repaired))).seq
        return ConsistencyReport(tuple(findings), frozenset(repaired), repair=True,
                                 audit_seq=seq)

    # -- checks ----------------------------------------------------------------------------

    def _index_findings(self) -> list[Finding]:
        """The index is read before PostgreSQL (see ``index_findings``)."""
        with self._indexer.lock:
            points = set(self._indexer.vector_index.point_ids())
        return index_findings(self._db.projected_chunk_ids(), points)

    def _other_findings(self) -> list[Finding]:
        waiting = self._jobs.documents_with_waiting_jobs()  # before the rows: see below
        rows = self._db.documents_naming_objects()
        keys = [k for prefix in OBJECT_PREFIXES for k in self._store.list(prefix)]
        # A job that ends between the two reads has moved its document (a newer
        # ``updated_at``), so it is not taken for stuck.
        settled_before = self._clock() - self._settle
        return store_findings(rows, keys) + stuck_findings(rows, waiting, keys,
                                                           settled_before=settled_before)

    # -- repairs ---------------------------------------------------------------------------

    def _repair(self, findings: list[Finding], actor: str) -> set[Finding]:
        """Apply every repair; the findings it fixed (the index ones re-checked)."""
        index = [f for f in findings if f.kind in INDEX_KINDS]
        if index:
            self._repair_index(index)
            still = set(self._index_findings())
            repaired = {f for f in index if f not in still}
        else:
            repaired = set()
        return repaired | self._requeue([f for f in findings if f.kind not in INDEX_KINDS],
                                        actor)

    def _repair_index(self, findings: list[Finding]) -> None:
        extra = [f.subject for f in findings if f.repair is Repair.DELETE_POINT]
        if extra:
            with self._indexer.lock:
                self._indexer.vector_index.delete_points(extra)
        missing = sorted({uuid.UUID(f.subject) for f in findings
                          if f.repair is Repair.REPROJECT})
        if missing:  # idempotent upserts of those documents' points from PostgreSQL
            self._indexer.reproject(missing)

    def _requeue(self, findings: list[Finding], actor: str) -> set[Finding]:
        """Process again the documents whose canonical JSON is gone (their raw bytes are
        there: the finding says so); queue the process job of the stuck ones — for a
        document already embedded, that job only queues its index job."""
        reprocess = {f.subject for f in findings if f.repair is Repair.REPROCESS}
        done = {document_id for document_id in sorted(reprocess)
                if self._db.requeue_document(uuid.UUID(document_id), actor=actor)}
        done |= {f.subject for f in findings
                 if f.repair is Repair.ENQUEUE and f.subject not in reprocess}
        for document_id in sorted(done):
            self._queue.enqueue_process(document_id)
        return {f for f in findings if f.repair is not None and f.subject in done}
