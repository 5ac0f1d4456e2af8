"""The document pipeline: parse + scan (sandbox) → chunk → embed → commit (worker), then
index (indexer).

The worker never reads a document's bytes: it copies the raw object to a scratch file and
hands it to its ``DocumentProcessor`` — in production an ``IsolatedParser`` whose child runs
``ParseAndScan`` (parsers, OCR, hidden-text finders, policy scanners) under the parse time
and memory limits (SPEC §5.2) — then records the outcome, chunks and embeds.

Each step is idempotent and keyed by the document's ``stage`` in PostgreSQL, so a job that
is retried after a crash skips what is done and never duplicates chunks or points:
chunks are replaced in one transaction, and Qdrant point ids derive from chunk ids.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from data_plane.domain.canonical import CanonicalDocument, LineageStep, ParseStatus
from data_plane.domain.chunking import Chunk, ChunkingOptions, chunk_document, embedding_text
from data_plane.domain.intake import DocStatus, Reason
from data_plane.domain.object_keys import canonical_key, point_id_for
from data_plane.domain.ports import (
    Chunks,
    Documents,
    EmbeddingProvider,
    IndexModel,
    IndexPoint,
    JobQueue,
    ModelInfo,
    NoMetrics,
    ObjectStore,
    Parser,
    ParseRequest,
    PipelineMetrics,
    PipelineRecords,
    VectorIndex,
)
from data_plane.domain.processing import (
    MAX_NESTING,
    DocumentProcessor,
    ProcessedDocument,
    attachment_path,
)
from data_plane.domain.records import (
    STAGE_EMBEDDED,
    STAGE_INDEXED,
    DocumentRecord,
    NewDocument,
    StoredChunk,
)
from data_plane.services.intake import AttachedFile, IntakeService, ReceivedFile
from data_plane.services.policy import PolicyService
from data_plane.services.processing import ParseAndScan
from frostbyte_common import logs
from frostbyte_common.tenant_config import ChunkingConfig

log = logging.getLogger(__name__)


@dataclass
class StageTimings:
    """Seconds spent per stage (fed to metrics and the benchmark)."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, started: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in self.seconds.items()}


class ProcessOutcome(StrEnum):
    """Where ``PipelineService.process`` left a document (a string: the stage it ended
    in, or the status of a document the job did not touch)."""

    EMBEDDED = "EMBEDDED"  # chunks and vectors saved; its index job is queued
    INDEXED = "INDEXED"  # done before (a repeated job): nothing to do
    FAILED = "FAILED"  # the parse failed, or nothing could be chunked
    REJECTED = "REJECTED"  # refused by the policy (PII_BLOCKED), or before this job
    QUARANTINED = "QUARANTINED"  # held back by the policy (safety), or before this job
    PURGED = "PURGED"  # purged before this job ran
    SCAN_PENDING = "SCAN_PENDING"  # held until its malware scan: never parsed before
    DELETED = "DELETED"  # erased before or while its job ran: nothing written


class PipelineStore(Documents, PipelineRecords, Protocol):
    """What the worker needs of the system of record."""


class IndexStore(Documents, Chunks, IndexModel, Protocol):
    """What the indexer needs of the system of record."""

    def replace_chunk_vectors(self, document_id: uuid.UUID, model: str,
                              vectors: Sequence[tuple[str, Sequence[float]]]) -> None: ...


def nothing_to_do(row: DocumentRecord | None) -> ProcessOutcome | None:
    """Pure: why a job has no work on this document (None: it has). EMBEDDED and INDEXED
    still need their index job queued (a job retried after the save)."""
    if row is None:  # erased before its job ran: nothing to do, nothing to retry
        return ProcessOutcome.DELETED
    if not row.in_pipeline:
        return ProcessOutcome(row.status.value)
    if row.reason is Reason.SCAN_PENDING:  # never parsed before it is scanned
        return ProcessOutcome.SCAN_PENDING
    if row.stage in (STAGE_EMBEDDED, STAGE_INDEXED):
        return ProcessOutcome(row.stage)
    return None


def released_from_quarantine(row: DocumentRecord) -> bool:
    """Pure: an admin released the document from a safety quarantine (index it this
    time)."""
    return row.safety_verdict == "RELEASED" or (
        row.status is DocStatus.ACCEPTED and row.safety_verdict == "QUARANTINE")


class PipelineService:
    """Parse and scan, chunk and embed one document, then hand it to the indexer.

    ``parser`` is either a ``DocumentProcessor`` that also scans (the isolated child in
    production; then ``policy`` must be None: the policy runs inside it), or a plain
    ``Parser`` that this service composes with ``policy`` in its own process — for tests
    whose doubles read nothing hostile."""

    def __init__(self, *, db: PipelineStore, store: ObjectStore,
                 parser: Parser | DocumentProcessor,
                 embedder: EmbeddingProvider, count_tokens: Callable[[str], int],
                 chunking: ChunkingConfig, queue: JobQueue, tenant: str,
                 work_dir: Path, ocr_languages: tuple[str, ...] = ("eng",),
                 policy: PolicyService | None = None,
                 intake: IntakeService | None = None,
                 metrics: PipelineMetrics | None = None,
                 active_embedder: Callable[[], EmbeddingProvider] | None = None) -> None:
        """``active_embedder``: the embedder of the collection active now (a re-embedding
        switches it), asked once per document; default: ``embedder`` always."""
        self._db = db
        self._metrics: PipelineMetrics = metrics or NoMetrics()
        self._active_embedder = active_embedder
        self._intake = intake
        self._store = store
        if callable(getattr(parser, "process", None)):
            if policy is not None:
                raise ValueError("the processor scans inside its sandbox; pass no policy")
            self._processor: DocumentProcessor = parser  # type: ignore[assignment]
        else:
            self._processor = ParseAndScan(parser, policy)  # type: ignore[arg-type]
        self._embedder = embedder
        self._count_tokens = count_tokens
        self._chunking = chunking
        self._queue = queue
        self._tenant = tenant
        self._work_dir = work_dir
        self._ocr_languages = ocr_languages

    def give_up(self, document_id: str, exc: BaseException) -> None:
        """End a document FAILED whose processing raised on its last attempt (the job
        runner calls this); a document that left the pipeline meanwhile is left alone."""
        log.error("document failed on every attempt", exc_info=exc,
                  extra={"document_id": document_id})
        if self._db.mark_failed(uuid.UUID(document_id), Reason.PARSE_FAILED,
                                give_up_detail(exc), None, {}):
            self._metrics.document_final(DocStatus.FAILED.value, Reason.PARSE_FAILED.value)

    def process(self, document_id: str,
                timings: StageTimings | None = None) -> ProcessOutcome:
        """Run the worker's part for one document, stage by stage: fetch → parse and scan
        (with its attachments through intake) → the policy's verdict → chunk → embed →
        save → queue the index job. Returns where the document ended."""
        timings = timings or StageTimings()
        with logs.bound(document_id=document_id):  # and its batch, once its row is read
            try:
                outcome = self._process(document_id, timings)
            finally:
                for stage, seconds in timings.seconds.items():
                    self._metrics.stage_seconds(stage, seconds)
            log.info("document processed: %s", outcome.value,
                     extra={"outcome": outcome.value, "stage_seconds": timings.rounded()})
            return outcome

    def _process(self, document_id: str, timings: StageTimings) -> ProcessOutcome:
        doc_uuid = uuid.UUID(document_id)
        row = self._db.get_document(doc_uuid)
        if row is not None:
            logs.bind(batch_id=str(row.batch_id))
        skipped = nothing_to_do(row)
        if skipped is not None:
            if skipped in (ProcessOutcome.EMBEDDED, ProcessOutcome.INDEXED):
                self._queue.enqueue_index(document_id)
            return skipped
        assert row is not None
        self._db.mark_processing(doc_uuid)
        parsed = self._parse_and_scan(row, timings)
        if isinstance(parsed, ProcessOutcome):
            return parsed
        if parsed.document.status is ParseStatus.FAILED:
            return self._parse_failed(doc_uuid, parsed.document, timings)
        doc = self._policy_verdict(row, parsed, timings)
        if isinstance(doc, ProcessOutcome):
            return doc
        chunks = self._chunk(doc, timings)
        if not chunks:
            return self._failed(doc_uuid, Reason.NO_TEXT_EXTRACTED,
                                "NO_TEXT_EXTRACTED: chunking produced no chunks", doc, timings)
        # one model per document: its vectors and the model they are saved under agree
        embedder = self._active_embedder() if self._active_embedder else self._embedder
        vectors = self._embed(embedder, chunks, timings)
        return self._save(embedder.model, doc_uuid, doc, chunks, vectors, timings)

    # -- stages ---------------------------------------------------------------------------

    def _parse_and_scan(self, row: DocumentRecord, timings: StageTimings
                        ) -> ProcessedDocument | ProcessOutcome:
        """Fetch the raw bytes to a scratch file and hand them to the processor (the
        sandbox); admit the attachments it extracted. DELETED when the document was erased
        meanwhile."""
        doc_uuid = row.document_id
        assert row.raw_key is not None and row.sha256 is not None  # an accepted document
        self._work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self._work_dir) as scratch:
            source = Path(scratch) / "source"
            with self._store.open(row.raw_key) as src, source.open("wb") as dst:
                while block := src.read(1 << 20):
                    dst.write(block)
            started = time.perf_counter()
            result = self._processor.process(ParseRequest(
                document_id=str(doc_uuid), tenant=self._tenant, path=source, name=row.name,
                mime_type=row.mime_type or "application/octet-stream", sha256=row.sha256,
                ocr_languages=self._ocr_languages,
                attachments_dir=Path(scratch) / "attachments"))
            # the sandbox's wall time is the parse's, less what its policy step reported
            policy_s = float(result.seconds.get("policy", 0.0))
            timings.add("parse", started + policy_s)
            if result.outcome is not None:
                timings.seconds["policy"] = timings.seconds.get("policy", 0.0) + policy_s
            if result.document.attachments and result.document.status is not ParseStatus.FAILED:
                # Each attachment is judged by intake and becomes a document of its own,
                # before this one can end (the batch then waits for it too).
                linked = self._admit_attachments(doc_uuid, row, Path(scratch) / "attachments",
                                                 result)
                if linked is None:
                    return ProcessOutcome.DELETED
                result = linked
        if row.parent_document_id:  # an attachment names the e-mail it came with
            parent = str(row.parent_document_id)
            result = result.map_documents(lambda d: d.model_copy(update={
                "metadata": {**d.metadata, "parent_document_id": parent}}))
        return result

    def _parse_failed(self, doc_uuid: uuid.UUID, doc: CanonicalDocument,
                      timings: StageTimings) -> ProcessOutcome:
        reason = failure_reason(doc)
        detail = "; ".join(e.message for e in doc.errors) or "parser reported failure"
        outcome = self._failed(doc_uuid, reason, detail, doc, timings)
        if outcome is ProcessOutcome.FAILED:
            log.info("document failed", extra={"document_id": str(doc_uuid),
                                               "reason": reason})
        return outcome

    def _failed(self, doc_uuid: uuid.UUID, reason: Reason, detail: str,
                doc: CanonicalDocument, timings: StageTimings) -> ProcessOutcome:
        if not self._db.mark_failed(doc_uuid, reason, detail, doc, timings.rounded()):
            return ProcessOutcome.DELETED
        self._metrics.document_final(DocStatus.FAILED.value, reason.value)
        return ProcessOutcome.FAILED

    def _policy_verdict(self, row: DocumentRecord, result: ProcessedDocument,
                        timings: StageTimings) -> CanonicalDocument | ProcessOutcome:
        """Record the policy's outcome; the (redacted) document to chunk, or where the
        document ended when the policy refused it. Without a policy step, the parse."""
        outcome = result.outcome
        if outcome is None:
            return result.document
        released = released_from_quarantine(row)
        if not self._db.record_policy(row.document_id, outcome, released=released):
            return ProcessOutcome.DELETED
        refusal = outcome.refusal(safety_released=released)
        if refusal is None:
            return outcome.document  # redacted before anything is chunked or embedded
        if not self._db.refuse(row.document_id, refusal.status, refusal.reason,
                               refusal.detail, timings.rounded()):
            return ProcessOutcome.DELETED
        self._metrics.document_final(refusal.status.value, refusal.reason.value)
        return ProcessOutcome(refusal.status.value)

    def _chunk(self, doc: CanonicalDocument, timings: StageTimings) -> list[Chunk]:
        started = time.perf_counter()
        options = ChunkingOptions(max_tokens=self._chunking.max_tokens,
                                  overlap_tokens=self._chunking.overlap_tokens)
        chunks = chunk_document(doc, options, self._count_tokens)
        timings.add("chunk", started)
        return chunks

    def _embed(self, embedder: EmbeddingProvider, chunks: list[Chunk],
               timings: StageTimings) -> list[list[float]]:
        started = time.perf_counter()
        vectors = embedder.embed_documents([embedding_text(c) for c in chunks])
        timings.add("embed", started)
        self._metrics.chunks_embedded(len(chunks), time.perf_counter() - started)
        return vectors

    def _save(self, model: ModelInfo, doc_uuid: uuid.UUID, doc: CanonicalDocument,
              chunks: list[Chunk], vectors: list[list[float]],
              timings: StageTimings) -> ProcessOutcome:
        """Write the canonical document, commit the chunks, queue the index job."""
        document_id = str(doc_uuid)
        started = time.perf_counter()
        doc = _with_lineage(doc, chunks, model.name)
        key = canonical_key(document_id)
        self._store.put_bytes(key, doc.to_json().encode("utf-8"))
        timings.add("commit", started)  # the object write; the row commit is cheap
        if not self._db.save_chunks(doc_uuid, doc, key, chunks, vectors, model,
                                    timings.rounded()):
            # Erased while this job ran: the erasure may have run before the object above
            # was written, so remove it here (idempotent either way).
            self._store.delete(key)
            log.info("document erased during processing", extra={"document_id": document_id})
            return ProcessOutcome.DELETED
        self._queue.enqueue_index(document_id)
        return ProcessOutcome.EMBEDDED

    def _admit_attachments(self, doc_uuid: uuid.UUID, row: DocumentRecord, folder: Path,
                           result: ProcessedDocument) -> ProcessedDocument | None:
        """Put the attachments the sandbox extracted through intake (the same per-file
        judgement as an upload); record each one's id and verdict on the e-mail's
        canonical document. None when the e-mail was erased meanwhile."""
        infos = result.document.attachments
        if self._intake is None:
            return result
        if self._db.attachment_depth(doc_uuid) >= MAX_NESTING:
            return _link(result, [None] * len(infos), skipped="NESTING_LIMIT")
        files: list[AttachedFile] = []
        for number, info in enumerate(infos, start=1):
            path = attachment_path(folder, number)
            if not path.is_file():
                return _link(result, [None] * len(infos), skipped="NOT_EXTRACTED")
            # size and hash are taken here, not believed from the sandbox
            size, sha = _size_and_sha256(path)
            files.append(AttachedFile(ReceivedFile(name=info.name, path=path, size=size,
                                                   sha256=sha), info.mime_type))
        rows = self._intake.admit_attachments(parent_id=doc_uuid, ordinal=row.ordinal,
                                              files=files)
        if rows is None:
            return None
        return _link(result, list(rows))


def _size_and_sha256(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _link(result: ProcessedDocument, rows: list[NewDocument | None], *,
          skipped: str | None = None) -> ProcessedDocument:
    """Pure: the attachments' child ids and intake verdicts (or why they were not admitted)
    on both the parsed and the redacted document."""
    def linked(doc: CanonicalDocument) -> CanonicalDocument:
        infos = tuple(
            info.model_copy(update={"skipped": skipped} if r is None else {
                "document_id": str(r.document_id),  # its row in the batch, whatever
                "intake_status": r.status.value,
                "reason": r.reason.value if r.reason else None})
            for info, r in zip(doc.attachments, rows, strict=True))
        return doc.model_copy(update={"attachments": infos})

    return result.map_documents(linked)


def give_up_detail(exc: BaseException) -> str:
    """Pure: what a vendor reads when processing failed on every attempt (a defect or a
    dependency down, not the file's own fault as far as anyone knows)."""
    what = " ".join(str(exc).split())[:300]
    return (f"PARSE_FAILED: processing failed on every attempt ({type(exc).__name__}"
            f"{': ' + what if what else ''}); the operator can see it in the worker's log — "
            "send the file again once they say it is fixed")


def failure_reason(doc: CanonicalDocument) -> Reason:
    """Pure: why a FAILED document failed, for the vendor. ``NO_TEXT_EXTRACTED`` only when
    every parser tried read the file and found no text (an image without words, a blank
    scan); a file some parser could not even open — damaged, encrypted — is PARSE_FAILED,
    whatever the later parsers of its chain said."""
    if doc.errors and all(e.message.startswith("NO_TEXT_EXTRACTED") for e in doc.errors):
        return Reason.NO_TEXT_EXTRACTED
    return Reason.PARSE_FAILED


def _with_lineage(doc: CanonicalDocument, chunks: list[Chunk], model: str) -> CanonicalDocument:
    now = datetime.now(UTC)
    step = LineageStep(stage="chunk+embed", component=model, version="1", started_at=now,
                       finished_at=now, details={"chunks": len(chunks)})
    return doc.model_copy(update={"lineage": (*doc.lineage, step)})


@dataclass(frozen=True, slots=True)
class ActiveCollection:
    """The collection search and the indexer use, with the embedder of its model: swapped
    whole by a re-embedding's switch, so a reader holding one never mixes two models."""

    name: str
    index: VectorIndex
    embedder: EmbeddingProvider

    @property
    def model(self) -> ModelInfo:
        return self.embedder.model


#: Opens a collection by name for a model (name) with that model's embedder.
CollectionOpener = Callable[[str, str], ActiveCollection]


class IndexService:
    """Projects committed chunks into the vector index and marks documents INDEXED.

    In the embedded default this runs in the one process that owns the local Qdrant
    folder; the collection can be rebuilt from PostgreSQL at any time. A re-embedding
    (:mod:`data_plane.services.reembed`) builds another collection and :meth:`switch_to`
    makes it the active one; a chunk still carrying the previous model's vector is
    embedded again with the active model before it is projected. ``opener`` lets a
    process that is not the one switching (a worker indexing into a Qdrant server) follow
    the active collection PostgreSQL records."""

    def __init__(self, *, db: IndexStore, index: VectorIndex,
                 embedder: EmbeddingProvider, collection: str,
                 opener: CollectionOpener | None = None,
                 metrics: PipelineMetrics | None = None) -> None:
        self._db = db
        self._metrics: PipelineMetrics = metrics or NoMetrics()
        self._active = ActiveCollection(collection, index, embedder)
        self._opener = opener
        self._lock = threading.Lock()
        self._ready = False

    @property
    def active(self) -> ActiveCollection:
        """The collection in use now (read it once and use that one throughout)."""
        return self._active

    @property
    def vector_index(self) -> VectorIndex:
        return self._active.index

    @property
    def lock(self) -> threading.Lock:
        """Serialises use of the index (Qdrant's local mode is not thread-safe)."""
        return self._lock

    def ensure(self) -> None:
        if self._ready:
            return
        active = self._active
        model = active.model
        with self._lock:
            active.index.ensure(model)
            self._db.record_index_model(active.name, model)
            self._ready = True

    def switch_to(self, new: ActiveCollection) -> ActiveCollection:
        """Make ``new`` the active collection (call with :attr:`lock` held, after
        PostgreSQL records it); the previous one, for the caller to drop."""
        old, self._active = self._active, new
        return old

    def follow_recorded(self) -> None:
        """Switch to the collection PostgreSQL names as active, when another process
        switched it (a no-op without an opener, or when it is the active one)."""
        if self._opener is None:
            return
        with self._lock:  # a switch in this process flips PostgreSQL and swaps under it
            recorded = self._db.recorded_index_model()
            if recorded is None or recorded.collection == self._active.name:
                return
            new = self._opener(recorded.collection, recorded.model)
            old = self.switch_to(new)
        log.info("following the switch to collection %s (%s)", new.name, new.model.name)
        old.index.close()

    def index(self, document_id: str) -> int:
        """Upsert the document's points; mark it INDEXED; drop superseded versions."""
        self.ensure()
        self.follow_recorded()
        doc_uuid = uuid.UUID(document_id)
        row = self._db.get_document(doc_uuid)
        if row is None or row.status is not DocStatus.PROCESSING or row.stage != STAGE_EMBEDDED:
            return 0
        started = time.perf_counter()
        written, points = self._project(doc_uuid, row, replace=True)
        seconds = time.perf_counter() - started
        superseded = self._db.mark_indexed(doc_uuid, points, seconds)
        if superseded is not None:
            self._metrics.stage_seconds("index", seconds)
            self._metrics.document_final(DocStatus.INDEXED.value, None)
        if superseded is None:
            # Erased between the read above and now: its erasure may have deleted the
            # points before they were written, so delete them again.
            with self._lock:
                self._active.index.delete_document(document_id)
            return 0
        with self._lock:
            for old in superseded:
                self._active.index.delete_document(str(old))
        while True:  # a switch between the upsert and now: project it there as well
            with self._lock:
                if self._active is written:
                    return points
            written, points = self._project(doc_uuid, row, replace=True)

    def _project(self, doc_uuid: uuid.UUID, row: DocumentRecord | None, *,
                 replace: bool = False) -> tuple[ActiveCollection, int]:
        """Upsert the document's points into the active collection (its chunks embedded
        again first when they carry another model's vectors); the collection written."""
        while True:
            active = self._active
            chunks = self._current_vectors(doc_uuid, active)
            points = index_points(chunks, row)
            with self._lock:
                if self._active is not active:
                    continue  # switched while embedding: do it for the new one
                if replace:
                    active.index.delete_document(str(doc_uuid))
                active.index.upsert(active.model, points)
            return active, len(points)

    def _current_vectors(self, doc_uuid: uuid.UUID,
                         active: ActiveCollection) -> list[StoredChunk]:
        chunks = self._db.document_chunks(doc_uuid)
        stale = [c for c in chunks if c.embedding_model != active.model.name]
        if not stale:
            return chunks
        vectors = active.embedder.embed_documents([embedding_text(c) for c in stale])
        fresh = {c.chunk_id: v for c, v in zip(stale, vectors, strict=True)}
        self._db.replace_chunk_vectors(doc_uuid, active.model.name, list(fresh.items()))
        return [dataclasses.replace(c, embedding_model=active.model.name,
                                    embedding=tuple(fresh[c.chunk_id]))
                if c.chunk_id in fresh else c for c in chunks]

    def restore_if_lost(self) -> int:
        """Rebuild an empty index while PostgreSQL has indexed documents (a new index folder
        or engine, a lost volume): the collection is a projection, never the record. Returns
        the points written (0 when nothing was lost)."""
        self.ensure()
        with self._lock:
            empty = self._active.index.count() == 0
        if not empty or next(iter(self._db.all_indexed_documents()), None) is None:
            return 0
        points = self.rebuild()
        log.warning("the vector index was empty: %d points re-projected from PostgreSQL", points)
        return points

    def rebuild(self) -> int:
        """Re-project every indexed document from PostgreSQL (e.g. after losing the folder)."""
        return self.reproject(self._db.all_indexed_documents())

    def reproject(self, document_ids: Iterable[uuid.UUID]) -> int:
        """Upsert the points of these indexed documents again from PostgreSQL (idempotent:
        point ids derive from chunk ids); returns how many points were written."""
        self.ensure()
        total = 0
        for doc_uuid in document_ids:
            total += self._project(doc_uuid, self._db.get_document(doc_uuid))[1]
        return total


def index_points(chunks: list[StoredChunk],
            document: DocumentRecord | None = None) -> list[IndexPoint]:
    """Pure: stored chunks → index points (payload carries ids and the document's class
    for filters, never text)."""
    doc_type = (document.doc_type if document else None) or ""
    sensitivity = (document.sensitivity if document else None) or ""
    parent = str((document.parent_document_id if document else None) or "")
    return [
        IndexPoint(
            point_id=point_id_for(c.chunk_id), vector=list(c.embedding),
            payload={"chunk_id": c.chunk_id, "document_id": str(c.document_id),
                     "batch_id": str(c.batch_id), "format": c.mime_type or "",
                     "page": c.page, "doc_type": doc_type, "sensitivity": sensitivity,
                     "parent_document_id": parent},
        )
        for c in chunks
    ]
