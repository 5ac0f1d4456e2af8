"""An in-memory tenant database: every persistence port of the data plane
(``data_plane.domain.ports``) on plain Python containers, for fast service tests.

It is held to the PostgreSQL adapter's behaviour by ``tests/contract/test_persistence.py``:
the same records, the same conditional writes (a job never writes a document that left the
pipeline), the same audit events appended atomically with each change — the events form a
real hash chain (``frostbyte_common.audit_chain``), so ``verify_chain`` accepts it.

Every operation runs under one lock, as one transaction: on an exception inside it the
state is put back as it was (nothing written, no event appended). Timestamps mimic
PostgreSQL's ``now()``: one per transaction, strictly increasing between transactions.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from data_plane.domain.canonical import CanonicalDocument
from data_plane.domain.chunking import Chunk
from data_plane.domain.consistency import requeueable, requeued_event
from data_plane.domain.events import (
    failed_event,
    indexed_event,
    intake_event,
    policy_events,
    refusal_event,
    resolved_event_type,
    safety_signals,
    saved_events,
    stored_verdict,
)
from data_plane.domain.idempotency import DEFAULT_TTL_S, IdempotentBatch
from data_plane.domain.intake import DocStatus, Reason
from data_plane.domain.policy.outcome import PolicyOutcome
from data_plane.domain.ports import ModelInfo
from data_plane.domain.records import (
    STAGE_EMBEDDED,
    STAGE_INDEXED,
    STAGE_RECEIVED,
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
from data_plane.errors import IdempotencyKeyReused
from frostbyte_common.audit_chain import GENESIS_HASH, AuditEvent, next_event
from frostbyte_common.audit_checkpoint import Checkpoint
from frostbyte_common.canonical_json import sha256_hex

SUSPENDED = "tenant.suspended"
RESUMED = "tenant.resumed"


class UniqueViolation(Exception):
    """A second batch with the same id (PostgreSQL raises its own)."""


@dataclass(frozen=True, slots=True)
class _Chunk:
    chunk: Chunk
    vector: tuple[float, ...]
    model: str


@dataclass(frozen=True, slots=True)
class _Key:
    record: VendorKeyRecord
    revoked: bool = False


@dataclass
class _State:
    batches: dict[uuid.UUID, BatchRecord] = field(default_factory=dict)
    documents: dict[uuid.UUID, DocumentRecord] = field(default_factory=dict)
    chunks: dict[uuid.UUID, list[_Chunk]] = field(default_factory=dict)
    elements: dict[uuid.UUID, int] = field(default_factory=dict)
    pii_findings: dict[uuid.UUID, int] = field(default_factory=dict)
    vendor_keys: dict[str, _Key] = field(default_factory=dict)
    index_model: IndexModelRecord | None = None
    events: list[AuditEvent] = field(default_factory=list)
    checkpoints: dict[int, Checkpoint] = field(default_factory=dict)
    #: (vendor key id, Idempotency-Key) → the batch it names, and until when
    idempotency: dict[tuple[str, str], tuple[IdempotentBatch, datetime]] = field(
        default_factory=dict)

    def copy(self) -> _State:
        return _State(dict(self.batches), dict(self.documents), dict(self.chunks),
                      dict(self.elements), dict(self.pii_findings), dict(self.vendor_keys),
                      self.index_model, list(self.events), dict(self.checkpoints),
                      dict(self.idempotency))


class InMemoryTransaction:
    """The ``Transaction`` port: operations of one ``atomic()`` block."""

    def __init__(self, db: InMemoryTenantDatabase) -> None:
        self._db = db

    def lock_document(self, document_id: uuid.UUID) -> DocumentRecord | None:
        return self._db._state.documents.get(document_id)

    def child_documents(self, parent_id: uuid.UUID) -> list[uuid.UUID]:
        found: list[tuple[int, uuid.UUID]] = []
        level, depth = [parent_id], 1
        while level and depth <= 16:
            level = [d.document_id for d in self._db._state.documents.values()
                     if d.parent_document_id in level]
            found += [(depth, d) for d in level]
            depth += 1
        return [d for _, d in sorted(found, key=lambda f: -f[0])]

    def object_shared(self, key: str, document_id: uuid.UUID) -> bool:
        return any(d.raw_key == key and d.document_id != document_id
                   for d in self._db._state.documents.values())

    def erase_document(self, document_id: uuid.UUID) -> dict[str, int]:
        state = self._db._state
        removed = {"chunks": len(state.chunks.pop(document_id, [])),
                   "elements": state.elements.pop(document_id, 0),
                   "pii_findings": state.pii_findings.pop(document_id, 0)}
        state.documents.pop(document_id, None)
        return removed

    def append_audit(self, event: NewEvent) -> AuditEvent:
        return self._db._append([event])[0]


class InMemoryAuditTrail:
    """The ``AuditTrail`` port on the double's chain (``InMemoryTenantDatabase.audit``)."""

    def __init__(self, db: InMemoryTenantDatabase) -> None:
        self._db = db
        self.tenant = db.tenant

    def head(self) -> tuple[int, str]:
        return self._db.audit_head()

    def events(self, *, after_seq: int = 0, limit: int | None = None) -> list[AuditEvent]:
        return self._db.audit_events(after_seq=after_seq, limit=limit)

    def iter_events(self, *, after_seq: int = 0, limit: int | None = None,
                    until_seq: int | None = None, page: int = 10_000) -> Iterator[AuditEvent]:
        with self._db._tx():
            events = [e for e in self._db._state.events if e.seq > after_seq
                      and (until_seq is None or e.seq <= until_seq)]
        yield from events[:limit] if limit is not None else events

    def query(self, f: EventFilter) -> list[AuditEvent]:
        def matches(e: AuditEvent) -> bool:
            return (e.seq > f.after_seq
                    and (not f.document_id or (e.subject_kind == "document"
                                               and e.subject_id == f.document_id)
                         or e.payload.get("document_id") == f.document_id)
                    and (not f.batch_id or (e.subject_kind == "batch"
                                            and e.subject_id == f.batch_id)
                         or e.payload.get("batch_id") == f.batch_id)
                    and (not f.event_type or e.event_type == f.event_type)
                    and (not f.actor or e.actor == f.actor)
                    and (not f.since or e.occurred_at >= f.since)
                    and (not f.until or e.occurred_at < f.until))

        with self._db._tx():
            return [e for e in self._db._state.events if matches(e)][:f.limit]

    def leaf_hashes(self, tree_size: int) -> list[str]:
        with self._db._tx():
            return [e.hash for e in self._db._state.events if e.seq <= tree_size]

    def record(self, event: NewEvent) -> AuditEvent:
        with self._db._tx():
            return self._db._append([event])[0]

    def add_checkpoint(self, checkpoint: Checkpoint) -> bool:
        with self._db._tx():
            if checkpoint.tree_size in self._db._state.checkpoints:
                return False
            self._db._state.checkpoints[checkpoint.tree_size] = checkpoint
            return True

    def latest_checkpoint(self) -> Checkpoint | None:
        return self._db.latest_checkpoint()

    def checkpoint(self, tree_size: int) -> Checkpoint | None:
        with self._db._tx():
            return self._db._state.checkpoints.get(tree_size)

    def checkpoints(self) -> list[Checkpoint]:
        with self._db._tx():
            return [c for _, c in sorted(self._db._state.checkpoints.items())]


class InMemoryTenantDatabase:
    """Every persistence port of one tenant, in memory."""

    def __init__(self, tenant: str = "acme") -> None:
        self.tenant = tenant
        self._lock = threading.RLock()
        self._state = _State()
        self._clock = datetime.now(UTC)
        self._now = self._clock
        self._depth = 0
        self.audit = InMemoryAuditTrail(self)

    # -- transactions ----------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[None]:
        with self._lock:
            if self._depth:  # nested: part of the enclosing transaction
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            saved = self._state.copy()
            self._clock += timedelta(microseconds=1)
            self._now = self._clock
            self._depth = 1
            try:
                yield
            except BaseException:
                self._state = saved
                raise
            finally:
                self._depth = 0

    @contextmanager
    def atomic(self) -> Iterator[InMemoryTransaction]:
        with self._tx():
            yield InMemoryTransaction(self)

    def _append(self, new: Sequence[NewEvent]) -> list[AuditEvent]:
        events = self._state.events
        appended: list[AuditEvent] = []
        for e in new:
            seq, prev = (events[-1].seq, events[-1].hash) if events else (0, GENESIS_HASH)
            event = next_event(tenant=self.tenant, seq=seq + 1, prev_hash=prev, actor=e.actor,
                               event_type=e.event_type, subject_kind=e.subject_kind,
                               subject_id=e.subject_id, payload=e.payload,
                               occurred_at=datetime.now(UTC))
            events.append(event)
            appended.append(event)
        return appended

    def _update(self, document_id: uuid.UUID, **changes: Any) -> DocumentRecord:
        doc = dataclasses.replace(self._state.documents[document_id], updated_at=self._now,
                                  **changes)
        self._state.documents[document_id] = doc
        return doc

    def _in_pipeline(self, document_id: uuid.UUID) -> bool:
        doc = self._state.documents.get(document_id)
        return doc is not None and doc.in_pipeline

    # -- audit -----------------------------------------------------------------------------

    def audit_head(self) -> tuple[int, str]:
        with self._tx():
            events = self._state.events
            return (events[-1].seq, events[-1].hash) if events else (0, GENESIS_HASH)

    def audit_events(self, *, after_seq: int = 0, limit: int | None = None
                     ) -> list[AuditEvent]:
        with self._tx():
            events = [e for e in self._state.events if e.seq > after_seq]
        return events[:limit] if limit is not None else events

    def latest_checkpoint(self) -> Checkpoint | None:
        with self._tx():
            sizes = sorted(self._state.checkpoints)
            return self._state.checkpoints[sizes[-1]] if sizes else None

    def record_retrieval(self, actor: str, payload: dict[str, Any]) -> AuditEvent:
        with self._tx():
            return self._append([NewEvent(actor, "retrieval.performed", "query",
                                          payload["query_sha256"], payload)])[0]

    # -- suspension ------------------------------------------------------------------------

    def _suspended(self) -> bool:
        latest = next((e for e in reversed(self._state.events)
                       if e.event_type in (SUSPENDED, RESUMED)), None)
        return latest is not None and latest.event_type == SUSPENDED

    def suspended(self) -> bool:
        with self._tx():
            return self._suspended()

    def set_suspended(self, suspended: bool, *, actor: str) -> bool:
        with self._tx():
            if self._suspended() == suspended:
                return False
            self._append([NewEvent(actor, SUSPENDED if suspended else RESUMED, "tenant",
                                   self.tenant, {})])
            return True

    # -- vendor keys -----------------------------------------------------------------------

    def add_vendor_key(self, key_id: str, sha256: str, scopes: Sequence[str],
                       label: str | None) -> None:
        with self._tx():
            self._state.vendor_keys[key_id] = _Key(VendorKeyRecord(
                key_id=key_id, key_sha256=sha256, scopes=tuple(scopes), label=label))
            self._append([NewEvent("control-plane", "vendor_key.issued", "vendor_key", key_id,
                                   {"scopes": sorted(scopes)})])

    def revoke_vendor_key(self, key_id: str) -> bool:
        with self._tx():
            key = self._state.vendor_keys.get(key_id)
            if key is None or key.revoked:
                return False
            self._state.vendor_keys[key_id] = dataclasses.replace(key, revoked=True)
            self._append([NewEvent("control-plane", "vendor_key.revoked", "vendor_key",
                                   key_id, {})])
            return True

    def vendor_key(self, key_id: str) -> VendorKeyRecord | None:
        with self._tx():
            key = self._state.vendor_keys.get(key_id)
            return key.record if key is not None and not key.revoked else None

    # -- batches and intake ----------------------------------------------------------------

    def _insert(self, batch_id: uuid.UUID, d: NewDocument, actor: str) -> NewEvent | None:
        if d.document_id in self._state.documents:
            return None
        self._state.documents[d.document_id] = DocumentRecord(
            document_id=d.document_id, batch_id=batch_id, ordinal=d.ordinal, name=d.name,
            status=d.status, created_at=self._now, updated_at=self._now, sha256=d.sha256,
            declared_sha256=d.declared_sha256, size=d.size, declared_type=d.declared_type,
            mime_type=d.mime_type, metadata=dict(d.metadata), reason=d.reason,
            detail=d.detail, stored=d.stored, duplicate_of=d.duplicate_of,
            raw_key=d.raw_key, held_reason=d.held_reason,
            malware_signature=d.malware_signature, parent_document_id=d.parent_document_id)
        return intake_event(batch_id, d, actor)

    def idempotent_batch(self, key_id: str, idempotency_key: str) -> IdempotentBatch | None:
        with self._tx():
            claim = self._state.idempotency.get((key_id, idempotency_key))
            return claim[0] if claim is not None and claim[1] > self._now else None

    def keep_receipt(self, key_id: str, idempotency_key: str, batch_id: uuid.UUID,
                     receipt: dict[str, Any]) -> None:
        with self._tx():
            claim = self._state.idempotency.get((key_id, idempotency_key))
            if claim is not None and claim[0].batch_id == batch_id:
                self._state.idempotency[(key_id, idempotency_key)] = (
                    dataclasses.replace(claim[0], receipt=receipt), claim[1])

    def record_batch(self, *, batch_id: uuid.UUID, client_ref: str,
                     idempotency_key: str | None, key_id: str,
                     documents: Sequence[NewDocument], manifest_sha256: str | None = None,
                     idempotency_ttl_s: float = DEFAULT_TTL_S) -> None:
        with self._tx():
            if batch_id in self._state.batches:
                raise UniqueViolation(f"batch {batch_id} exists")
            if idempotency_key is not None:
                claim = (key_id, idempotency_key)
                live = self._state.idempotency.get(claim)
                if live is not None and live[1] > self._now:
                    raise IdempotencyKeyReused("this Idempotency-Key names a batch sent "
                                               "meanwhile")
                self._state.idempotency[claim] = (
                    IdempotentBatch(batch_id, manifest_sha256),
                    self._now + timedelta(seconds=idempotency_ttl_s))
            self._state.batches[batch_id] = BatchRecord(
                batch_id=batch_id, client_ref=client_ref, idempotency_key=idempotency_key,
                key_id=key_id, received_at=self._now)
            actor = f"vendor_key:{key_id}"
            events = [NewEvent(actor, "batch.received", "batch", str(batch_id),
                               {"client_ref": client_ref, "files": len(documents)})]
            events += [e for d in documents
                       if (e := self._insert(batch_id, d, actor)) is not None]
            self._append(events)

    def record_attachments(self, parent_id: uuid.UUID, documents: Sequence[NewDocument]
                           ) -> list[NewDocument] | None:
        with self._tx():
            parent = self._state.documents.get(parent_id)
            if parent is None or not parent.in_pipeline:
                return None
            inserted: list[NewDocument] = []
            events: list[NewEvent] = []
            for d in documents:
                event = self._insert(parent.batch_id, d, "pipeline")
                if event is not None:
                    inserted.append(d)
                    events.append(event)
            self._append(events)
            return inserted

    def get_batch(self, batch_id: uuid.UUID) -> BatchRecord | None:
        with self._tx():
            return self._state.batches.get(batch_id)

    def list_batches(self, *, limit: int, offset: int) -> list[BatchRecord]:
        with self._tx():
            batches = sorted(self._state.batches.values(),
                             key=lambda b: (-b.received_at.timestamp(), b.batch_id))
        return batches[offset:offset + limit]

    def batch_documents(self, batch_id: uuid.UUID) -> list[DocumentRecord]:
        def order(d: DocumentRecord) -> tuple[Any, ...]:
            number = d.metadata.get("attachment_number")
            return (d.ordinal, d.parent_document_id is not None, d.created_at,
                    (0, 0) if number is None else (1, int(number)), d.name)

        with self._tx():
            return sorted((d for d in self._state.documents.values()
                           if d.batch_id == batch_id), key=order)

    def get_document(self, document_id: uuid.UUID) -> DocumentRecord | None:
        with self._tx():
            return self._state.documents.get(document_id)

    def list_documents(self, *, limit: int, offset: int) -> list[DocumentRecord]:
        with self._tx():
            docs = sorted((d for d in self._state.documents.values()
                           if d.stored and d.duplicate_of is None),
                          key=lambda d: (-d.created_at.timestamp(), d.document_id))
        return docs[offset:offset + limit]

    def stored_document_by_sha(self, sha256: str) -> uuid.UUID | None:
        with self._tx():
            found = sorted((d for d in self._state.documents.values()
                            if d.sha256 == sha256 and d.stored and d.duplicate_of is None
                            and d.status is not DocStatus.PURGED),
                           key=lambda d: d.created_at)
        return found[0].document_id if found else None

    def attachment_depth(self, document_id: uuid.UUID) -> int:
        with self._tx():
            doc, depth = self._state.documents.get(document_id), 0
            while doc is not None and doc.parent_document_id is not None and depth < 16:
                doc = self._state.documents.get(doc.parent_document_id)
                depth += doc is not None
            return depth

    # -- held files and quarantine ---------------------------------------------------------

    def pending_documents(self, limit: int = 100) -> list[DocumentRecord]:
        with self._tx():
            held = sorted((d for d in self._state.documents.values()
                           if d.status is DocStatus.PROCESSING
                           and d.reason is Reason.SCAN_PENDING), key=lambda d: d.created_at)
        return held[:limit]

    def resolve_pending(self, document_id: uuid.UUID, *, status: DocStatus,
                        reason: Reason | None, detail: str | None, raw_key: str | None,
                        stored: bool, duplicate_of: uuid.UUID | None = None,
                        malware_signature: str | None = None) -> bool:
        with self._tx():
            doc = self._state.documents.get(document_id)
            if doc is None or doc.status is not DocStatus.PROCESSING or (
                    doc.reason is not Reason.SCAN_PENDING):
                return False
            self._update(document_id, status=status, reason=reason, detail=detail,
                         raw_key=raw_key, stored=stored, duplicate_of=duplicate_of,
                         malware_signature=malware_signature, held_reason=None)
            self._append([NewEvent(
                "scanner", resolved_event_type(status), "document", str(document_id),
                {"batch_id": str(doc.batch_id), "sha256": doc.sha256,
                 "reason": reason.value if reason else None, "after": "SCAN_PENDING"})])
            return True

    def quarantined(self, *, limit: int, offset: int) -> list[DocumentRecord]:
        with self._tx():
            docs = sorted((d for d in self._state.documents.values()
                           if d.status is DocStatus.QUARANTINED),
                          key=lambda d: (-d.created_at.timestamp(), d.document_id))
        return docs[offset:offset + limit]

    def release(self, document_id: uuid.UUID, *, actor: str,
                raw_key: str) -> DocumentRecord | None:
        with self._tx():
            doc = self._state.documents.get(document_id)
            if doc is None or doc.status is not DocStatus.QUARANTINED:
                return None
            doc = self._update(document_id, status=DocStatus.ACCEPTED, reason=None,
                               raw_key=raw_key, stored=True)
            self._append([NewEvent(actor, "document.released", "document", str(document_id),
                                   {"reason": None, "sha256": doc.sha256})])
            return doc

    def purge(self, document_id: uuid.UUID, *, actor: str) -> DocumentRecord | None:
        with self._tx():
            doc = self._state.documents.get(document_id)
            if doc is None or doc.status is not DocStatus.QUARANTINED:
                return None
            doc = self._update(document_id, status=DocStatus.PURGED, stored=False)
            self._append([NewEvent(
                actor, "document.purged", "document", str(document_id),
                {"reason": doc.reason.value if doc.reason else None, "sha256": doc.sha256})])
            return doc

    # -- pipeline --------------------------------------------------------------------------

    def mark_processing(self, document_id: uuid.UUID) -> None:
        with self._tx():
            doc = self._state.documents.get(document_id)
            if doc is not None and doc.status is DocStatus.ACCEPTED:
                self._update(document_id, status=DocStatus.PROCESSING)

    def mark_failed(self, document_id: uuid.UUID, reason: Reason, detail: str,
                    doc: CanonicalDocument | None, timings: dict[str, float]) -> bool:
        with self._tx():
            if not self._in_pipeline(document_id):
                return False
            self._update(document_id, status=DocStatus.FAILED, reason=reason,
                         detail=detail[:2000], parser=doc.parser if doc else None,
                         parser_version=doc.parser_version if doc else None,
                         parse_status=doc.status.value if doc else None,
                         timings=dict(timings))
            self._append([failed_event(document_id, reason, doc)])
            return True

    def record_policy(self, document_id: uuid.UUID, outcome: PolicyOutcome, *,
                      released: bool = False) -> bool:
        with self._tx():
            if not self._in_pipeline(document_id):
                return False
            verdict = stored_verdict(outcome, released)
            self._state.pii_findings[document_id] = len(outcome.pii.findings)
            self._update(document_id, doc_type=outcome.classification.doc_type.value,
                         sensitivity=outcome.classification.sensitivity.value,
                         classified_by=outcome.classification.source,
                         safety_verdict=verdict, safety_score=outcome.safety.score,
                         safety_signals=safety_signals(outcome),
                         safety_detail=outcome.safety.summary,
                         pii_counts=outcome.pii.counts())
            self._append(policy_events(document_id, outcome, verdict))
            return True

    def refuse(self, document_id: uuid.UUID, status: DocStatus, reason: Reason,
               detail: str, timings: dict[str, float]) -> bool:
        with self._tx():
            if not self._in_pipeline(document_id):
                return False
            self._state.chunks.pop(document_id, None)
            self._update(document_id, status=status, reason=reason, detail=detail[:2000],
                         timings=dict(timings))
            self._append([refusal_event(document_id, status, reason, detail)])
            return True

    def save_chunks(self, document_id: uuid.UUID, doc: CanonicalDocument, canonical_key: str,
                    chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]],
                    model: ModelInfo, timings: dict[str, float]) -> bool:
        with self._tx():
            if not self._in_pipeline(document_id):
                return False
            self._state.chunks[document_id] = [
                _Chunk(c, tuple(float(x) for x in v), model.name)
                for c, v in zip(chunks, vectors, strict=True)]
            self._state.elements[document_id] = len(doc.elements)
            self._update(document_id, stage=STAGE_EMBEDDED, status=DocStatus.PROCESSING,
                         canonical_key=canonical_key, title=doc.title, parser=doc.parser,
                         parser_version=doc.parser_version, parse_status=doc.status.value,
                         page_count=doc.page_count, chunk_count=len(chunks),
                         timings=dict(timings))
            self._append(saved_events(document_id, doc, chunks, model))
            return True

    def document_chunks(self, document_id: uuid.UUID) -> list[StoredChunk]:
        with self._tx():
            doc = self._state.documents.get(document_id)
            if doc is None:
                return []
            return [StoredChunk(
                chunk_id=s.chunk.chunk_id, document_id=document_id, ordinal=s.chunk.ordinal,
                text=s.chunk.text, content_sha256=sha256_hex(s.chunk.text),
                heading_path=tuple(s.chunk.heading_path), page=s.chunk.page,
                pages=tuple(s.chunk.pages), sheet=s.chunk.sheet,
                element_indexes=tuple(s.chunk.element_indexes),
                token_count=s.chunk.token_count, embedding_model=s.model,
                embedding=s.vector, document_name=doc.name, batch_id=doc.batch_id,
                mime_type=doc.mime_type)
                for s in sorted(self._state.chunks.get(document_id, []),
                                key=lambda s: s.chunk.ordinal)]

    def mark_indexed(self, document_id: uuid.UUID, points: int,
                     index_seconds: float) -> list[uuid.UUID] | None:
        with self._tx():
            doc = self._state.documents.get(document_id)
            if doc is None or doc.status is not DocStatus.PROCESSING:
                return None
            doc = self._update(document_id, stage=STAGE_INDEXED, status=DocStatus.INDEXED,
                               timings={**doc.timings, "index": round(index_seconds, 4)})
            old = [d.document_id for d in sorted(self._state.documents.values(),
                                                 key=lambda d: d.created_at)
                   if d.name == doc.name and d.sha256 is not None and doc.sha256 is not None
                   and d.sha256 != doc.sha256 and d.stored
                   and d.status is DocStatus.INDEXED and d.superseded_by is None
                   and d.document_id != document_id]
            for old_id in old:
                self._update(old_id, superseded_by=document_id)
            self._append([indexed_event(document_id, points, old)])
            for old_id in old:
                self._state.chunks.pop(old_id, None)
            return old

    def chunks_by_ids(self, chunk_ids: Sequence[str]) -> dict[str, ChunkText]:
        wanted = set(chunk_ids)
        with self._tx():
            found: dict[str, ChunkText] = {}
            for document_id, stored in self._state.chunks.items():
                doc = self._state.documents[document_id]
                if doc.status is not DocStatus.INDEXED or doc.superseded_by is not None:
                    continue
                for s in stored:
                    if s.chunk.chunk_id in wanted:
                        found[s.chunk.chunk_id] = ChunkText(
                            chunk_id=s.chunk.chunk_id, document_id=document_id,
                            text=s.chunk.text, content_sha256=sha256_hex(s.chunk.text),
                            heading_path=tuple(s.chunk.heading_path), page=s.chunk.page,
                            sheet=s.chunk.sheet, document_name=doc.name)
            return found

    def all_indexed_documents(self) -> list[uuid.UUID]:
        with self._tx():
            return [d.document_id for d in sorted(self._state.documents.values(),
                                                  key=lambda d: d.created_at)
                    if d.status is DocStatus.INDEXED and d.superseded_by is None]

    # -- consistency (``frostbyte doctor``) -------------------------------------------------

    def documents_naming_objects(self) -> list[DocumentRecord]:
        with self._tx():
            return sorted((d for d in self._state.documents.values()
                           if d.raw_key is not None or d.canonical_key is not None),
                          key=lambda d: (d.created_at, str(d.document_id)))

    def projected_chunk_ids(self) -> dict[uuid.UUID, tuple[str, list[str]]]:
        with self._tx():
            return {d.document_id: (d.stage, [c.chunk.chunk_id for c in chunks])
                    for d in self._state.documents.values()
                    if d.superseded_by is None and (
                        (d.stage == STAGE_EMBEDDED and d.status is DocStatus.PROCESSING)
                        or (d.stage == STAGE_INDEXED and d.status is DocStatus.INDEXED))
                    and (chunks := self._state.chunks.get(d.document_id))}

    def requeue_document(self, document_id: uuid.UUID, *, actor: str) -> bool:
        with self._tx():
            before = self._state.documents.get(document_id)
            if before is None or not requeueable(before):
                return False
            self._update(document_id, status=DocStatus.ACCEPTED, stage=STAGE_RECEIVED)
            self._append([requeued_event(before, actor)])
            return True

    # -- vector index identity -------------------------------------------------------------

    def recorded_index_model(self) -> IndexModelRecord | None:
        with self._tx():
            return self._state.index_model

    def record_index_model(self, collection: str, model: ModelInfo) -> None:
        with self._tx():
            if self._state.index_model is None:
                self._state.index_model = IndexModelRecord(
                    collection=collection, model=model.name, version=model.version,
                    dimension=model.dimension)
