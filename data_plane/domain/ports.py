"""Ports of the data plane: what the services need from the outside world.

Each port has a real adapter in ``data_plane.adapters`` and one contract test in
``tests/contract`` that every adapter of the port must pass.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from data_plane.domain.canonical import CanonicalDocument
from data_plane.domain.chunking import Chunk
from data_plane.domain.embedding_models import ReembedRecord
from data_plane.domain.idempotency import DEFAULT_TTL_S, IdempotentBatch
from data_plane.domain.intake import DocStatus, Reason
from data_plane.domain.intake_content import Sniffed
from data_plane.domain.policy.outcome import PolicyOutcome
from data_plane.domain.records import (
    BatchRecord,
    ChunkText,
    DocumentRecord,
    EventFilter,
    IndexModelRecord,
    NewDocument,
    NewEvent,
    StoredChunk,
    VendorKeyRecord,
)
from frostbyte_common.audit_chain import AuditEvent
from frostbyte_common.audit_checkpoint import Checkpoint


class ObjectStore(Protocol):
    """Blob storage under one tenant's root. Keys are '/'-separated relative paths."""

    def put_file(self, key: str, source: Path, *, move: bool = False) -> None:
        """Store the file at ``source`` under ``key`` atomically (replace if present).
        ``move=True``: the caller gives ``source`` up (a scratch file); the store may take
        it over instead of copying it, and ``source`` may be gone afterwards."""

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically."""

    def open(self, key: str) -> BinaryIO:
        """Open the object for streaming reads; raises ``ObjectNotFound``."""

    def get_bytes(self, key: str) -> bytes:
        """Read a (small) object whole; raises ``ObjectNotFound``."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> bool:
        """Delete the object; deleting a missing key is not an error. True when an object
        was there (erasure reports what it removed)."""

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys under ``prefix``, sorted."""

    def ping(self) -> bool:
        """Whether the store answers now (readiness); never raises."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Identity of an embedding model: vectors of two models never share a collection."""

    name: str
    version: str
    dimension: int


class EmbeddingProvider(Protocol):
    """Turns texts into vectors. Documents and queries may be embedded differently
    (e.g. nomic's ``search_document:`` / ``search_query:`` prefixes)."""

    @property
    def model(self) -> ModelInfo: ...

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


@dataclass(frozen=True, slots=True)
class IndexPoint:
    point_id: str  # a UUID string derived from the chunk id
    vector: list[float]
    payload: dict[str, object]


@dataclass(frozen=True, slots=True)
class IndexHit:
    point_id: str
    score: float
    payload: dict[str, object]


@dataclass(frozen=True, slots=True)
class IndexFilter:
    """Exact-match filters on payload keys; a list value means 'any of'."""

    must: dict[str, list[str]] = field(default_factory=dict)


class VectorIndex(Protocol):
    """One tenant's vector collection, bound to one embedding model."""

    def ensure(self, model: ModelInfo) -> None:
        """Create the collection for ``model`` or check that it was made for it
        (raises ``ModelMismatch`` otherwise)."""

    def upsert(self, model: ModelInfo, points: Sequence[IndexPoint]) -> None:
        """Write points (idempotent by point id); refuses vectors of another model."""

    def delete_document(self, document_id: str) -> int:
        """Delete every point of the document; returns how many there were (0 for none,
        or when the collection does not exist yet)."""

    def search(
        self, model: ModelInfo, vector: list[float], top_k: int, flt: IndexFilter | None = None
    ) -> list[IndexHit]: ...

    def count(self, document_id: str | None = None) -> int: ...

    def point_ids(self) -> Iterator[str]:
        """Every point id in the index (any order; none when the collection does not exist)."""

    def delete_points(self, point_ids: Sequence[str]) -> int:
        """Delete these points; returns how many were there."""

    def close(self) -> None: ...

    def drop(self) -> None:
        """Close the collection and delete it with every point (a collection left behind
        by a re-embedding); dropping one that does not exist is not an error."""


@dataclass(frozen=True, slots=True)
class ParseRequest:
    document_id: str
    tenant: str
    path: Path
    name: str
    mime_type: str
    sha256: str
    ocr_languages: tuple[str, ...] = ("eng",)
    #: Where an e-mail's attachments are written (the job's scratch folder, so that the
    #: worker can put each through intake); None: they are only listed.
    attachments_dir: Path | None = None


class Parser(Protocol):
    """Turns one file into a canonical document. Never raises for a bad document: a
    failure is a ``CanonicalDocument`` with status FAILED and error items."""

    name: str

    def parse(self, request: ParseRequest) -> CanonicalDocument: ...


class ContentSniffer(Protocol):
    """Reads what a received file is by its bytes, never its name (libmagic and the zip
    central directory, not read past ``max_entries`` members)."""

    def __call__(self, path: Path, *, max_entries: int) -> Sniffed: ...


class JobQueue(Protocol):
    """Durable pipeline jobs. Enqueueing a job that is already waiting is a no-op."""

    def enqueue_process(self, document_id: str) -> None:
        """Parse, chunk and embed one accepted document."""

    def enqueue_index(self, document_id: str) -> None:
        """Project one embedded document's chunks into the vector index."""


# -- persistence: the tenant's system of record ----------------------------------------------
#
# Split by concern; each service asks for the few it uses (a Protocol combining them), and
# ``TenantDatabase`` (PostgreSQL) implements them all, as does the in-memory double of the
# tests (``tests/doubles/persistence.py``); ``tests/contract/test_persistence.py`` holds both
# to the same behaviour. Every write that changes a document's state appends its audit event
# in the same transaction: the trail and the state never disagree.


class AuditLog(Protocol):
    """The tenant's audit chain as the services that are not its keeper read it."""

    def audit_head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the newest event; ``(0, GENESIS_HASH)`` for an empty chain."""

    def audit_events(self, *, after_seq: int = 0, limit: int | None = None
                     ) -> list[AuditEvent]:
        """Events in chain order after ``after_seq``."""

    def latest_checkpoint(self) -> Checkpoint | None: ...


class RetrievalLog(Protocol):
    def record_retrieval(self, actor: str, payload: dict[str, Any]) -> AuditEvent:
        """Append (and commit) the ``retrieval.performed`` event of one search."""


class Transaction(Protocol):
    """The operations that must share one transaction (the unit of work of an erasure):
    locks taken here are held until it ends; nothing is written unless it commits."""

    def lock_document(self, document_id: uuid.UUID) -> DocumentRecord | None:
        """The document, locked until the transaction ends (the pipeline's writes of it
        wait, then find it gone); None when there is none."""

    def child_documents(self, parent_id: uuid.UUID) -> list[uuid.UUID]:
        """The attachments of a document, and theirs, deepest first."""

    def object_shared(self, key: str, document_id: uuid.UUID) -> bool:
        """Whether a document other than ``document_id`` names the object ``key``."""

    def erase_document(self, document_id: uuid.UUID) -> dict[str, int]:
        """Delete the document and every row derived from it; how many of each kind
        (``chunks``, ``elements``, ``pii_findings``) went."""

    def append_audit(self, event: NewEvent) -> AuditEvent:
        """Append one event to the chain, committed with the rest or not at all."""


class UnitOfWork(Protocol):
    def atomic(self) -> AbstractContextManager[Transaction]:
        """One transaction: committed when the block ends, rolled back (nothing written,
        no event appended) when it raises."""


class Batches(Protocol):
    def idempotent_batch(self, key_id: str, idempotency_key: str) -> IdempotentBatch | None:
        """The batch the vendor key ``key_id`` sent under ``idempotency_key``, while that
        key lives (None once it expired, or when another vendor key used the value)."""

    def keep_receipt(self, key_id: str, idempotency_key: str, batch_id: uuid.UUID,
                     receipt: dict[str, Any]) -> None:
        """Keep the receipt first answered for the batch its key names, for replays."""

    def get_batch(self, batch_id: uuid.UUID) -> BatchRecord | None: ...

    def list_batches(self, *, limit: int, offset: int) -> list[BatchRecord]:
        """Newest first."""

    def batch_documents(self, batch_id: uuid.UUID) -> list[DocumentRecord]:
        """In manifest order; an e-mail's attachments right after it, in their order."""

    def record_batch(self, *, batch_id: uuid.UUID, client_ref: str,
                     idempotency_key: str | None, key_id: str,
                     documents: Sequence[NewDocument], manifest_sha256: str | None = None,
                     idempotency_ttl_s: float = DEFAULT_TTL_S) -> None:
        """Record the batch and every verdict with their audit events, atomically
        (``batch.received`` first). With ``idempotency_key``, the key of ``key_id`` names
        the batch, bound to ``manifest_sha256``, for ``idempotency_ttl_s`` seconds (an
        expired one is taken over); while it names another batch: ``IdempotencyKeyReused``
        and nothing is written."""


class Documents(Protocol):
    def get_document(self, document_id: uuid.UUID) -> DocumentRecord | None: ...

    def list_documents(self, *, limit: int, offset: int) -> list[DocumentRecord]:
        """Stored, non-duplicate documents, newest first."""

    def stored_document_by_sha(self, sha256: str) -> uuid.UUID | None:
        """The live stored document with these bytes (what a new copy is a DUPLICATE of)."""

    def attachment_depth(self, document_id: uuid.UUID) -> int:
        """How many e-mails up the document's parent chain is (0: an uploaded file)."""


class Attachments(Protocol):
    def record_attachments(self, parent_id: uuid.UUID, documents: Sequence[NewDocument]
                           ) -> list[NewDocument] | None:
        """Record an e-mail's attachments' verdicts in its batch, with their events, while
        the e-mail is still in the pipeline. Idempotent: the ones inserted now; None when
        the e-mail left the pipeline (erased meanwhile)."""


class HeldFiles(Protocol):
    """Files held as SCAN_PENDING until the malware scanner answers."""

    def pending_documents(self, limit: int = 100) -> list[DocumentRecord]:
        """Held files, oldest first."""

    def resolve_pending(self, document_id: uuid.UUID, *, status: DocStatus,
                        reason: Reason | None, detail: str | None, raw_key: str | None,
                        stored: bool, duplicate_of: uuid.UUID | None = None,
                        malware_signature: str | None = None) -> bool:
        """Move a held file to its verdict (audited, actor ``scanner``); False when it was
        not held (any more)."""


class Quarantine(Protocol):
    def quarantined(self, *, limit: int, offset: int) -> list[DocumentRecord]:
        """Quarantined documents, newest first."""

    def release(self, document_id: uuid.UUID, *, actor: str,
                raw_key: str) -> DocumentRecord | None:
        """QUARANTINED → ACCEPTED with its bytes at ``raw_key`` (``document.released``);
        the document as released, or None when it was not quarantined."""

    def purge(self, document_id: uuid.UUID, *, actor: str) -> DocumentRecord | None:
        """QUARANTINED → PURGED (``document.purged``); the document as purged, or None
        when it was not quarantined."""


class PipelineRecords(Protocol):
    """The worker's writes. Each is conditional on the document still being in the pipeline
    (False / nothing written once it was erased), and appends its events atomically."""

    def mark_processing(self, document_id: uuid.UUID) -> None:
        """ACCEPTED → PROCESSING (nothing else changes)."""

    def mark_failed(self, document_id: uuid.UUID, reason: Reason, detail: str,
                    doc: CanonicalDocument | None, timings: dict[str, float]) -> bool:
        """End the document FAILED (``document.parse_failed``)."""

    def record_policy(self, document_id: uuid.UUID, outcome: PolicyOutcome, *,
                      released: bool = False) -> bool:
        """Replace its PII findings and policy columns (``document.classified``, then
        ``document.pii_redacted``/``pii_flagged`` when there are findings). A document
        released from a safety quarantine keeps the verdict ``RELEASED``."""

    def refuse(self, document_id: uuid.UUID, status: DocStatus, reason: Reason,
               detail: str, timings: dict[str, float]) -> bool:
        """End it REJECTED or QUARANTINED by the policy, never indexed."""

    def save_chunks(self, document_id: uuid.UUID, doc: CanonicalDocument, canonical_key: str,
                    chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]],
                    model: ModelInfo, timings: dict[str, float]) -> bool:
        """Replace its elements and chunks (with vectors), stage EMBEDDED
        (``document.parsed``, ``document.embedded``)."""


class Chunks(Protocol):
    def document_chunks(self, document_id: uuid.UUID) -> list[StoredChunk]:
        """The document's chunks in order."""

    def chunks_by_ids(self, chunk_ids: Sequence[str]) -> dict[str, ChunkText]:
        """Those of the chunks that search may show (their document INDEXED, current)."""

    def mark_indexed(self, document_id: uuid.UUID, points: int,
                     index_seconds: float) -> list[uuid.UUID] | None:
        """EMBEDDED → INDEXED (``document.indexed``); older versions (same name, other
        bytes, INDEXED) are superseded, lose their chunks and are returned. None when the
        document was not waiting to be indexed."""

    def all_indexed_documents(self) -> list[uuid.UUID]:
        """Documents search may show, oldest first."""


class IndexModel(Protocol):
    def recorded_index_model(self) -> IndexModelRecord | None: ...

    def record_index_model(self, collection: str, model: ModelInfo) -> None:
        """Record the collection's model once; the first record stays."""


class EmbeddingCollections(Protocol):
    """Re-embedding (issue 18): the vectors of a collection being built, kept apart from
    the active ones in ``chunks.embedding`` until one transaction flips the active
    collection and moves them in."""

    def start_reembed(self, reembed_id: uuid.UUID, collection: str, model: ModelInfo, *,
                      actor: str) -> ReembedRecord:
        """Record a running re-embedding into ``collection``; ``ReembedInProgress`` when
        one is running already."""

    def reembed(self, reembed_id: uuid.UUID | None = None) -> ReembedRecord | None:
        """The re-embedding with this id, or the latest one (None: there is none)."""

    def chunks_to_reembed(self, collection: str, limit: int) -> list[StoredChunk]:
        """Chunks of documents search may show that have no vector for ``collection`` yet,
        at most ``limit``, in a stable order."""

    def chunks_with_vectors(self, collection: str, document_ids: Sequence[uuid.UUID]
                            ) -> list[StoredChunk]:
        """The chunks of these documents with their vectors of ``collection`` (those
        that have one)."""

    def save_collection_vectors(self, reembed_id: uuid.UUID, collection: str, model: str,
                                vectors: Sequence[tuple[str, Sequence[float]]]) -> int:
        """Keep these ``(chunk_id, vector)`` for ``collection`` (a chunk erased meanwhile is
        skipped) and count them as done; how many were kept."""

    def count_reembed_total(self, reembed_id: uuid.UUID) -> int:
        """Record how many chunks it has in all (done, and still to do); that number."""

    def visible_chunk_ids(self) -> set[str]:
        """The ids of every chunk search may show (what a collection must hold)."""

    def interrupted_reembeds(self) -> list[ReembedRecord]:
        """End FAILED (forgetting their vectors) the re-embeddings still RUNNING when a
        data plane starts (the process that ran them stopped); those."""

    def switch_collection(self, reembed_id: uuid.UUID, collection: str,
                          model: ModelInfo) -> None:
        """In one transaction: ``chunks.embedding`` takes the collection's vectors, the
        active collection becomes ``collection`` (``vector_index``), the re-embedding ends
        SWITCHED, ``embedding.switched`` is appended to the audit chain."""

    def fail_reembed(self, reembed_id: uuid.UUID, error: str) -> None:
        """End it FAILED and forget its vectors (the active collection is untouched)."""

    def replace_chunk_vectors(self, document_id: uuid.UUID, model: str,
                              vectors: Sequence[tuple[str, Sequence[float]]]) -> None:
        """Replace the vectors of the document's chunks with ``model``'s (a document
        embedded with the model of the collection that was active before a switch)."""


class ConsistencyRecords(Protocol):
    """What the consistency check (``frostbyte doctor``) reads of the system of record to
    compare it with the object store and the index, and its one repair write."""

    def documents_naming_objects(self) -> list[DocumentRecord]:
        """Every document whose row names an object (a raw, pending or quarantine key, or
        its canonical JSON), whatever its status."""

    def projected_chunk_ids(self) -> dict[uuid.UUID, tuple[str, list[str]]]:
        """For each current document at stage EMBEDDED or INDEXED: its stage and chunk ids,
        read in one snapshot (the points the indexer may have written)."""

    def requeue_document(self, document_id: uuid.UUID, *, actor: str) -> bool:
        """Send a current document back to the start of the pipeline (ACCEPTED, stage
        RECEIVED: parsed, chunked and indexed again), audited ``document.requeued``; False,
        nothing written, when it is not ACCEPTED, PROCESSING or INDEXED, is held for its
        scan, or was superseded."""


class WaitingJobs(Protocol):
    """The pipeline jobs that will still run (waiting, retrying or running)."""

    def documents_with_waiting_jobs(self) -> set[uuid.UUID]:
        """Documents that have such a job, on any queue."""


class VendorKeys(Protocol):
    def add_vendor_key(self, key_id: str, sha256: str, scopes: Sequence[str],
                       label: str | None) -> None:
        """Issue (or re-issue, unrevoking) a key (``vendor_key.issued``)."""

    def revoke_vendor_key(self, key_id: str) -> bool:
        """Revoke a live key (``vendor_key.revoked``); False when none was live."""

    def vendor_key(self, key_id: str) -> VendorKeyRecord | None:
        """The live key with this id; None when unknown or revoked."""


class TenantState(Protocol):
    """Suspension (SPEC §3): the latest ``tenant.suspended`` / ``tenant.resumed`` event of
    the audit chain decides."""

    def suspended(self) -> bool: ...

    def set_suspended(self, suspended: bool, *, actor: str) -> bool:
        """Record the change (audited); False, nothing appended, when it is already so."""


class AuditTrail(Protocol):
    """The audit chain as its keeper (``AuditService``) uses it: reads, checkpoints and
    events that record no other change."""

    tenant: str

    def head(self) -> tuple[int, str]: ...

    def events(self, *, after_seq: int = 0, limit: int | None = None) -> list[AuditEvent]: ...

    def iter_events(self, *, after_seq: int = 0, limit: int | None = None,
                    until_seq: int | None = None, page: int = 10_000
                    ) -> Iterator[AuditEvent]: ...

    def query(self, f: EventFilter) -> list[AuditEvent]: ...

    def leaf_hashes(self, tree_size: int) -> list[str]: ...

    def record(self, event: NewEvent) -> AuditEvent:
        """Append one event in a transaction of its own."""

    def add_checkpoint(self, checkpoint: Checkpoint) -> bool: ...

    def latest_checkpoint(self) -> Checkpoint | None: ...

    def checkpoint(self, tree_size: int) -> Checkpoint | None: ...

    def checkpoints(self) -> list[Checkpoint]: ...


class PipelineMetrics(Protocol):
    """What the services report for Prometheus (the adapter,
    :mod:`data_plane.adapters.metrics`, keeps the figures, shared between the API and the
    worker; ``GET /metrics`` serves them). Cheap, never raises."""

    def stage_seconds(self, stage: str, seconds: float) -> None:
        """Time one document spent in a stage: scan, parse, policy, chunk, embed, commit,
        index."""
        ...

    def document_final(self, status: str, reason: str | None) -> None:
        """A document reached a final status (INDEXED, REJECTED, QUARANTINED, FAILED), with
        its reason."""
        ...

    def chunks_embedded(self, chunks: int, seconds: float) -> None:
        """``chunks`` embedded in ``seconds`` (chunks per second is their rate's ratio)."""
        ...

    def intake_document(self, status: str, reason: str | None) -> None:
        """One file of a batch judged at intake (its first status)."""
        ...


class NoMetrics:
    """:class:`PipelineMetrics` that keeps nothing (a service built without metrics)."""

    def stage_seconds(self, stage: str, seconds: float) -> None:
        pass

    def document_final(self, status: str, reason: str | None) -> None:
        pass

    def chunks_embedded(self, chunks: int, seconds: float) -> None:
        pass

    def intake_document(self, status: str, reason: str | None) -> None:
        pass


class MetricsExporter(PipelineMetrics, Protocol):
    """The metrics' own side, for the API: requests, and the scrape."""

    content_type: str

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One HTTP request, by its route's template (``/v1/batches/{batch_id}``)."""
        ...

    def exposition(self) -> bytes:
        """Every figure of every process of the tenant, in Prometheus' text format."""
        ...
