"""``frostbyte doctor``'s check on the in-memory tenant database, a filesystem object store
and an in-memory index: every kind of drift made on purpose is found and named; a repair
re-projects and prunes the index, queues or re-processes what can be, reports what cannot,
and is audited once — a clean tenant, or a plain check, appends nothing."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from data_plane.adapters.objectstore_fs import FilesystemObjectStore
from data_plane.domain.canonical import CanonicalDocument, Element, ElementType, ParseStatus
from data_plane.domain.chunking import ChunkingOptions, chunk_document
from data_plane.domain.consistency import DriftKind, Finding, Repair, index_findings
from data_plane.domain.intake import DocStatus, Reason
from data_plane.domain.object_keys import canonical_key, pending_key, point_id_for, raw_key
from data_plane.domain.ports import IndexFilter, IndexHit, IndexPoint, ModelInfo
from data_plane.domain.records import NewDocument
from data_plane.services.consistency import ConsistencyService
from data_plane.services.pipeline import IndexService
from frostbyte_common.audit_chain import verify_chain
from tests.doubles.jobs import RecordingQueue
from tests.doubles.persistence import InMemoryTenantDatabase
from tests.pipeline_doubles import HashEmbedder


class MemoryIndex:
    """A ``VectorIndex`` in a dict, with the two calls the check uses."""

    def __init__(self) -> None:
        self.points: dict[str, IndexPoint] = {}

    def ensure(self, model: ModelInfo) -> None:
        pass

    def upsert(self, model: ModelInfo, points: Sequence[IndexPoint]) -> None:
        self.points.update({p.point_id: p for p in points})

    def delete_document(self, document_id: str) -> int:
        gone = [k for k, p in self.points.items() if p.payload["document_id"] == document_id]
        for k in gone:
            del self.points[k]
        return len(gone)

    def search(self, model: ModelInfo, vector: list[float], top_k: int,
               flt: IndexFilter | None = None) -> list[IndexHit]:
        raise NotImplementedError  # not the subject here

    def count(self, document_id: str | None = None) -> int:
        return sum(1 for p in self.points.values()
                   if document_id is None or p.payload["document_id"] == document_id)

    def close(self) -> None:
        pass

    def point_ids(self) -> Iterator[str]:
        return iter(sorted(self.points))

    def delete_points(self, point_ids: Sequence[str]) -> int:
        return sum(1 for p in point_ids if self.points.pop(p, None) is not None)


@dataclass
class WaitingQueue(RecordingQueue):
    """Jobs queued and not run yet: what the check asks the queue tables for."""

    ran: set[str] = field(default_factory=set)

    def documents_with_waiting_jobs(self) -> set[uuid.UUID]:
        return {uuid.UUID(d) for d in self.process_jobs + self.index_jobs if d not in self.ran}


@dataclass
class Tenant:
    db: InMemoryTenantDatabase
    store: FilesystemObjectStore
    index: MemoryIndex
    indexer: IndexService
    queue: WaitingQueue
    now: datetime

    def service(self) -> ConsistencyService:
        return ConsistencyService(db=self.db, jobs=self.queue, store=self.store,
                                  indexer=self.indexer, queue=self.queue, tenant="acme",
                                  settle_s=60, clock=lambda: self.now)

    def received(self, text: str, *, status: DocStatus = DocStatus.ACCEPTED,
                 reason: Reason | None = None) -> uuid.UUID:
        """A file through intake: its raw object stored, its row recorded."""
        data = text.encode()
        sha = hashlib.sha256(data).hexdigest()
        document_id = uuid.uuid4()
        key = pending_key(document_id) if reason is Reason.SCAN_PENDING else raw_key(sha)
        self.store.put_bytes(key, data)
        self.db.record_batch(batch_id=uuid.uuid4(), client_ref="ref", idempotency_key=None,
                             key_id="k1", documents=[NewDocument(
                                 document_id=document_id, ordinal=0, name=f"{text}.txt",
                                 sha256=sha, declared_sha256=sha, size=len(data),
                                 declared_type=None, mime_type="text/plain", metadata={},
                                 status=status, reason=reason, stored=True,
                                 duplicate_of=None, raw_key=key)])
        return document_id

    def indexed(self, text: str) -> uuid.UUID:
        """A file the pipeline took all the way: canonical JSON, chunks, points."""
        document_id = self.received(text)
        self.db.mark_processing(document_id)
        doc = CanonicalDocument(
            document_id=str(document_id), tenant="acme", source_sha256="0" * 64,
            source_name=f"{text}.txt", mime_type="text/plain", parser="double",
            parser_version="1", status=ParseStatus.SUCCESS, page_count=1,
            elements=(Element(index=0, type=ElementType.PARAGRAPH, text=text),))
        chunks = chunk_document(doc, ChunkingOptions(max_tokens=4, overlap_tokens=0),
                                lambda s: len(s.split()))
        key = canonical_key(str(document_id))
        self.store.put_bytes(key, doc.to_json().encode())
        assert self.db.save_chunks(
            document_id, doc, key, chunks,
            HashEmbedder().embed_documents([c.text for c in chunks]), HashEmbedder.model, {})
        assert self.indexer.index(str(document_id)) == len(chunks) > 1
        return document_id


@pytest.fixture
def tenant(tmp_path: Path) -> Tenant:
    db = InMemoryTenantDatabase("acme")
    index = MemoryIndex()
    indexer = IndexService(db=db, index=index, embedder=HashEmbedder(), collection="c")
    # the settle time has passed for every row written so far
    return Tenant(db, FilesystemObjectStore(tmp_path / "objects"), index, indexer,
                  WaitingQueue(), datetime.now(UTC) + timedelta(hours=1))


def by_kind(findings: Sequence[Finding]) -> dict[DriftKind, set[str]]:
    found: dict[DriftKind, set[str]] = {kind: set() for kind in DriftKind}
    for f in findings:
        found[f.kind].add(f.subject)
    return found


def test_a_consistent_tenant_is_clean_and_its_repair_appends_nothing(tenant: Tenant) -> None:
    tenant.indexed("alpha beta gamma delta epsilon zeta eta")
    held = tenant.received("held for its scan", status=DocStatus.PROCESSING,
                           reason=Reason.SCAN_PENDING)
    tenant.queue.enqueue_process(str(tenant.received("just queued")))
    head = tenant.db.audit_head()

    report = tenant.service().check()
    assert report.clean, report.findings
    assert [k["found"] for k in report.to_json()["kinds"]] == [0] * len(DriftKind)

    repaired = tenant.service().check(repair=True, actor="admin:ops")
    assert repaired.clean and repaired.audit_seq is None
    assert tenant.db.audit_head() == head
    assert tenant.db.get_document(held) is not None


def test_every_kind_of_drift_is_found_and_a_check_alone_changes_nothing(
        tenant: Tenant) -> None:
    unindexed = tenant.indexed("one two three four five six seven eight")
    bytes_gone = tenant.indexed("nine ten eleven twelve thirteen fourteen")
    canonical_gone = tenant.indexed("fifteen sixteen seventeen eighteen nineteen twenty")
    stuck = tenant.received("stuck with no job")
    tenant.index.delete_document(str(unindexed))
    doc = tenant.db.get_document(bytes_gone)
    assert doc is not None and doc.raw_key is not None
    tenant.store.delete(doc.raw_key)
    tenant.store.delete(canonical_key(str(canonical_gone)))
    stray = point_id_for("a chunk nobody has")
    tenant.index.upsert(HashEmbedder.model, [IndexPoint(stray, [1.0] * 16,
                                                        {"document_id": "gone"})])
    orphan = raw_key("ab" * 32)
    tenant.store.put_bytes(orphan, b"left behind")
    head = tenant.db.audit_head()

    report = tenant.service().check()

    assert by_kind(report.findings) == {
        DriftKind.OBJECTS_WITHOUT_ROWS: {orphan},
        DriftKind.ROWS_WITHOUT_OBJECTS: {str(bytes_gone), str(canonical_gone)},
        DriftKind.MISSING_FROM_INDEX: {str(unindexed)},
        DriftKind.EXTRA_IN_INDEX: {stray},
        DriftKind.STUCK: {str(stuck)},
    }
    details = {f.subject: f.detail for f in report.findings
               if f.kind is DriftKind.ROWS_WITHOUT_OBJECTS}
    assert details[str(bytes_gone)].startswith(f"raw object {doc.raw_key} is missing")
    assert details[str(canonical_gone)].startswith("canonical object")
    assert not report.clean
    # a check is read-only: nothing appended, the index untouched, nothing queued
    assert tenant.db.audit_head() == head
    assert tenant.index.count(str(unindexed)) == 0 and stray in tenant.index.points
    assert tenant.queue.process_jobs == []


def test_a_repair_fixes_what_postgresql_can_and_reports_the_rest(tenant: Tenant) -> None:
    unindexed = tenant.indexed("one two three four five six seven eight")
    bytes_gone = tenant.indexed("nine ten eleven twelve thirteen fourteen")
    canonical_gone = tenant.indexed("fifteen sixteen seventeen eighteen nineteen twenty")
    stuck = tenant.received("stuck with no job")
    expected_points = tenant.index.count(str(unindexed))
    tenant.index.delete_document(str(unindexed))
    doc = tenant.db.get_document(bytes_gone)
    assert doc is not None and doc.raw_key is not None
    tenant.store.delete(doc.raw_key)
    tenant.store.delete(canonical_key(str(canonical_gone)))
    stray = point_id_for("a chunk nobody has")
    tenant.index.upsert(HashEmbedder.model, [IndexPoint(stray, [1.0] * 16,
                                                        {"document_id": "gone"})])
    orphan = raw_key("ab" * 32)
    tenant.store.put_bytes(orphan, b"left behind")

    report = tenant.service().check(repair=True, actor="admin:ops")

    # the index is a projection of PostgreSQL again
    assert tenant.index.count(str(unindexed)) == expected_points
    assert stray not in tenant.index.points
    # the stuck document and the one without canonical JSON go through the pipeline again
    assert sorted(tenant.queue.process_jobs) == sorted([str(stuck), str(canonical_gone)])
    again = tenant.db.get_document(canonical_gone)
    assert again is not None and (again.status, again.stage) == (DocStatus.ACCEPTED,
                                                                 "RECEIVED")
    # what no repair can bring back is reported, and untouched
    assert by_kind(report.remaining) == {
        DriftKind.OBJECTS_WITHOUT_ROWS: {orphan},
        DriftKind.ROWS_WITHOUT_OBJECTS: {str(bytes_gone)},
        DriftKind.MISSING_FROM_INDEX: set(), DriftKind.EXTRA_IN_INDEX: set(),
        DriftKind.STUCK: set()}
    assert not report.clean
    assert tenant.store.exists(orphan)
    kinds = {k["kind"]: (k["found"], k["repaired"], k["remaining"])
             for k in report.to_json()["kinds"]}
    assert kinds == {"objects_without_rows": (1, 0, 1), "rows_without_objects": (2, 1, 1),
                     "chunks_missing_from_index": (1, 1, 0), "points_extra_in_index": (1, 1, 0),
                     "documents_stuck": (1, 1, 0)}
    # audited: the document sent back, then one event with what was repaired
    events = tenant.db.audit_events()
    assert [e.event_type for e in events[-2:]] == ["document.requeued", "consistency.repaired"]
    assert events[-2].subject_id == str(canonical_gone) and events[-2].actor == "admin:ops"
    assert events[-2].payload["status"] == "INDEXED"
    repaired = events[-1]
    assert report.audit_seq == repaired.seq and repaired.actor == "admin:ops"
    assert repaired.payload["counts"] == {"delete_point": 1, "enqueue": 1, "reproject": 1,
                                          "reprocess": 1}
    assert repaired.payload["ids"]["reproject"] == [str(unindexed)]
    assert verify_chain(events).ok


def test_a_document_is_stuck_only_without_a_job_once_settled(tenant: Tenant) -> None:
    queued = tenant.received("queued")
    tenant.queue.enqueue_process(str(queued))
    tenant.received("held", status=DocStatus.PROCESSING, reason=Reason.SCAN_PENDING)
    forgotten = tenant.received("forgotten")
    tenant.queue.ran.add(str(queued))  # its job ran and failed for good: stuck now
    service = tenant.service()

    assert by_kind(service.check().findings)[DriftKind.STUCK] == {str(queued), str(forgotten)}

    tenant.now = datetime.now(UTC) - timedelta(seconds=30)  # written 30 s ago: not yet
    assert by_kind(tenant.service().check().findings)[DriftKind.STUCK] == set()


def test_a_stuck_document_without_its_bytes_is_reported_not_requeued(tenant: Tenant) -> None:
    stuck = tenant.received("bytes lost before processing")
    doc = tenant.db.get_document(stuck)
    assert doc is not None and doc.raw_key is not None
    tenant.store.delete(doc.raw_key)

    report = tenant.service().check(repair=True, actor="admin:ops")

    assert {(f.kind, f.repair) for f in report.remaining} == {
        (DriftKind.STUCK, None), (DriftKind.ROWS_WITHOUT_OBJECTS, None)}
    assert tenant.queue.process_jobs == [] and report.audit_seq is None


def test_points_of_a_document_being_indexed_are_not_extra() -> None:
    embedded, indexed = uuid.uuid4(), uuid.uuid4()
    projected = {embedded: ("EMBEDDED", ["e1", "e2"]), indexed: ("INDEXED", ["i1", "i2"])}
    points = [point_id_for("e1"), point_id_for("i1")]

    findings = index_findings(projected, points)

    assert findings == [Finding(DriftKind.MISSING_FROM_INDEX, str(indexed),
                                "1 of its 2 points are missing: search cannot find them",
                                Repair.REPROJECT)]
