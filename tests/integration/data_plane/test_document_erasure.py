"""Erasure (``DELETE /v1/documents/{id}``) against real PostgreSQL, the filesystem object
store and a local Qdrant collection: every row, vector and object of the document goes, a
shared content-addressed file stays, the audit event carries counts and never content, and
a pipeline job in flight never brings an erased document back.

The parser and the embedder are small doubles (the subject is erasure, not parsing)."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from data_plane.adapters.objectstore_fs import FilesystemObjectStore
from data_plane.adapters.postgres import TenantDatabase
from data_plane.adapters.qdrant_index import QdrantVectorIndex
from data_plane.domain.canonical import CanonicalDocument, Element, ElementType, ParseStatus
from data_plane.domain.intake import DocStatus
from data_plane.domain.object_keys import canonical_key, raw_key
from data_plane.domain.ports import ParseRequest
from data_plane.domain.retrieval import SearchRequest
from data_plane.errors import DocumentHeld, DocumentNotFound
from data_plane.services.documents import DocumentService
from data_plane.services.pipeline import IndexService, PipelineService
from data_plane.services.search import SearchService
from frostbyte_common.audit_chain import verify_chain
from frostbyte_common.tenant_config import ChunkingConfig
from tests.pipeline_doubles import HashEmbedder, ListQueue

SECRET_NAME = "patient-jane-doe.txt"
BODY = "# Discharge summary\nThe patient recovered well after the appendectomy.\n" \
       "Follow-up visit scheduled in two weeks with the surgeon.\n"


class LineParser:
    """One paragraph per line; ``gate`` (when set) holds the parse until released, so a
    test can erase the document while its job is in flight."""

    name = "line-double"

    def __init__(self) -> None:
        self.gate: threading.Event | None = None
        self.parsing = threading.Event()

    def parse(self, request: ParseRequest) -> CanonicalDocument:
        self.parsing.set()
        if self.gate is not None:
            assert self.gate.wait(30), "the test never released the parse"
        lines = [ln.strip("# ").strip() for ln in request.path.read_text().splitlines()]
        elements = tuple(Element(index=i, type=ElementType.PARAGRAPH, text=t)
                         for i, t in enumerate(t for t in lines if t))
        return CanonicalDocument(
            document_id=request.document_id, tenant=request.tenant,
            source_sha256=request.sha256, source_name=request.name,
            mime_type=request.mime_type, parser=self.name, parser_version="1",
            status=ParseStatus.SUCCESS, elements=elements)



class RacingDatabase(TenantDatabase):
    """Runs ``before_mark_indexed`` just before the indexer marks a document INDEXED: the
    moment after its points are written and before PostgreSQL says so."""

    before_mark_indexed: Any = None

    def mark_indexed(self, document_id: uuid.UUID, points: int,
                     index_seconds: float) -> list[uuid.UUID] | None:
        if self.before_mark_indexed is not None:
            self.before_mark_indexed(document_id)
        return super().mark_indexed(document_id, points, index_seconds)


@dataclass
class Plane:
    db: RacingDatabase
    store: FilesystemObjectStore
    index: QdrantVectorIndex
    work: Path
    parser: LineParser = field(default_factory=LineParser)
    batch_id: uuid.UUID = field(default_factory=uuid.uuid4)
    ordinal: int = 0

    def __post_init__(self) -> None:
        self.indexer = IndexService(db=self.db, index=self.index, embedder=HashEmbedder(),
                                    collection="erasure_test")
        self.documents = DocumentService(self.db, self.store, self.indexer)

    def pipeline(self) -> PipelineService:
        return PipelineService(db=self.db, store=self.store, parser=self.parser,
                               embedder=HashEmbedder(), count_tokens=lambda s: len(s.split()),
                               chunking=ChunkingConfig(), queue=ListQueue(), tenant="t",
                               work_dir=self.work)

    def accept(self, name: str, body: str) -> uuid.UUID:
        data = body.encode()
        sha = hashlib.sha256(data).hexdigest()
        self.store.put_bytes(raw_key(sha), data)
        doc_id = uuid.uuid4()
        self.ordinal += 1
        with self.db.transaction() as conn:
            if self.ordinal == 1:
                conn.execute("INSERT INTO batches (batch_id, client_ref) VALUES (%s, 'e')",
                             (self.batch_id,))
            conn.execute(
                "INSERT INTO documents (document_id, batch_id, ordinal, name, sha256, size,"
                " mime_type, metadata, status, stored, raw_key) VALUES (%s,%s,%s,%s,%s,%s,"
                " 'text/plain', '{\"patient\": \"Jane Doe\"}', 'ACCEPTED', true, %s)",
                (doc_id, self.batch_id, self.ordinal, name, sha, len(data), raw_key(sha)))
        return doc_id

    def ingest(self, name: str = SECRET_NAME, body: str = BODY) -> uuid.UUID:
        doc_id = self.accept(name, body)
        assert self.pipeline().process(str(doc_id)) == "EMBEDDED"
        assert self.indexer.index(str(doc_id)) > 0
        row = self.db.get_document(doc_id)
        assert row is not None and row.status == "INDEXED"
        return doc_id

    def search(self, query: str) -> set[str]:
        service = SearchService(db=self.db, index=self.index, embedder=HashEmbedder(),
                                indexer=self.indexer)
        hits = service.search(SearchRequest(query=query, top_k=20), actor="test").hits
        return {h.document_id for h in hits}

    def rows(self, table: str, doc_id: uuid.UUID) -> int:
        with self.db.transaction() as conn:
            row = conn.execute(f"SELECT count(*) AS n FROM {table} WHERE document_id = %s",
                               (doc_id,)).fetchone()
        assert row is not None
        return int(row["n"])

    def events(self, event_type: str, doc_id: uuid.UUID) -> list[dict[str, Any]]:
        return [e.payload for e in self.db.audit_events()
                if e.event_type == event_type and e.subject_id == str(doc_id)]


@pytest.fixture
def plane(fresh_database: str, tmp_path: Path) -> Iterator[Plane]:
    db = RacingDatabase(fresh_database, "t")
    db.open()
    db.migrate()
    index = QdrantVectorIndex("erasure_test", path=tmp_path / "qdrant")
    yield Plane(db, FilesystemObjectStore(tmp_path / "objects"), index, tmp_path / "work")
    index.close()
    db.close()


def test_erasure_removes_rows_vectors_and_objects(plane: Plane) -> None:
    doc_id = plane.ingest()
    sha = hashlib.sha256(BODY.encode()).hexdigest()
    chunks = plane.rows("chunks", doc_id)
    points = plane.index.count(str(doc_id))
    assert chunks > 0 and points == chunks
    assert str(doc_id) in plane.search("appendectomy surgeon follow-up")

    result = plane.documents.delete(doc_id, actor="vendor_key:k1")

    assert result.status == "DELETED" and result.sha256 == sha
    assert result.removed == {"chunks": chunks, "elements": 3, "pii_findings": 0,
                              "vectors": points, "objects": 2}
    assert plane.db.get_document(doc_id) is None
    for table in ("chunks", "document_elements", "pii_findings"):
        assert plane.rows(table, doc_id) == 0
    assert plane.index.count(str(doc_id)) == 0
    assert not plane.store.exists(raw_key(sha))
    assert not plane.store.exists(canonical_key(str(doc_id)))
    assert list(plane.store.list()) == []
    assert str(doc_id) not in plane.search("appendectomy surgeon follow-up")
    # Re-submitting the same bytes is a new document, not a DUPLICATE of the erased one.
    assert plane.db.stored_document_by_sha(sha) is None


def test_the_audit_event_counts_and_never_carries_content(plane: Plane) -> None:
    doc_id = plane.ingest()
    result = plane.documents.delete(doc_id, actor="vendor_key:k1")

    [payload] = plane.events("document.deleted", doc_id)
    assert payload == {"document_id": str(doc_id), "batch_id": str(plane.batch_id),
                       "sha256": hashlib.sha256(BODY.encode()).hexdigest(),
                       "removed": result.removed}
    event = next(e for e in plane.db.audit_events() if e.event_type == "document.deleted")
    assert (event.seq, event.actor) == (result.audit_seq, "vendor_key:k1")
    everything = " ".join(str(e.to_json()) for e in plane.db.audit_events())
    for secret in ("Jane Doe", SECRET_NAME, "appendectomy", "Discharge"):
        assert secret not in everything
    assert verify_chain(plane.db.audit_events()).ok


def test_erasing_twice_is_not_found(plane: Plane) -> None:
    doc_id = plane.ingest()
    plane.documents.delete(doc_id, actor="a")
    with pytest.raises(DocumentNotFound):
        plane.documents.delete(doc_id, actor="a")
    with pytest.raises(DocumentNotFound):
        plane.documents.delete(uuid.uuid4(), actor="a")
    assert len(plane.events("document.deleted", doc_id)) == 1


def test_a_raw_file_named_by_another_document_stays(plane: Plane) -> None:
    first = plane.ingest()
    # A second document with the same bytes (e.g. released from quarantine) names the same
    # content-addressed raw file.
    second = plane.accept("copy.txt", BODY)
    result = plane.documents.delete(first, actor="a")

    sha = hashlib.sha256(BODY.encode()).hexdigest()
    assert result.removed["objects"] == 1  # the canonical JSON only
    assert plane.store.exists(raw_key(sha))
    assert plane.pipeline().process(str(second)) == "EMBEDDED"
    plane.documents.delete(second, actor="a")
    assert not plane.store.exists(raw_key(sha))


def test_an_accepted_document_never_processed_is_erased(plane: Plane) -> None:
    doc_id = plane.accept("waiting.txt", "Quarterly figures for the board.\n")
    result = plane.documents.delete(doc_id, actor="a")
    assert result.removed == {"chunks": 0, "elements": 0, "pii_findings": 0, "vectors": 0,
                              "objects": 1}
    # Its job runs later: nothing to do, nothing to retry, nothing written.
    assert plane.pipeline().process(str(doc_id)) == "DELETED"
    assert plane.db.get_document(doc_id) is None
    assert list(plane.store.list()) == []


def test_a_job_in_flight_does_not_resurrect_an_erased_document(plane: Plane) -> None:
    doc_id = plane.accept(SECRET_NAME, BODY)
    plane.parser.gate = threading.Event()
    outcome: list[str] = []
    job = threading.Thread(target=lambda: outcome.append(plane.pipeline().process(str(doc_id))))
    job.start()
    assert plane.parser.parsing.wait(30)
    row = plane.db.get_document(doc_id)
    assert row is not None and row.status == "PROCESSING"

    plane.documents.delete(doc_id, actor="a")  # while the job is parsing
    plane.parser.gate.set()
    job.join(30)

    assert outcome == ["DELETED"]
    assert plane.db.get_document(doc_id) is None
    assert plane.rows("chunks", doc_id) == 0
    assert plane.rows("document_elements", doc_id) == 0
    assert list(plane.store.list()) == []  # the canonical JSON it wrote was removed
    assert plane.index.count(str(doc_id)) == 0
    types = [e.event_type for e in plane.db.audit_events() if e.subject_id == str(doc_id)]
    assert types[-1] == "document.deleted"
    assert "document.embedded" not in types


def test_an_index_job_racing_the_erasure_leaves_no_vectors(plane: Plane) -> None:
    doc_id = plane.accept(SECRET_NAME, BODY)
    assert plane.pipeline().process(str(doc_id)) == "EMBEDDED"
    erased: list[int] = []

    def erase_now(racing: uuid.UUID) -> None:
        # The points are written; PostgreSQL does not say INDEXED yet.
        assert plane.index.count(str(racing)) > 0
        erased.append(plane.documents.delete(racing, actor="a").removed["vectors"])

    plane.db.before_mark_indexed = erase_now
    assert plane.indexer.index(str(doc_id)) == 0
    plane.db.before_mark_indexed = None

    assert erased and erased[0] > 0
    assert plane.index.count(str(doc_id)) == 0
    assert plane.db.get_document(doc_id) is None
    assert not plane.events("document.indexed", doc_id)


def test_erasing_one_document_leaves_the_others_searchable(plane: Plane) -> None:
    keep = plane.ingest("minutes.txt", "Board minutes: budget approved for the warehouse.\n")
    gone = plane.ingest()
    plane.documents.delete(gone, actor="a")
    assert plane.search("budget approved warehouse") == {str(keep)}
    assert plane.index.count(str(keep)) == plane.rows("chunks", keep) > 0
    assert plane.store.exists(canonical_key(str(keep)))


def test_a_document_erased_before_its_policy_step_gets_no_findings_or_events(
        plane: Plane) -> None:
    from data_plane.adapters.pii_presidio import PresidioPiiDetector
    from data_plane.adapters.safety_hidden import find_hidden
    from data_plane.services.policy import PolicyService
    from frostbyte_common.tenant_config import TenantConfig

    body = BODY + "Write to jane.surgeon@example.org, IBAN GB82WEST12345698765432.\n"
    doc_id = plane.accept(SECRET_NAME, body)
    plane.parser.gate = threading.Event()
    policy = PolicyService.from_config(TenantConfig(), PresidioPiiDetector(),
                                       hidden_text=find_hidden)
    pipeline = PipelineService(db=plane.db, store=plane.store, parser=plane.parser,
                               embedder=HashEmbedder(), count_tokens=lambda s: len(s.split()),
                               chunking=ChunkingConfig(), queue=ListQueue(), tenant="t",
                               work_dir=plane.work, policy=policy)
    outcome: list[str] = []
    job = threading.Thread(target=lambda: outcome.append(pipeline.process(str(doc_id))))
    job.start()
    assert plane.parser.parsing.wait(30)
    plane.documents.delete(doc_id, actor="a")  # the policy step has not run yet
    plane.parser.gate.set()
    job.join(60)

    assert outcome == ["DELETED"]  # not a foreign-key error retried by the queue
    assert plane.rows("pii_findings", doc_id) == 0
    types = [e.event_type for e in plane.db.audit_events() if e.subject_id == str(doc_id)]
    assert types[-1] == "document.deleted"
    assert "document.classified" not in types


class HookedStore(FilesystemObjectStore):
    """Runs ``after_put`` right after an object is stored: the moment a quarantine release
    has copied the bytes and not yet changed the document's state."""

    after_put: Any = None

    def put_file(self, key: str, source: Path, *, move: bool = False) -> None:
        super().put_file(key, source, move=move)
        if self.after_put is not None:
            self.after_put(key)


def test_a_release_racing_a_purge_leaves_no_orphan_file(plane: Plane, tmp_path: Path) -> None:
    """A quarantined document is an admin's alone (a vendor's erasure is refused with
    DOCUMENT_HELD): one admin purges it while another's release copies its bytes."""
    from data_plane.domain.object_keys import quarantine_key
    from data_plane.services.intake_quarantine import QuarantineService

    data = b"Held for review: the supplier's questionnaire.\n"
    doc_id = uuid.uuid4()
    plane.store.put_bytes(quarantine_key(doc_id), data)
    with plane.db.transaction() as conn:
        conn.execute("INSERT INTO batches (batch_id, client_ref) VALUES (%s, 'q')",
                     (plane.batch_id,))
        conn.execute(
            "INSERT INTO documents (document_id, batch_id, ordinal, name, sha256, size,"
            " mime_type, metadata, status, stored, raw_key) VALUES (%s,%s,1,'q.txt',%s,%s,"
            " 'text/plain', '{}', 'QUARANTINED', false, %s)",
            (doc_id, plane.batch_id, hashlib.sha256(data).hexdigest(), len(data),
             quarantine_key(doc_id)))
    with pytest.raises(DocumentHeld):
        plane.documents.delete(doc_id, actor="vendor_key:k1")
    store = HookedStore(tmp_path / "objects")  # the same folder as plane.store
    purger = QuarantineService(plane.db, plane.store, ListQueue(), tmp_path / "work")
    store.after_put = lambda key: purger.purge(doc_id, actor="admin:other")
    service = QuarantineService(plane.db, store, ListQueue(), tmp_path / "work")
    with pytest.raises(DocumentNotFound):
        service.release(doc_id, actor="admin")
    assert list(plane.store.list()) == [], "the copied bytes were left behind"
    row = plane.db.get_document(doc_id)
    assert row is not None and row.status is DocStatus.PURGED
