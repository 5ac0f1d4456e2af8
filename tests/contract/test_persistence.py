"""The contract of the data plane's persistence ports (``data_plane.domain.ports``): every
adapter — PostgreSQL (``TenantDatabase``, on the test cluster) and the in-memory double of
the service tests (``tests/doubles/persistence.py``) — must behave as the services rely on:
missing → None, conditional writes that leave an erased or finished document alone,
idempotent retries, the documented orders, and each change's audit event appended in the
same transaction as the change (a verifiable chain, nothing appended when nothing changed
or the transaction rolled back)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from data_plane.adapters.postgres import TenantDatabase
from data_plane.domain.canonical import CanonicalDocument, Element, ElementType, ParseStatus
from data_plane.domain.chunking import Chunk, ChunkingOptions, chunk_document
from data_plane.domain.idempotency import IdempotentBatch
from data_plane.domain.intake import DocStatus, Reason
from data_plane.domain.policy.outcome import PolicyOutcome
from data_plane.domain.ports import (
    Attachments,
    AuditLog,
    AuditTrail,
    Batches,
    Chunks,
    ConsistencyRecords,
    Documents,
    HeldFiles,
    IndexModel,
    ModelInfo,
    PipelineRecords,
    Quarantine,
    RetrievalLog,
    TenantState,
    UnitOfWork,
    VendorKeys,
)
from data_plane.domain.records import EventFilter, NewDocument, NewEvent
from data_plane.errors import IdempotencyKeyReused
from data_plane.services.policy import PolicyService
from frostbyte_common.audit_chain import GENESIS_HASH, AuditEvent, verify_chain
from frostbyte_common.audit_checkpoint import sign_checkpoint
from frostbyte_common.tenant_config import TenantConfig
from tests.doubles.persistence import InMemoryTenantDatabase
from tests.parser_doubles import EmailDetector

TENANT = "acme"
MODEL = ModelInfo(name="contract-model", version="1", dimension=3)


class Store(Batches, Documents, Attachments, HeldFiles, Quarantine, PipelineRecords, Chunks,
            IndexModel, VendorKeys, TenantState, AuditLog, RetrievalLog, UnitOfWork,
            ConsistencyRecords, Protocol):
    """Every port at once, as both adapters offer them."""

    @property
    def audit(self) -> AuditTrail: ...


def _postgres(conninfo: str) -> Iterator[Store]:
    db = TenantDatabase(conninfo, TENANT, max_size=2)
    db.open()
    db.migrate()
    try:
        yield db
    finally:
        db.close()


def _memory(conninfo: str) -> Iterator[Store]:
    yield InMemoryTenantDatabase(TENANT)


ADAPTERS: dict[str, Callable[[str], Iterator[Store]]] = {
    "postgres": _postgres, "memory": _memory}


@pytest.fixture(params=sorted(ADAPTERS))
def db(request: pytest.FixtureRequest) -> Iterator[Store]:
    conninfo = request.getfixturevalue("fresh_database") if request.param == "postgres" else ""
    yield from ADAPTERS[request.param](conninfo)


# -- helpers ---------------------------------------------------------------------------------

def new_doc(name: str = "a.txt", *, ordinal: int = 0, status: DocStatus = DocStatus.ACCEPTED,
            reason: Reason | None = None, data: bytes | None = None,
            document_id: uuid.UUID | None = None, parent: uuid.UUID | None = None,
            metadata: dict[str, Any] | None = None, **extra: Any) -> NewDocument:
    data = name.encode() if data is None else data
    sha = hashlib.sha256(data).hexdigest()
    stored = status is DocStatus.ACCEPTED
    return NewDocument(
        document_id=document_id or uuid.uuid4(), ordinal=ordinal, name=name, sha256=sha,
        declared_sha256=sha, size=len(data), declared_type=None, mime_type="text/plain",
        metadata=metadata or {}, status=status, reason=reason, stored=stored,
        duplicate_of=None, raw_key=f"raw/{sha}" if stored else None,
        parent_document_id=parent, **extra)


def record(db: Store, *docs: NewDocument, key: str | None = None, key_id: str = "k1",
           manifest: str | None = None, ttl_s: float = 3600.0) -> uuid.UUID:
    batch_id = uuid.uuid4()
    db.record_batch(batch_id=batch_id, client_ref="ref", idempotency_key=key, key_id=key_id,
                    documents=docs, manifest_sha256=manifest, idempotency_ttl_s=ttl_s)
    return batch_id


def events(db: Store, after: int = 0) -> list[AuditEvent]:
    return db.audit_events(after_seq=after)


def types(db: Store, after: int = 0) -> list[str]:
    return [e.event_type for e in events(db, after)]


def head(db: Store) -> int:
    return db.audit_head()[0]


def parsed(document_id: uuid.UUID, *texts: str) -> CanonicalDocument:
    return CanonicalDocument(
        document_id=str(document_id), tenant=TENANT, source_sha256="0" * 64,
        source_name="a.txt", mime_type="text/plain", parser="double", parser_version="1",
        status=ParseStatus.SUCCESS, title="Title", page_count=1,
        elements=tuple(Element(index=i, type=ElementType.PARAGRAPH, text=t)
                       for i, t in enumerate(texts)))


def chunks_of(doc: CanonicalDocument) -> tuple[list[Chunk], list[list[float]]]:
    chunks = chunk_document(doc, ChunkingOptions(max_tokens=8, overlap_tokens=0),
                            lambda s: len(s.split()))
    return chunks, [[float(i), 0.5, 1.0] for i in range(len(chunks))]


def embed(db: Store, document_id: uuid.UUID, *texts: str) -> list[Chunk]:
    doc = parsed(document_id, *texts)
    chunks, vectors = chunks_of(doc)
    db.mark_processing(document_id)
    assert db.save_chunks(document_id, doc, f"canonical/{document_id}.json", chunks, vectors,
                          MODEL, {"parse": 0.1})
    return chunks


def outcome(document_id: uuid.UUID, text: str, **pii_actions: str) -> PolicyOutcome:
    config = TenantConfig.model_validate({"pii": {"actions": pii_actions}})
    policy = PolicyService.from_config(config, EmailDetector())
    return policy.apply(parsed(document_id, text))


# -- batches and intake ----------------------------------------------------------------------

def test_a_batch_is_recorded_with_one_event_per_verdict(db: Store) -> None:
    accepted = new_doc("a.txt", ordinal=0)
    rejected = new_doc("b.exe", ordinal=1, status=DocStatus.REJECTED,
                       reason=Reason.MIME_NOT_ALLOWED, detail="no")
    infected = new_doc("c.txt", ordinal=2, status=DocStatus.QUARANTINED,
                       reason=Reason.MALWARE_DETECTED, malware_signature="Eicar")
    held = new_doc("d.txt", ordinal=3, status=DocStatus.PROCESSING,
                   reason=Reason.SCAN_PENDING, held_reason=Reason.MIME_NOT_ALLOWED)
    batch_id = record(db, accepted, rejected, infected, held, key="idem-1")

    batch = db.get_batch(batch_id)
    assert batch is not None and (batch.client_ref, batch.key_id) == ("ref", "k1")
    assert db.idempotent_batch("k1", "idem-1") == IdempotentBatch(batch_id, None)
    docs = db.batch_documents(batch_id)
    assert [(d.name, d.status, d.reason) for d in docs] == [
        ("a.txt", DocStatus.ACCEPTED, None),
        ("b.exe", DocStatus.REJECTED, Reason.MIME_NOT_ALLOWED),
        ("c.txt", DocStatus.QUARANTINED, Reason.MALWARE_DETECTED),
        ("d.txt", DocStatus.PROCESSING, Reason.SCAN_PENDING)]
    assert docs[0].stored and docs[0].raw_key == accepted.raw_key and docs[0].stage == "RECEIVED"
    assert (docs[1].detail, docs[2].malware_signature) == ("no", "Eicar")
    assert docs[3].held_reason is Reason.MIME_NOT_ALLOWED
    assert all(d.batch_id == batch_id for d in docs)

    trail = events(db)
    assert [e.event_type for e in trail] == [
        "batch.received", "document.ingested", "document.rejected", "document.quarantined",
        "document.held"]
    assert trail[0].payload == {"client_ref": "ref", "files": 4}
    assert {e.actor for e in trail} == {"vendor_key:k1"}
    assert trail[1].subject_id == str(accepted.document_id)
    assert trail[1].payload == {"batch_id": str(batch_id), "sha256": accepted.sha256,
                                "reason": None}
    assert verify_chain(trail).ok


def test_missing_things_are_none(db: Store) -> None:
    nobody = uuid.uuid4()
    assert db.get_batch(nobody) is None and db.get_document(nobody) is None
    assert db.idempotent_batch("k1", "never") is None
    assert db.batch_documents(nobody) == [] and db.document_chunks(nobody) == []
    assert db.stored_document_by_sha("0" * 64) is None
    assert db.vendor_key("nope") is None and db.recorded_index_model() is None
    assert db.chunks_by_ids([]) == {} and db.chunks_by_ids(["nope"]) == {}
    assert db.attachment_depth(nobody) == 0
    assert db.audit_head() == (0, GENESIS_HASH) and db.latest_checkpoint() is None
    assert db.mark_indexed(nobody, 1, 0.1) is None
    assert db.release(nobody, actor="a", raw_key="k") is None
    assert db.purge(nobody, actor="a") is None
    assert not db.resolve_pending(nobody, status=DocStatus.ACCEPTED, reason=None,
                                  detail=None, raw_key=None, stored=False)
    assert events(db) == []


def test_a_live_idempotency_key_is_refused_and_writes_nothing(db: Store) -> None:
    first = record(db, new_doc("a.txt"), key="same", manifest="m1")
    before = head(db)
    with pytest.raises(IdempotencyKeyReused):
        record(db, new_doc("b.txt"), key="same", manifest="m1")
    assert db.idempotent_batch("k1", "same") == IdempotentBatch(first, "m1")
    assert head(db) == before
    assert [d.name for d in db.list_documents(limit=10, offset=0)] == ["a.txt"]
    assert len(db.list_batches(limit=10, offset=0)) == 1


def test_an_idempotency_key_is_scoped_by_the_vendor_key(db: Store) -> None:
    mine = record(db, new_doc("a.txt"), key="same", key_id="k1", manifest="m1")
    theirs = record(db, new_doc("b.txt"), key="same", key_id="k2", manifest="m2")
    assert db.idempotent_batch("k1", "same") == IdempotentBatch(mine, "m1")
    assert db.idempotent_batch("k2", "same") == IdempotentBatch(theirs, "m2")
    assert db.idempotent_batch("k3", "same") is None


def test_the_receipt_a_key_replays_is_kept_on_its_own_batch_only(db: Store) -> None:
    batch_id = record(db, new_doc("a.txt"), key="kept", manifest="m1")
    db.keep_receipt("k1", "kept", uuid.uuid4(), {"batch_id": "another"})  # not its batch
    assert db.idempotent_batch("k1", "kept") == IdempotentBatch(batch_id, "m1")
    receipt = {"batch_id": str(batch_id), "documents": [{"name": "a.txt"}]}
    db.keep_receipt("k1", "kept", batch_id, receipt)
    assert db.idempotent_batch("k1", "kept") == IdempotentBatch(batch_id, "m1", receipt)


def test_an_expired_idempotency_key_names_nothing_and_may_be_used_again(db: Store) -> None:
    old = record(db, new_doc("a.txt"), key="again", manifest="m1", ttl_s=0.0)
    assert db.idempotent_batch("k1", "again") is None
    new = record(db, new_doc("b.txt"), key="again", manifest="m2")
    assert db.idempotent_batch("k1", "again") == IdempotentBatch(new, "m2")
    assert {b.batch_id for b in db.list_batches(limit=10, offset=0)} == {old, new}


def test_batches_and_documents_list_newest_first(db: Store) -> None:
    first = record(db, new_doc("a.txt"), new_doc("dup.txt", ordinal=1,
                                                 status=DocStatus.REJECTED,
                                                 reason=Reason.EMPTY_FILE))
    second = record(db, new_doc("b.txt"))
    assert [b.batch_id for b in db.list_batches(limit=10, offset=0)] == [second, first]
    assert [b.batch_id for b in db.list_batches(limit=1, offset=1)] == [first]
    # only stored documents are listed (not the rejected one)
    assert [d.name for d in db.list_documents(limit=10, offset=0)] == ["b.txt", "a.txt"]
    assert [d.name for d in db.list_documents(limit=1, offset=1)] == ["a.txt"]


def test_a_duplicate_is_found_by_its_bytes_while_the_original_is_stored(db: Store) -> None:
    original = new_doc("a.txt", data=b"same bytes")
    record(db, original)
    assert db.stored_document_by_sha(original.sha256 or "") == original.document_id
    rejected = new_doc("b.txt", data=b"other bytes", status=DocStatus.REJECTED,
                       reason=Reason.EMPTY_FILE)
    record(db, rejected)
    assert db.stored_document_by_sha(rejected.sha256 or "") is None


def test_attachments_join_the_parents_batch_once(db: Store) -> None:
    parent = new_doc("mail.eml", ordinal=0)
    after = new_doc("z.txt", ordinal=1)
    batch_id = record(db, parent, after)
    children = [new_doc(f"att{n}.txt", ordinal=0, parent=parent.document_id,
                        document_id=uuid.uuid5(parent.document_id, f"attachment-{n}"),
                        metadata={"attachment_number": n}) for n in (2, 1)]
    start = head(db)
    assert db.record_attachments(parent.document_id, children) == children
    assert types(db, start) == ["document.ingested", "document.ingested"]
    assert {e.actor for e in events(db, start)} == {"pipeline"}
    assert events(db, start)[0].payload["parent_document_id"] == str(parent.document_id)
    # a retried job derives the same ids: nothing new, no event
    again = head(db)
    assert db.record_attachments(parent.document_id, children) == []
    assert head(db) == again
    # in manifest order, an e-mail's attachments right after it, by their number
    assert [d.name for d in db.batch_documents(batch_id)] == [
        "mail.eml", "att1.txt", "att2.txt", "z.txt"]
    child = db.get_document(children[0].document_id)
    assert child is not None and child.parent_document_id == parent.document_id
    assert child.batch_id == batch_id
    assert db.attachment_depth(children[0].document_id) == 1
    assert db.attachment_depth(parent.document_id) == 0


def test_no_attachments_for_a_parent_that_left_the_pipeline(db: Store) -> None:
    parent = new_doc("mail.eml")
    record(db, parent)
    assert db.mark_failed(parent.document_id, Reason.PARSE_FAILED, "x", None, {})
    start = head(db)
    assert db.record_attachments(parent.document_id, [new_doc("a.txt")]) is None
    assert db.record_attachments(uuid.uuid4(), [new_doc("b.txt")]) is None
    assert head(db) == start


# -- the pipeline's writes -------------------------------------------------------------------

def test_chunks_are_saved_then_indexed(db: Store) -> None:
    doc = new_doc("a.txt")
    batch_id = record(db, doc)
    db.mark_processing(doc.document_id)
    row = db.get_document(doc.document_id)
    assert row is not None and row.status is DocStatus.PROCESSING
    start = head(db)
    chunks = embed(db, doc.document_id, "one two three four five six seven eight nine ten",
                   "eleven twelve")
    assert len(chunks) >= 2
    assert types(db, start) == ["document.parsed", "document.embedded"]
    embedded = events(db, start)[1]
    assert embedded.payload == {"chunks": len(chunks), "model": MODEL.name,
                                "dimension": MODEL.dimension,
                                "chunk_ids": [c.chunk_id for c in chunks]}
    row = db.get_document(doc.document_id)
    assert row is not None
    assert (row.stage, row.status, row.chunk_count, row.title, row.parser) == (
        "EMBEDDED", DocStatus.PROCESSING, len(chunks), "Title", "double")
    assert row.canonical_key == f"canonical/{doc.document_id}.json"
    assert row.timings == {"parse": 0.1}
    stored = db.document_chunks(doc.document_id)
    assert [c.chunk_id for c in stored] == [c.chunk_id for c in chunks]
    assert [c.text for c in stored] == [c.text for c in chunks]
    assert stored[1].embedding == pytest.approx((1.0, 0.5, 1.0))
    assert {(c.document_name, c.batch_id, c.mime_type, c.embedding_model) for c in stored} == {
        ("a.txt", batch_id, "text/plain", MODEL.name)}
    assert stored[0].content_sha256 == hashlib.sha256(chunks[0].text.encode()).hexdigest()
    # not searchable until indexed
    ids = [c.chunk_id for c in chunks]
    assert db.chunks_by_ids(ids) == {}
    assert db.all_indexed_documents() == []

    start = head(db)
    assert db.mark_indexed(doc.document_id, len(chunks), 0.123456) == []
    assert types(db, start) == ["document.indexed"]
    assert events(db, start)[0].payload == {"points": len(chunks), "supersedes": []}
    row = db.get_document(doc.document_id)
    assert row is not None and (row.status, row.stage) == (DocStatus.INDEXED, "INDEXED")
    assert row.timings == {"parse": 0.1, "index": 0.1235}
    found = db.chunks_by_ids([*ids, "unknown"])
    assert set(found) == set(ids)
    assert found[ids[0]].text == chunks[0].text
    assert found[ids[0]].document_name == "a.txt"
    assert db.all_indexed_documents() == [doc.document_id]
    # indexing twice: not waiting any more
    assert db.mark_indexed(doc.document_id, 1, 0.1) is None
    assert verify_chain(events(db)).ok


def test_saving_again_replaces_the_chunks(db: Store) -> None:
    doc = new_doc("a.txt")
    record(db, doc)
    embed(db, doc.document_id, "one two three four five six seven eight nine ten")
    again = embed(db, doc.document_id, "only this")
    assert [c.text for c in db.document_chunks(doc.document_id)] == [c.text for c in again]


def test_a_new_version_supersedes_the_old_one(db: Store) -> None:
    old = new_doc("report.txt", data=b"version 1")
    record(db, old)
    old_chunks = embed(db, old.document_id, "first version text")
    assert db.mark_indexed(old.document_id, 1, 0.1) == []
    new = new_doc("report.txt", data=b"version 2")
    record(db, new)
    embed(db, new.document_id, "second version text")
    start = head(db)
    assert db.mark_indexed(new.document_id, 1, 0.1) == [old.document_id]
    assert events(db, start)[0].payload["supersedes"] == [str(old.document_id)]
    superseded = db.get_document(old.document_id)
    assert superseded is not None and superseded.superseded_by == new.document_id
    assert db.document_chunks(old.document_id) == []
    assert db.chunks_by_ids([c.chunk_id for c in old_chunks]) == {}
    assert db.all_indexed_documents() == [new.document_id]


def test_a_failure_ends_the_document_once(db: Store) -> None:
    doc = new_doc("a.txt")
    record(db, doc)
    start = head(db)
    assert db.mark_failed(doc.document_id, Reason.PARSE_FAILED, "x" * 3000,
                          parsed(doc.document_id, "t"), {"parse": 1.0})
    row = db.get_document(doc.document_id)
    assert row is not None
    assert (row.status, row.reason, len(row.detail or ""), row.parser) == (
        DocStatus.FAILED, Reason.PARSE_FAILED, 2000, "double")
    assert row.timings == {"parse": 1.0}
    [event] = events(db, start)
    assert (event.event_type, event.actor, event.payload) == (
        "document.parse_failed", "worker", {"reason": "PARSE_FAILED", "parser": "double"})
    # it left the pipeline: later writes change nothing and append nothing
    doc_id = doc.document_id
    chunks, vectors = chunks_of(parsed(doc_id, "t"))
    again = head(db)
    assert not db.mark_failed(doc_id, Reason.NO_TEXT_EXTRACTED, "y", None, {})
    assert not db.save_chunks(doc_id, parsed(doc_id, "t"), "k", chunks, vectors, MODEL, {})
    assert not db.record_policy(doc_id, outcome(doc_id, "t"))
    assert not db.refuse(doc_id, DocStatus.REJECTED, Reason.PII_BLOCKED, "d", {})
    db.mark_processing(doc_id)
    assert head(db) == again
    row = db.get_document(doc_id)
    assert row is not None and (row.status, row.reason) == (DocStatus.FAILED,
                                                            Reason.PARSE_FAILED)


def test_writes_for_an_erased_document_change_nothing(db: Store) -> None:
    gone = uuid.uuid4()
    chunks, vectors = chunks_of(parsed(gone, "t"))
    assert not db.mark_failed(gone, Reason.PARSE_FAILED, "x", None, {})
    assert not db.save_chunks(gone, parsed(gone, "t"), "k", chunks, vectors, MODEL, {})
    assert not db.record_policy(gone, outcome(gone, "t"))
    assert not db.refuse(gone, DocStatus.REJECTED, Reason.PII_BLOCKED, "d", {})
    db.mark_processing(gone)
    assert db.get_document(gone) is None and events(db) == []


def test_the_policy_outcome_is_recorded_with_its_events(db: Store) -> None:
    doc = new_doc("a.txt")
    record(db, doc)
    start = head(db)
    judged = outcome(doc.document_id, "Write to jane@example.org about it.")
    assert db.record_policy(doc.document_id, judged)
    assert types(db, start) == ["document.classified", "document.pii_flagged"]
    classified, flagged = events(db, start)
    assert classified.payload["safety_verdict"] == judged.safety.verdict.value
    assert flagged.payload == {"counts": judged.pii.counts(), "redacted": 0}
    row = db.get_document(doc.document_id)
    assert row is not None
    assert (row.doc_type, row.sensitivity, row.classified_by) == (
        judged.classification.doc_type.value, judged.classification.sensitivity.value,
        judged.classification.source)
    assert row.pii_counts == judged.pii.counts()
    assert row.safety_verdict == judged.safety.verdict.value
    assert row.status is DocStatus.ACCEPTED  # the verdict alone does not end it
    # recording again (a retried job) replaces, and appends the events again
    again = head(db)
    assert db.record_policy(doc.document_id, judged)
    assert types(db, again) == ["document.classified", "document.pii_flagged"]


def test_a_refusal_ends_the_document_without_its_chunks(db: Store) -> None:
    doc = new_doc("a.txt")
    record(db, doc)
    chunks = embed(db, doc.document_id, "some text to chunk")
    start = head(db)
    assert db.refuse(doc.document_id, DocStatus.QUARANTINED, Reason.INJECTION_SUSPECTED,
                     "d" * 600, {"policy": 0.5})
    [event] = events(db, start)
    assert (event.event_type, event.payload) == (
        "document.quarantined", {"reason": "INJECTION_SUSPECTED", "detail": "d" * 500})
    row = db.get_document(doc.document_id)
    assert row is not None and (row.status, row.reason) == (DocStatus.QUARANTINED,
                                                            Reason.INJECTION_SUSPECTED)
    assert db.document_chunks(doc.document_id) == []
    assert db.chunks_by_ids([c.chunk_id for c in chunks]) == {}
    other = new_doc("b.txt")
    record(db, other)
    start = head(db)
    assert db.refuse(other.document_id, DocStatus.REJECTED, Reason.PII_BLOCKED, "pii", {})
    assert types(db, start) == ["document.rejected"]


# -- held files and quarantine ---------------------------------------------------------------

def test_a_held_file_is_resolved_once(db: Store) -> None:
    held = new_doc("h.txt", status=DocStatus.PROCESSING, reason=Reason.SCAN_PENDING)
    batch_id = record(db, held, new_doc("ok.txt", ordinal=1))
    assert [d.document_id for d in db.pending_documents()] == [held.document_id]
    start = head(db)
    assert db.resolve_pending(held.document_id, status=DocStatus.ACCEPTED, reason=None,
                              detail=None, raw_key="raw/x", stored=True)
    [event] = events(db, start)
    assert (event.event_type, event.actor, event.payload) == (
        "document.ingested", "scanner",
        {"batch_id": str(batch_id), "sha256": held.sha256, "reason": None,
         "after": "SCAN_PENDING"})
    row = db.get_document(held.document_id)
    assert row is not None and (row.status, row.reason, row.raw_key, row.stored) == (
        DocStatus.ACCEPTED, None, "raw/x", True)
    assert db.pending_documents() == []
    again = head(db)
    assert not db.resolve_pending(held.document_id, status=DocStatus.REJECTED,
                                  reason=Reason.DUPLICATE, detail=None, raw_key=None,
                                  stored=False)
    assert head(db) == again


def test_an_infected_held_file_is_quarantined(db: Store) -> None:
    held = new_doc("h.txt", status=DocStatus.PROCESSING, reason=Reason.SCAN_PENDING)
    record(db, held)
    start = head(db)
    assert db.resolve_pending(held.document_id, status=DocStatus.QUARANTINED,
                              reason=Reason.MALWARE_DETECTED, detail="found Eicar",
                              raw_key="quarantine/x", stored=False,
                              malware_signature="Eicar")
    assert types(db, start) == ["document.quarantined"]
    row = db.get_document(held.document_id)
    assert row is not None and row.malware_signature == "Eicar"
    assert [d.document_id for d in db.quarantined(limit=10, offset=0)] == [held.document_id]


def test_quarantine_release_and_purge_happen_once(db: Store) -> None:
    first = new_doc("a.txt", status=DocStatus.QUARANTINED, reason=Reason.MALWARE_DETECTED)
    second = new_doc("b.txt", ordinal=1, status=DocStatus.QUARANTINED,
                     reason=Reason.MALWARE_DETECTED)
    record(db, first, second)
    assert {d.document_id for d in db.quarantined(limit=10, offset=0)} == {
        first.document_id, second.document_id}
    start = head(db)
    released = db.release(first.document_id, actor="admin", raw_key="raw/a")
    assert released is not None
    assert (released.status, released.reason, released.raw_key, released.stored) == (
        DocStatus.ACCEPTED, None, "raw/a", True)
    [event] = events(db, start)
    assert (event.event_type, event.actor, event.payload) == (
        "document.released", "admin", {"reason": None, "sha256": first.sha256})
    assert db.release(first.document_id, actor="admin", raw_key="raw/a") is None
    assert db.purge(first.document_id, actor="admin") is None

    start = head(db)
    purged = db.purge(second.document_id, actor="admin")
    assert purged is not None and (purged.status, purged.stored) == (DocStatus.PURGED, False)
    [event] = events(db, start)
    assert (event.event_type, event.payload) == (
        "document.purged", {"reason": "MALWARE_DETECTED", "sha256": second.sha256})
    assert db.purge(second.document_id, actor="admin") is None
    assert db.quarantined(limit=10, offset=0) == []


# -- the unit of work ------------------------------------------------------------------------

def test_an_erasure_commits_with_its_event(db: Store) -> None:
    parent = new_doc("mail.eml", data=b"shared")
    record(db, parent)
    child = new_doc("att.eml", parent=parent.document_id)
    grandchild = new_doc("deep.txt", parent=child.document_id)
    assert db.record_attachments(parent.document_id, [child]) == [child]
    db.mark_processing(child.document_id)
    assert db.record_attachments(child.document_id, [grandchild]) == [grandchild]
    other = new_doc("copy.txt", data=b"shared")
    record(db, other)
    embed(db, grandchild.document_id, "text of the deepest one")
    start = head(db)
    with db.atomic() as tx:
        locked = tx.lock_document(parent.document_id)
        assert locked is not None and locked.name == "mail.eml"
        assert tx.lock_document(uuid.uuid4()) is None
        assert tx.child_documents(parent.document_id) == [grandchild.document_id,
                                                          child.document_id]
        assert tx.object_shared(parent.raw_key or "", parent.document_id)  # copy.txt
        assert not tx.object_shared("raw/nobody", parent.document_id)
        removed = tx.erase_document(grandchild.document_id)
        assert removed["chunks"] >= 1 and removed["elements"] == 1
        assert removed["pii_findings"] == 0
        event = tx.append_audit(NewEvent("admin", "document.deleted", "document",
                                         str(grandchild.document_id), {"removed": removed}))
        assert event.seq == start + 1
    assert db.get_document(grandchild.document_id) is None
    assert db.document_chunks(grandchild.document_id) == []
    assert types(db, start) == ["document.deleted"]
    assert verify_chain(events(db)).ok


def test_a_failed_unit_of_work_writes_nothing(db: Store) -> None:
    doc = new_doc("a.txt")
    record(db, doc)
    start = head(db)
    with pytest.raises(RuntimeError), db.atomic() as tx:
        tx.erase_document(doc.document_id)
        tx.append_audit(NewEvent("admin", "document.deleted", "document",
                                 str(doc.document_id), {}))
        raise RuntimeError("the vector store failed")
    assert db.get_document(doc.document_id) is not None
    assert head(db) == start


# -- keys, suspension, index model, retrievals, the audit trail ------------------------------

def test_the_consistency_check_reads_named_objects_and_projected_chunks(db: Store) -> None:
    accepted, embedded, indexed = new_doc("a.txt"), new_doc("b.txt"), new_doc("c.txt")
    refused = new_doc("d.txt", status=DocStatus.REJECTED, reason=Reason.DUPLICATE)
    record(db, accepted, embedded, indexed, refused)
    embedded_chunks = embed(db, embedded.document_id, "one two three four five six seven "
                            "eight nine ten eleven")
    indexed_chunks = embed(db, indexed.document_id, "twelve thirteen")
    assert db.mark_indexed(indexed.document_id, len(indexed_chunks), 0.1) == []
    start = head(db)

    named = {d.document_id: (d.raw_key, d.canonical_key)
             for d in db.documents_naming_objects()}
    assert named == {
        accepted.document_id: (accepted.raw_key, None),
        embedded.document_id: (embedded.raw_key, f"canonical/{embedded.document_id}.json"),
        indexed.document_id: (indexed.raw_key, f"canonical/{indexed.document_id}.json")}
    assert db.projected_chunk_ids() == {
        embedded.document_id: ("EMBEDDED", [c.chunk_id for c in embedded_chunks]),
        indexed.document_id: ("INDEXED", [c.chunk_id for c in indexed_chunks])}
    assert head(db) == start  # reads append nothing


def test_a_requeued_document_goes_through_the_pipeline_again(db: Store) -> None:
    doc, refused = new_doc("a.txt"), new_doc("b.txt", status=DocStatus.REJECTED,
                                              reason=Reason.DUPLICATE)
    record(db, doc, refused)
    chunks = embed(db, doc.document_id, "one two three")
    assert db.mark_indexed(doc.document_id, len(chunks), 0.1) == []
    start = head(db)

    assert db.requeue_document(doc.document_id, actor="admin:ops")

    row = db.get_document(doc.document_id)
    assert row is not None and (row.status, row.stage) == (DocStatus.ACCEPTED, "RECEIVED")
    [event] = events(db, start)
    assert (event.event_type, event.actor, event.subject_id, event.payload) == (
        "document.requeued", "admin:ops", str(doc.document_id),
        {"status": "INDEXED", "stage": "INDEXED", "why": "consistency repair"})
    assert db.chunks_by_ids([c.chunk_id for c in chunks]) == {}  # hidden until indexed again
    assert db.projected_chunk_ids() == {}
    again = embed(db, doc.document_id, "one two three")
    assert db.mark_indexed(doc.document_id, len(again), 0.1) == []
    # nothing else can be requeued, and refusing appends nothing
    start = head(db)
    assert not db.requeue_document(refused.document_id, actor="admin:ops")
    assert not db.requeue_document(uuid.uuid4(), actor="admin:ops")
    assert head(db) == start
    assert verify_chain(events(db)).ok


def test_a_superseded_version_is_not_requeued(db: Store) -> None:
    old, new = new_doc("r.txt", data=b"v1"), new_doc("r.txt", data=b"v2")
    record(db, old)
    embed(db, old.document_id, "first")
    assert db.mark_indexed(old.document_id, 1, 0.1) == []
    record(db, new)
    embed(db, new.document_id, "second")
    assert db.mark_indexed(new.document_id, 1, 0.1) == [old.document_id]

    assert not db.requeue_document(old.document_id, actor="admin:ops")
    row = db.get_document(old.document_id)
    assert row is not None and row.status is DocStatus.INDEXED


def test_vendor_keys_are_issued_revoked_and_reissued(db: Store) -> None:
    db.add_vendor_key("k1", "hash-1", ["read", "ingest"], "label")
    key = db.vendor_key("k1")
    assert key is not None
    assert (key.key_sha256, set(key.scopes), key.label) == ("hash-1", {"read", "ingest"},
                                                            "label")
    assert db.revoke_vendor_key("k1") and db.vendor_key("k1") is None
    assert not db.revoke_vendor_key("k1") and not db.revoke_vendor_key("nobody")
    db.add_vendor_key("k1", "hash-2", ["read"], None)
    again = db.vendor_key("k1")
    assert again is not None and (again.key_sha256, again.scopes) == ("hash-2", ("read",))
    trail = events(db)
    assert [e.event_type for e in trail] == ["vendor_key.issued", "vendor_key.revoked",
                                             "vendor_key.issued"]
    assert trail[0].payload == {"scopes": ["ingest", "read"]}
    assert {e.actor for e in trail} == {"control-plane"}


def test_suspension_is_recorded_only_when_it_changes(db: Store) -> None:
    assert not db.suspended()
    assert not db.set_suspended(False, actor="cp")
    assert db.set_suspended(True, actor="cp") and db.suspended()
    assert not db.set_suspended(True, actor="cp")
    assert db.set_suspended(False, actor="cp") and not db.suspended()
    trail = events(db)
    assert [(e.event_type, e.actor, e.subject_id) for e in trail] == [
        ("tenant.suspended", "cp", TENANT), ("tenant.resumed", "cp", TENANT)]


def test_the_index_model_is_recorded_once(db: Store) -> None:
    db.record_index_model("coll", MODEL)
    db.record_index_model("other", ModelInfo(name="m2", version="2", dimension=9))
    recorded = db.recorded_index_model()
    assert recorded is not None
    assert (recorded.collection, recorded.model, recorded.version, recorded.dimension) == (
        "coll", MODEL.name, "1", 3)


def test_a_retrieval_is_appended_to_the_chain(db: Store) -> None:
    db.add_vendor_key("k1", "h", ["read"], None)
    payload = {"query_sha256": "ab" * 32, "chunk_ids": ["c1"]}
    event = db.record_retrieval("vendor_key:k1", payload)
    assert (event.seq, event.event_type, event.subject_kind, event.subject_id) == (
        2, "retrieval.performed", "query", "ab" * 32)
    assert db.audit_head() == (2, event.hash)
    assert events(db)[-1].payload == payload


def test_the_audit_trail_queries_and_checkpoints(db: Store) -> None:
    doc = new_doc("a.txt")
    batch_id = record(db, doc)
    trail = db.audit
    exported = trail.record(NewEvent("admin", "audit.exported", "audit", TENANT, {"n": 1}))
    assert trail.head() == (3, exported.hash) == db.audit_head()
    assert [e.seq for e in trail.iter_events(after_seq=1)] == [2, 3]
    assert [e.seq for e in trail.iter_events(until_seq=2)] == [1, 2]
    assert [e.seq for e in trail.events(after_seq=0, limit=2)] == [1, 2]
    assert [e.event_type for e in trail.query(EventFilter(batch_id=str(batch_id)))] == [
        "batch.received", "document.ingested"]
    assert [e.seq for e in trail.query(EventFilter(document_id=str(doc.document_id)))] == [2]
    assert [e.seq for e in trail.query(EventFilter(actor="admin"))] == [3]
    assert [e.seq for e in trail.query(EventFilter(event_type="batch.received"))] == [1]
    assert [e.seq for e in trail.query(EventFilter(after_seq=1, limit=1))] == [2]
    assert trail.leaf_hashes(2) == [e.hash for e in events(db)[:2]]
    assert verify_chain(trail.iter_events()).ok
    assert trail.latest_checkpoint() is None and trail.checkpoints() == []
    signed = sign_checkpoint(Ed25519PrivateKey.generate(), tenant=TENANT, tree_size=2,
                             root_hash="ab" * 32)
    assert trail.add_checkpoint(signed) and not trail.add_checkpoint(signed)
    latest = trail.latest_checkpoint()
    assert latest is not None and (latest.tree_size, latest.root_hash) == (2, "ab" * 32)
    assert latest == db.latest_checkpoint()
    assert trail.checkpoint(2) == latest and trail.checkpoint(3) is None
    assert [c.tree_size for c in trail.checkpoints()] == [2]
