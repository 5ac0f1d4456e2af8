"""IntakeService on the in-memory tenant database (no PostgreSQL): what a vendor sees of a
batch — each file's verdict in manifest order, duplicates, idempotent resubmission, files
held or quarantined by the malware scan — and what follows from it: the bytes stored under
the right key, the audit trail, and only accepted documents queued for the pipeline. The
type of each file is read by the real sniffer (libmagic), as in production."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from data_plane.adapters.intake_sniff import sniff_file
from data_plane.adapters.objectstore_fs import FilesystemObjectStore
from data_plane.domain.intake import DocStatus, Manifest, Reason
from data_plane.domain.intake_scan import ScanVerdict
from data_plane.domain.object_keys import pending_key, quarantine_key, raw_key
from data_plane.errors import BatchTooLarge, IdempotencyKeyReused, ScannerUnavailable
from data_plane.services.intake import (
    AttachedFile,
    IntakeService,
    Receipt,
    ReceivedFile,
    Submitted,
    parse_manifest,
)
from frostbyte_common.audit_chain import verify_chain
from frostbyte_common.tenant_config import IntakeConfig
from tests.doubles.jobs import RecordingQueue
from tests.doubles.persistence import InMemoryTenantDatabase
from tests.intake_hostile_files import elf_bytes


@dataclass
class ScriptedScanner:
    """Infected when the bytes contain ``EICAR``; down while ``down`` is set."""

    down: bool = False
    scanned: list[str] = field(default_factory=list)

    def scan(self, path: Path) -> ScanVerdict:
        if self.down:
            raise ScannerUnavailable("clamd is not answering")
        self.scanned.append(path.name)
        return ScanVerdict("Eicar-Test-Signature" if b"EICAR" in path.read_bytes() else None)

    def ping(self) -> bool:
        return not self.down


@dataclass
class Intake:
    service: IntakeService
    db: InMemoryTenantDatabase
    store: FilesystemObjectStore
    queue: RecordingQueue
    scanner: ScriptedScanner
    folder: Path

    def file(self, name: str, data: bytes) -> ReceivedFile:
        path = self.folder / f"part-{uuid.uuid4().hex}"
        path.write_bytes(data)
        return ReceivedFile(name=name, path=path, size=len(data),
                            sha256=hashlib.sha256(data).hexdigest())

    def send(self, files: dict[str, bytes], *, declared: dict[str, bytes] | None = None,
             key: str | None = None, key_id: str = "k1") -> Receipt:
        """A batch whose manifest names ``declared`` (default: the files themselves)."""
        return self.submit(files, declared=declared, key=key, key_id=key_id).receipt

    def submit(self, files: dict[str, bytes], *, declared: dict[str, bytes] | None = None,
               key: str | None = None, key_id: str = "k1") -> Submitted:
        return self.service.receive(manifest_of(files if declared is None else declared),
                                    [self.file(n, d) for n, d in files.items()],
                                    key_id=key_id, idempotency_key=key)


def manifest_of(named: dict[str, bytes]) -> Manifest:
    return parse_manifest(json.dumps({"client_ref": "ref-1", "files": [
        {"name": n, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
        for n, d in named.items()]}))


@pytest.fixture
def intake(tmp_path: Path) -> Intake:
    db = InMemoryTenantDatabase()
    store = FilesystemObjectStore(tmp_path / "objects")
    queue = RecordingQueue()
    scanner = ScriptedScanner()
    folder = tmp_path / "parts"
    folder.mkdir()
    service = IntakeService(db, store, queue, IntakeConfig(max_batch_files=10),
                            scanner=scanner, sniff=sniff_file)
    return Intake(service, db, store, queue, scanner, folder)


def verdicts(receipt: Receipt) -> list[tuple[str, str, str | None]]:
    return [(d.name, d.status, d.reason) for d in receipt.documents]


TEXT = b"The boiler was serviced on Monday.\n"


def test_each_file_gets_its_verdict_in_manifest_order(intake: Intake) -> None:
    receipt = intake.send(
        {"notes.txt": TEXT, "tool.pdf": elf_bytes(), "stray.txt": b"not in the manifest\n"},
        declared={"notes.txt": TEXT, "tool.pdf": elf_bytes(), "missing.txt": b"never sent\n"})
    assert verdicts(receipt) == [
        ("notes.txt", "ACCEPTED", None),
        ("tool.pdf", "REJECTED", "MIME_EXTENSION_MISMATCH"),
        ("missing.txt", "REJECTED", "MISSING_FILE"),
        ("stray.txt", "REJECTED", "NOT_IN_MANIFEST")]
    accepted = receipt.documents[0]
    assert accepted.document_id and accepted.sha256 == hashlib.sha256(TEXT).hexdigest()
    assert all(d.document_id is None for d in receipt.documents[1:])  # nothing kept
    # the accepted bytes are stored content-addressed and queued; nothing else is
    assert intake.store.get_bytes(raw_key(accepted.sha256)) == TEXT
    assert intake.queue.process_jobs == [accepted.document_id]
    # the trail: the batch, then one event per verdict, by the key that sent it
    trail = intake.db.audit_events()
    assert [e.event_type for e in trail] == [
        "batch.received", "document.ingested", "document.rejected", "document.rejected",
        "document.rejected"]
    assert {e.actor for e in trail} == {"vendor_key:k1"}
    assert verify_chain(trail).ok


def test_a_checksum_that_does_not_match_is_rejected_before_the_scan(intake: Intake) -> None:
    receipt = intake.send({"a.txt": TEXT}, declared={"a.txt": TEXT.upper()})
    assert [(d.status, d.reason) for d in receipt.documents] in (
        [("REJECTED", "SIZE_MISMATCH")], [("REJECTED", "CHECKSUM_MISMATCH")])
    assert intake.scanner.scanned == [] and intake.queue.process_jobs == []


def test_an_unsafe_name_is_rejected_and_shown_escaped(intake: Intake) -> None:
    receipt = intake.send({"../../etc/passwd": TEXT, "bell\x07.txt": b"ding\n"})
    assert verdicts(receipt) == [("../../etc/passwd", "REJECTED", "UNSAFE_NAME"),
                                 ("bell\\x07.txt", "REJECTED", "UNSAFE_NAME")]
    assert intake.scanner.scanned == [] and intake.queue.process_jobs == []


def test_the_same_bytes_twice_are_a_duplicate_of_the_first(intake: Intake) -> None:
    receipt = intake.send({"a.txt": TEXT, "copy.txt": TEXT})
    first, copy = receipt.documents
    assert (copy.status, copy.reason) == ("REJECTED", "DUPLICATE")
    assert copy.document_id == first.document_id  # the receipt points at the original
    later = intake.send({"again.txt": TEXT})
    assert verdicts(later) == [("again.txt", "REJECTED", "DUPLICATE")]
    assert later.documents[0].document_id == first.document_id
    assert intake.queue.process_jobs == [first.document_id]


def test_a_resubmitted_batch_gets_its_first_receipt(intake: Intake) -> None:
    receipt = intake.send({"a.txt": TEXT}, key="idem-1")
    manifest = manifest_of({"a.txt": TEXT})
    replay = intake.service.replay
    assert replay(manifest, key_id="k1", idempotency_key="idem-1") == receipt
    assert replay(manifest, key_id="k1", idempotency_key="other") is None
    assert replay(manifest, key_id="k1", idempotency_key=None) is None
    assert len(intake.db.list_batches(limit=10, offset=0)) == 1


def test_a_replay_answers_the_receipt_first_answered(intake: Intake) -> None:
    receipt = intake.send({"a.txt": TEXT}, key="idem-1")
    (doc,) = receipt.documents
    assert doc.document_id is not None
    intake.db.mark_failed(uuid.UUID(doc.document_id), Reason.PARSE_FAILED, "moved on",
                          None, {})
    moved = intake.db.get_document(uuid.UUID(doc.document_id))
    assert moved is not None and moved.status is DocStatus.FAILED
    again = intake.service.replay(manifest_of({"a.txt": TEXT}), key_id="k1",
                                  idempotency_key="idem-1")
    assert again == receipt and again.documents[0].status == "ACCEPTED"


def test_an_idempotency_key_is_the_vendor_keys_own(intake: Intake) -> None:
    mine = intake.send({"a.txt": TEXT}, key="idem-1", key_id="k1")
    theirs = intake.submit({"b.txt": b"Another vendor key's file.\n"}, key="idem-1",
                           key_id="k2")
    assert not theirs.replayed and theirs.receipt.batch_id != mine.batch_id
    assert verdicts(theirs.receipt) == [("b.txt", "ACCEPTED", None)]


def test_an_idempotency_key_is_bound_to_its_manifest(intake: Intake) -> None:
    intake.send({"a.txt": TEXT}, key="idem-1")
    other = manifest_of({"b.txt": b"Other files.\n"})
    with pytest.raises(IdempotencyKeyReused) as refused:
        intake.service.replay(other, key_id="k1", idempotency_key="idem-1")
    assert refused.value.status_code == 409
    assert len(intake.db.list_batches(limit=10, offset=0)) == 1


def test_a_request_that_loses_the_race_for_its_key_is_a_replay_or_refused(
        intake: Intake) -> None:
    """Two requests under one key, both past the replay check while neither was recorded:
    the second to record gets the first one's receipt (same manifest), or 409 (another),
    and what it held under its own document ids is removed."""
    first = intake.send({"a.txt": TEXT}, key="race")
    again = intake.submit({"a.txt": TEXT}, key="race")
    assert again.replayed and again.receipt == first
    intake.scanner.down = True  # the loser's file is held under its own id...
    with pytest.raises(IdempotencyKeyReused):
        intake.submit({"held.txt": b"Held while the scanner is down.\n"}, key="race")
    assert not [p for p in (intake.folder.parent / "objects").rglob("*")
                if p.is_file() and "pending" in p.parts]
    assert len(intake.db.list_batches(limit=10, offset=0)) == 1


def test_an_expired_idempotency_key_names_a_new_batch(tmp_path: Path) -> None:
    db = InMemoryTenantDatabase()
    folder = tmp_path / "parts"
    folder.mkdir()
    service = IntakeService(db, FilesystemObjectStore(tmp_path / "objects"), RecordingQueue(),
                            IntakeConfig(), sniff=sniff_file, idempotency_ttl_s=1e-6)
    intake = Intake(service, db, FilesystemObjectStore(tmp_path / "objects"),
                    RecordingQueue(), ScriptedScanner(), folder)
    first = intake.send({"a.txt": TEXT}, key="idem-1")
    assert service.replay(manifest_of({"a.txt": TEXT}), key_id="k1",
                          idempotency_key="idem-1") is None
    second = intake.submit({"b.txt": b"A new batch.\n"}, key="idem-1")
    assert not second.replayed and second.receipt.batch_id != first.batch_id


def test_a_resent_batch_queues_what_a_dying_api_recorded_but_never_queued(
        intake: Intake) -> None:
    """The API killed between recording the batch and queueing its jobs: the client gets no
    receipt and sends again with the same key — and the accepted document is queued then
    (found by the fault suite's R2 analysis)."""
    def killed(document_id: str) -> None:
        raise SystemExit("the API was killed")

    intake.queue.enqueue_process = killed  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        intake.send({"a.txt": TEXT}, key="idem-2")
    del intake.queue.enqueue_process  # the restarted API queues normally
    again = intake.service.replay(manifest_of({"a.txt": TEXT}), key_id="k1",
                                  idempotency_key="idem-2")
    assert again is not None and [d.status for d in again.documents] == ["ACCEPTED"]
    assert intake.queue.process_jobs == [again.documents[0].document_id]


def test_malware_is_quarantined_never_stored_or_queued(intake: Intake) -> None:
    infected = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\n"
    receipt = intake.send({"a.txt": infected})
    [doc] = receipt.documents
    assert (doc.status, doc.reason) == ("QUARANTINED", "MALWARE_DETECTED")
    assert doc.document_id is not None
    assert intake.store.get_bytes(quarantine_key(doc.document_id)) == infected
    assert not intake.store.exists(raw_key(hashlib.sha256(infected).hexdigest()))
    assert intake.queue.process_jobs == []
    row = intake.db.get_document(uuid.UUID(doc.document_id))
    assert row is not None and row.malware_signature == "Eicar-Test-Signature"
    assert intake.db.audit_events()[-1].event_type == "document.quarantined"


def test_files_are_held_while_the_scanner_is_down(intake: Intake) -> None:
    intake.scanner.down = True
    receipt = intake.send({"a.txt": TEXT})
    [doc] = receipt.documents
    assert (doc.status, doc.reason) == ("PROCESSING", "SCAN_PENDING")
    assert doc.document_id is not None
    assert intake.store.get_bytes(pending_key(doc.document_id)) == TEXT
    assert intake.queue.process_jobs == []  # never parsed before it is scanned
    assert intake.db.audit_events()[-1].event_type == "document.held"
    [held] = intake.db.pending_documents()
    assert str(held.document_id) == doc.document_id


def test_a_batch_over_the_limits_is_refused_whole(intake: Intake) -> None:
    with pytest.raises(BatchTooLarge):
        intake.send({f"f{n}.txt": f"file {n}\n".encode() for n in range(11)})
    assert intake.db.list_batches(limit=10, offset=0) == []
    assert intake.db.audit_events() == [] and intake.queue.process_jobs == []


def test_attachments_are_judged_like_uploads_and_become_child_documents(
        intake: Intake) -> None:
    receipt = intake.send({"mail.eml": b"From: a@example.org\nSubject: hi\n\nHello.\n"})
    parent_id = uuid.UUID(receipt.documents[0].document_id or "")
    files = [AttachedFile(intake.file("note.txt", TEXT), "application/octet-stream"),
             AttachedFile(intake.file("tool.pdf", elf_bytes()), "application/pdf")]
    rows = intake.service.admit_attachments(parent_id=parent_id, ordinal=0, files=files)
    assert rows is not None
    assert [(r.name, r.status, r.reason) for r in rows] == [
        ("note.txt", DocStatus.ACCEPTED, None),
        ("tool.pdf", DocStatus.REJECTED, Reason.MIME_EXTENSION_MISMATCH)]
    assert all(r.parent_document_id == parent_id for r in rows)
    assert rows[0].metadata["attachment_number"] == 1
    assert rows[0].metadata["content_type"] == "application/octet-stream"
    assert intake.queue.process_jobs == [str(parent_id), str(rows[0].document_id)]
    batch = intake.service.receipt(uuid.UUID(receipt.batch_id))
    assert batch is not None
    assert [(d.name, d.parent_document_id) for d in batch.documents] == [
        ("mail.eml", None), ("note.txt", str(parent_id)), ("tool.pdf", str(parent_id))]
    # a retried job: the same ids and verdicts, nothing recorded or queued twice
    events = len(intake.db.audit_events())
    again = intake.service.admit_attachments(parent_id=parent_id, ordinal=0, files=files)
    assert again is not None and [r.document_id for r in again] == [r.document_id
                                                                      for r in rows]
    assert len(intake.db.audit_events()) == events
    assert intake.queue.process_jobs == [str(parent_id), str(rows[0].document_id)]


def test_no_attachments_for_an_erased_email(intake: Intake) -> None:
    files = [AttachedFile(intake.file("note.txt", TEXT), "text/plain")]
    assert intake.service.admit_attachments(parent_id=uuid.uuid4(), ordinal=0,
                                            files=files) is None
    assert intake.queue.process_jobs == [] and intake.db.audit_events() == []
