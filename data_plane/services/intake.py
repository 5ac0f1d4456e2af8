"""Intake: turn a received multipart batch into a receipt, stored raw objects and queued jobs.

The API streams each file part to a scratch file while hashing it (``ReceivedFile``); this
service judges every file, stores the accepted ones content-addressed, records the batch
atomically, and only then queues the accepted documents.

An ``Idempotency-Key`` (``domain/idempotency.py``) is checked before the body is read, and
looked up as soon as the manifest is: a replay returns the first receipt without a file
being read, another manifest under a live key is refused (409).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ValidationError

from data_plane.domain.idempotency import (
    DEFAULT_TTL_S,
    checked_key,
    is_replay,
    manifest_sha256,
)
from data_plane.domain.intake import (
    DocStatus,
    Manifest,
    ManifestFile,
    Reason,
    check_received_file,
    escape_name,
    form_encoded_name,
    unsafe_name,
)
from data_plane.domain.intake_content import (
    ArchiveLimits,
    archive_bomb,
    check_type,
    resolve_type,
)
from data_plane.domain.intake_scan import MalwareScanner, ScanVerdict
from data_plane.domain.object_keys import pending_key, quarantine_key, raw_key
from data_plane.domain.ports import (
    Attachments,
    Batches,
    ContentSniffer,
    Documents,
    JobQueue,
    NoMetrics,
    ObjectStore,
    PipelineMetrics,
)
from data_plane.domain.records import DocumentRecord, NewDocument
from data_plane.errors import (
    BatchTooLarge,
    IdempotencyKeyReused,
    IntakeRejected,
    ScannerUnavailable,
    TooManyBatches,
)
from frostbyte_common.tenant_config import IntakeConfig

log = logging.getLogger(__name__)

#: What a 429 TOO_MANY_BATCHES asks the client to wait before trying again.
RETRY_AFTER_SECONDS = 10

#: an intake verdict that is also the document's end (it never enters the pipeline)
_FINAL_AT_INTAKE = frozenset({DocStatus.REJECTED, DocStatus.QUARANTINED})
# Verdicts reached before the scan: such a file is not scanned (its bytes are unknown or
# not the ones the manifest describes).
_BEFORE_SCAN = frozenset({Reason.UNSAFE_NAME, Reason.MISSING_FILE, Reason.EMPTY_FILE,
                          Reason.SIZE_LIMIT, Reason.SIZE_MISMATCH, Reason.CHECKSUM_MISMATCH})


@dataclass(frozen=True, slots=True)
class ReceivedFile:
    """One file part as the API received it: spooled to ``path`` and hashed on the way."""

    name: str
    path: Path
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class AttachedFile:
    """An e-mail's attachment, extracted in the sandbox: the file under the sender's name,
    and the content type the sender gave (kept as metadata, never trusted)."""

    received: ReceivedFile
    content_type: str


class ReceiptDocument(BaseModel):
    name: str
    document_id: str | None = None
    sha256: str | None = None
    declared_sha256: str | None = None
    status: str
    reason: str | None = None
    parent_document_id: str | None = None  # set on an e-mail's attachment


class Receipt(BaseModel):
    batch_id: str
    received_at: datetime
    documents: list[ReceiptDocument]


@dataclass(frozen=True, slots=True)
class Submitted:
    """What ``POST /v1/batches`` answers: the receipt, and whether it is the receipt of a
    batch sent earlier under the same Idempotency-Key (a replay) rather than a new one."""

    receipt: Receipt
    replayed: bool = False


def parse_manifest(raw: str | bytes) -> Manifest:
    """Validate the manifest part; a bad one fails the whole batch with INVALID_MANIFEST."""
    try:
        manifest = Manifest.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'manifest'}: {e['msg']}"
            for e in exc.errors()[:10]
        )
        raise IntakeRejected(f"manifest is invalid: {problems}", code="INVALID_MANIFEST") from exc
    dups = manifest.duplicate_names()
    if dups:
        names = ", ".join(escape_name(n) for n in dups[:5])
        raise IntakeRejected(f"file names repeat in the manifest: {names}",
                             code="DUPLICATE_NAME")
    return manifest


class IntakeStore(Batches, Documents, Attachments, Protocol):
    """What intake needs of the system of record."""


class IntakeService:
    """Judges and records batches for one tenant."""

    def __init__(self, db: IntakeStore, store: ObjectStore, queue: JobQueue,
                 limits: IntakeConfig, scanner: MalwareScanner | None = None, *,
                 sniff: ContentSniffer, idempotency_ttl_s: float = DEFAULT_TTL_S,
                 metrics: PipelineMetrics | None = None) -> None:
        self._db = db
        self._metrics: PipelineMetrics = metrics or NoMetrics()
        self._idempotency_ttl_s = idempotency_ttl_s
        self._sniff = sniff
        self._scanner = scanner
        self._slots_lock = threading.Lock()
        self._in_flight = 0
        self._store = store
        self._queue = queue
        self._limits = limits

    @property
    def scanner(self) -> MalwareScanner | None:
        return self._scanner

    @contextlib.contextmanager
    def batch_slot(self) -> Iterator[None]:
        """Hold one of the tenant's ``max_concurrent_batches`` slots while a batch uploads
        (one API process serves one tenant); none free → ``TooManyBatches`` (429)."""
        with self._slots_lock:
            if self._in_flight >= self._limits.max_concurrent_batches:
                raise TooManyBatches(
                    f"{self._in_flight} batches are being received; the limit is "
                    f"{self._limits.max_concurrent_batches}", retry_after=RETRY_AFTER_SECONDS)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._slots_lock:
                self._in_flight -= 1

    def check_batch_limits(self, manifest: Manifest) -> None:
        if len(manifest.files) > self._limits.max_batch_files:
            raise BatchTooLarge(
                f"batch names {len(manifest.files)} files; the limit is "
                f"{self._limits.max_batch_files}")
        declared = sum(f.size for f in manifest.files)
        if declared > self._limits.max_batch_bytes:
            raise BatchTooLarge(
                f"batch declares {declared} bytes; the limit is {self._limits.max_batch_bytes}")

    @staticmethod
    def idempotency_key(header: str | None) -> str | None:
        """The ``Idempotency-Key`` header as a key (None without one);
        ``IdempotencyKeyInvalid`` (400) when it is empty, too long or unprintable."""
        return checked_key(header)

    def replay(self, manifest: Manifest, *, key_id: str,
               idempotency_key: str | None) -> Receipt | None:
        """The receipt of the batch this vendor key sent with this manifest under this
        Idempotency-Key, while the key lives; None when it names none; and
        ``IdempotencyKeyReused`` (409) when it names one sent with another manifest.

        A replay queues the batch's documents still ACCEPTED again: the first sender may
        have died between recording the batch and queueing its jobs, and the client re-sends
        exactly then (queueing a document that already waits is a no-op)."""
        if idempotency_key is None:
            return None
        recorded = self._db.idempotent_batch(key_id, idempotency_key)
        if recorded is None or not is_replay(recorded, manifest_sha256(manifest)):
            return None
        batch = self._db.get_batch(recorded.batch_id)
        if batch is None:
            return None
        documents = self._db.batch_documents(recorded.batch_id)
        for row in documents:
            if row.status is DocStatus.ACCEPTED:
                self._queue.enqueue_process(str(row.document_id))
        if recorded.receipt is not None:
            return Receipt.model_validate(recorded.receipt)
        # Not kept (the first sender died right after recording the batch): the batch's
        # receipt as it stands now.
        return _receipt(recorded.batch_id, batch.received_at, documents)

    def receive(self, manifest: Manifest, files: Sequence[ReceivedFile], *, key_id: str,
                idempotency_key: str | None) -> Submitted:
        """Judge each file in SPEC order, store accepted bytes, record, then queue.

        With an Idempotency-Key (checked by ``idempotency_key``; a replay found by
        ``replay`` before the files were read), the key names the new batch and keeps its
        receipt, which a replay answers again; when a request
        under the same key was recorded meanwhile, this one is its replay (same manifest)
        or ``IdempotencyKeyReused``, and what it held under its own ids is removed."""
        self.check_batch_limits(manifest)
        batch_id = uuid.uuid4()
        by_name = {f.name: f for f in files}
        rows: list[NewDocument] = []
        seen_sha: dict[str, uuid.UUID] = {}
        matched: set[str] = set()

        for ordinal, entry in enumerate(manifest.files):
            part_name = next((n for n in (entry.name, form_encoded_name(entry.name))
                              if n in by_name), None)
            if part_name is not None:
                matched.add(part_name)
            received = by_name.get(part_name) if part_name is not None else None
            rows.append(self._judge(ordinal, entry, received, seen_sha))

        for extra in files:
            if extra.name not in matched:
                shown = escape_name(extra.name) if unsafe_name(extra.name) else extra.name
                rows.append(NewDocument(
                    document_id=uuid.uuid4(), ordinal=len(rows), name=shown,
                    sha256=extra.sha256, declared_sha256=None, size=extra.size,
                    declared_type=None, mime_type=None, metadata={},
                    status=DocStatus.REJECTED, reason=Reason.NOT_IN_MANIFEST, stored=False,
                    duplicate_of=None, raw_key=None))

        try:
            self._db.record_batch(
                batch_id=batch_id, client_ref=manifest.client_ref,
                idempotency_key=idempotency_key, key_id=key_id, documents=rows,
                manifest_sha256=manifest_sha256(manifest) if idempotency_key else None,
                idempotency_ttl_s=self._idempotency_ttl_s)
        except IdempotencyKeyReused:
            # Held and quarantined bytes are kept under this batch's own document ids:
            # nothing else names them. (Content-addressed raw files may be another batch's.)
            for row in rows:
                if row.raw_key is not None and row.raw_key in (
                        pending_key(row.document_id), quarantine_key(row.document_id)):
                    self._store.delete(row.raw_key)
            replayed = self.replay(manifest, key_id=key_id, idempotency_key=idempotency_key)
            if replayed is None:
                raise
            return Submitted(replayed, replayed=True)
        # The receipt is the intake verdict, read before any job can move a document on.
        receipt = self.receipt(batch_id)
        assert receipt is not None
        if idempotency_key is not None:  # what a replay answers
            self._db.keep_receipt(key_id, idempotency_key, batch_id,
                                  receipt.model_dump(mode="json"))
        for row in rows:
            if row.status is DocStatus.ACCEPTED:
                self._queue.enqueue_process(str(row.document_id))
        self._count(rows)
        return Submitted(receipt)

    def _count(self, rows: Iterable[NewDocument]) -> None:
        """Each new document's intake verdict; a refusal at intake is its final status."""
        for row in rows:
            reason = row.reason.value if row.reason else None
            self._metrics.intake_document(row.status.value, reason)
            if row.status in _FINAL_AT_INTAKE:
                self._metrics.document_final(row.status.value, reason)

    def admit_attachments(self, *, parent_id: uuid.UUID, ordinal: int,
                          files: Sequence[AttachedFile]) -> list[NewDocument] | None:
        """Judge each attachment of an e-mail exactly as an uploaded file (``_judge``:
        name, size, type by its bytes against the allowlist and the extension, archive
        rules, malware scan, duplicates), record the verdicts in the parent's batch as its
        child documents, and queue the accepted ones. Idempotent for a retried job (ids
        derive from the parent's); None when the parent was erased meanwhile."""
        seen_sha: dict[str, uuid.UUID] = {}
        rows: list[NewDocument] = []
        for number, f in enumerate(files, start=1):
            # The sender's type is not a manifest's promise (mail clients send most files
            # as application/octet-stream): the bytes and the name are judged.
            entry = ManifestFile.model_construct(
                name=f.received.name, sha256=f.received.sha256, size=f.received.size,
                declared_type=None,
                metadata={"attachment_of": str(parent_id), "attachment_number": number,
                          "content_type": f.content_type})
            document_id = uuid.uuid5(parent_id, f"attachment-{number}")
            recorded = self._db.get_document(document_id)
            if recorded is not None:  # a retried job: judged and recorded already
                rows.append(_recorded(recorded, document_id, parent_id))
                continue
            row = self._judge(ordinal, entry, f.received, seen_sha, document_id=document_id)
            rows.append(dataclasses.replace(row, parent_document_id=parent_id))
        inserted = self._db.record_attachments(parent_id, rows)
        if inserted is None:
            return None
        for row in inserted:
            if row.status is DocStatus.ACCEPTED:
                self._queue.enqueue_process(str(row.document_id))
        self._count(inserted)
        return rows

    def _judge(self, ordinal: int, entry: ManifestFile, received: ReceivedFile | None,
               seen_sha: dict[str, uuid.UUID], *,
               document_id: uuid.UUID | None = None) -> NewDocument:
        document_id = document_id or uuid.uuid4()
        reason: Reason | None
        # An unsafe name is judged first: clients rewrite such names on the wire, so
        # whether its part was found says little.
        if unsafe_name(entry.name):
            reason = Reason.UNSAFE_NAME
        elif received is None:
            reason = Reason.MISSING_FILE
        else:
            reason = check_received_file(entry, size=received.size, sha256=received.sha256,
                                         max_file_bytes=self._limits.max_file_bytes)
        mime: str | None = None
        detail: str | None = None
        if reason is None and received is not None:
            mime, reason, detail = self._judge_content(entry, received)

        if reason in _BEFORE_SCAN or received is None:
            name = escape_name(entry.name) if reason is Reason.UNSAFE_NAME else entry.name
            return self._row(document_id, ordinal, entry, received, name=name, mime=mime,
                             status=DocStatus.REJECTED, reason=reason, detail=detail)

        # Every file that passed name, size and checksum is scanned, whatever its type;
        # MALWARE_DETECTED wins over every other reason.
        started = time.perf_counter()
        try:
            verdict = self._scanner.scan(received.path) if self._scanner else ScanVerdict()
        except ScannerUnavailable as exc:
            log.warning("scan deferred", extra={"document_id": str(document_id),
                                                "error": str(exc)})
            self._store.put_file(pending_key(document_id), received.path, move=True)
            return self._row(document_id, ordinal, entry, received, mime=mime,
                             status=DocStatus.PROCESSING, reason=Reason.SCAN_PENDING,
                             detail=detail, raw_key=pending_key(document_id),
                             held_reason=reason)
        if self._scanner is not None:
            self._metrics.stage_seconds("scan", time.perf_counter() - started)
        if verdict.infected:
            self._store.put_file(quarantine_key(document_id), received.path, move=True)
            return self._row(document_id, ordinal, entry, received, mime=mime,
                             status=DocStatus.QUARANTINED, reason=Reason.MALWARE_DETECTED,
                             detail=f"the scanner found {verdict.signature}",
                             raw_key=quarantine_key(document_id),
                             malware_signature=verdict.signature)
        if reason is not None:
            return self._row(document_id, ordinal, entry, received, mime=mime,
                             status=DocStatus.REJECTED, reason=reason, detail=detail)

        duplicate_of = seen_sha.get(received.sha256) or self._db.stored_document_by_sha(
            received.sha256)
        if duplicate_of is not None:
            return self._row(document_id, ordinal, entry, received, mime=mime,
                             status=DocStatus.REJECTED, reason=Reason.DUPLICATE,
                             duplicate_of=duplicate_of)
        key = raw_key(received.sha256)
        if not self._store.exists(key):
            self._store.put_file(key, received.path, move=True)
        seen_sha[received.sha256] = document_id
        return self._row(document_id, ordinal, entry, received, mime=mime,
                         status=DocStatus.ACCEPTED, reason=None, raw_key=key, stored=True)

    @staticmethod
    def _row(document_id: uuid.UUID, ordinal: int, entry: ManifestFile,
             received: ReceivedFile | None, *, status: DocStatus, reason: Reason | None,
             mime: str | None, name: str | None = None, detail: str | None = None,
             raw_key: str | None = None, stored: bool = False,
             duplicate_of: uuid.UUID | None = None, held_reason: Reason | None = None,
             malware_signature: str | None = None) -> NewDocument:
        return NewDocument(
            document_id=document_id, ordinal=ordinal, name=name or entry.name,
            sha256=received.sha256 if received else None, declared_sha256=entry.sha256,
            size=received.size if received else None, declared_type=entry.declared_type,
            mime_type=mime, metadata=entry.metadata, status=status, reason=reason,
            stored=stored, duplicate_of=duplicate_of, raw_key=raw_key, detail=detail,
            held_reason=held_reason, malware_signature=malware_signature,
        )

    def _judge_content(self, entry: ManifestFile, received: ReceivedFile
                       ) -> tuple[str, Reason | None, str | None]:
        """Type by libmagic and, for zip containers, the bomb rules on the central
        directory. A bomb is the more useful verdict, so it wins over a type verdict."""
        limits = self._limits
        sniffed = self._sniff(received.path, max_entries=limits.archive_max_entries)
        members = ({e.name for e in sniffed.zip.entries}
                   if sniffed.zip and sniffed.zip.entries is not None else None)
        real = resolve_type(sniffed.magic_mime, entry.name, members)
        if sniffed.zip is not None:
            bomb = archive_bomb(
                declared_entries=sniffed.zip.declared_entries, entries=sniffed.zip.entries,
                archive_size=received.size,
                limits=ArchiveLimits(limits.archive_max_uncompressed_bytes,
                                     limits.archive_max_ratio, limits.archive_max_entries))
            if bomb is not None:
                return real, Reason.ARCHIVE_BOMB, bomb
        verdict = check_type(real=real, name=entry.name, declared_type=entry.declared_type,
                             allowlist=limits.mime_allowlist)
        return verdict.mime_type, verdict.reason, verdict.detail

    def receipt(self, batch_id: uuid.UUID) -> Receipt | None:
        batch = self._db.get_batch(batch_id)
        if batch is None:
            return None
        return _receipt(batch_id, batch.received_at, self._db.batch_documents(batch_id))


def _receipt(batch_id: uuid.UUID, received_at: datetime,
             documents: Sequence[DocumentRecord]) -> Receipt:
    return Receipt(batch_id=str(batch_id), received_at=received_at,
                   documents=[receipt_document(d) for d in documents])


def _recorded(row: DocumentRecord, document_id: uuid.UUID,
              parent_id: uuid.UUID) -> NewDocument:
    """An attachment's verdict as recorded (the same shape as a fresh one)."""
    return NewDocument(
        document_id=document_id, ordinal=row.ordinal, name=row.name,
        sha256=row.sha256, declared_sha256=row.declared_sha256, size=row.size,
        declared_type=row.declared_type, mime_type=row.mime_type,
        metadata=row.metadata, status=row.status, reason=row.reason, stored=row.stored,
        duplicate_of=row.duplicate_of, raw_key=row.raw_key, detail=row.detail,
        parent_document_id=parent_id)


def receipt_document(row: DocumentRecord) -> ReceiptDocument:
    """The vendor-facing view of one document (SPEC §9 field names)."""
    kept = row.stored or row.status in (DocStatus.QUARANTINED, DocStatus.PROCESSING,
                                        DocStatus.PURGED)
    shown_id = row.duplicate_of if row.duplicate_of else (row.document_id if kept else None)
    return ReceiptDocument(
        name=row.name, document_id=str(shown_id) if shown_id else None,
        sha256=row.sha256, declared_sha256=row.declared_sha256, status=row.status.value,
        reason=row.reason.value if row.reason else None,
        parent_document_id=(str(row.parent_document_id)
                            if row.parent_document_id else None),
    )
