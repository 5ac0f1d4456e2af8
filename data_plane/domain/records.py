"""Typed records of the tenant's system of record: what the persistence ports
(``data_plane.domain.ports``) take and give back, instead of untyped rows.

Plain frozen dataclasses: every adapter of a port (PostgreSQL, the in-memory double of the
tests) builds the same records, so a service cannot tell them apart.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from data_plane.domain.intake import DocStatus, Reason

#: A document's pipeline stages (``documents.stage``), in order.
STAGE_RECEIVED = "RECEIVED"
STAGE_EMBEDDED = "EMBEDDED"
STAGE_INDEXED = "INDEXED"

#: Statuses of a document still in the pipeline: only these may be written by a job.
IN_PIPELINE = frozenset({DocStatus.ACCEPTED, DocStatus.PROCESSING})


@dataclass(frozen=True, slots=True)
class NewDocument:
    """A document's intake verdict, to record (an uploaded file or an attachment)."""

    document_id: uuid.UUID
    ordinal: int
    name: str
    sha256: str | None
    declared_sha256: str | None
    size: int | None
    declared_type: str | None
    mime_type: str | None
    metadata: dict[str, Any]
    status: DocStatus
    reason: Reason | None
    stored: bool
    duplicate_of: uuid.UUID | None
    raw_key: str | None
    detail: str | None = None
    held_reason: Reason | None = None  # a SCAN_PENDING file's verdict before its scan
    malware_signature: str | None = None
    parent_document_id: uuid.UUID | None = None  # the e-mail an attachment came with


@dataclass(frozen=True, slots=True)
class BatchRecord:
    batch_id: uuid.UUID
    client_ref: str
    idempotency_key: str | None
    key_id: str | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    """One document as recorded: its intake verdict, where the pipeline has it, what the
    parser and the policy step found."""

    document_id: uuid.UUID
    batch_id: uuid.UUID
    ordinal: int
    name: str
    status: DocStatus
    created_at: datetime
    updated_at: datetime
    sha256: str | None = None
    declared_sha256: str | None = None
    size: int | None = None
    declared_type: str | None = None
    mime_type: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    reason: Reason | None = None
    detail: str | None = None
    stored: bool = False
    duplicate_of: uuid.UUID | None = None
    stage: str = STAGE_RECEIVED
    raw_key: str | None = None
    canonical_key: str | None = None
    title: str | None = None
    parser: str | None = None
    parser_version: str | None = None
    parse_status: str | None = None
    page_count: int | None = None
    chunk_count: int | None = None
    superseded_by: uuid.UUID | None = None
    timings: dict[str, float] = field(default_factory=dict)
    held_reason: Reason | None = None
    malware_signature: str | None = None
    doc_type: str | None = None
    sensitivity: str | None = None
    classified_by: str | None = None
    safety_verdict: str | None = None
    safety_score: float | None = None
    safety_signals: list[dict[str, Any]] | None = None
    safety_detail: str | None = None
    pii_counts: dict[str, dict[str, int]] | None = None
    parent_document_id: uuid.UUID | None = None

    @property
    def in_pipeline(self) -> bool:
        """Still ACCEPTED or PROCESSING: a job may write it."""
        return self.status in IN_PIPELINE


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A committed chunk with its vector, and what the index payload needs of its
    document."""

    chunk_id: str
    document_id: uuid.UUID
    ordinal: int
    text: str
    content_sha256: str
    heading_path: tuple[str, ...]
    page: int | None
    pages: tuple[int, ...]
    sheet: str | None
    element_indexes: tuple[int, ...]
    token_count: int
    embedding_model: str
    embedding: tuple[float, ...]
    document_name: str
    batch_id: uuid.UUID
    mime_type: str | None


@dataclass(frozen=True, slots=True)
class ChunkText:
    """A chunk as search returns it: its text and hash read back from the system of
    record (only chunks of INDEXED, current documents)."""

    chunk_id: str
    document_id: uuid.UUID
    text: str
    content_sha256: str
    heading_path: tuple[str, ...]
    page: int | None
    sheet: str | None
    document_name: str


@dataclass(frozen=True, slots=True)
class VendorKeyRecord:
    """A live (unrevoked) vendor key: its id, the hash it must match, its scopes."""

    key_id: str
    key_sha256: str
    scopes: tuple[str, ...]
    label: str | None


@dataclass(frozen=True, slots=True)
class IndexModelRecord:
    """The embedding model the tenant's vector collection was made for."""

    collection: str
    model: str
    version: str
    dimension: int


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append: what happened; the chain adds sequence, time, id and hashes."""

    actor: str
    event_type: str
    subject_kind: str
    subject_id: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Query of ``GET /v1/audit/events``; every field narrows the result."""

    document_id: str | None = None
    batch_id: str | None = None
    event_type: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int = 0
    limit: int = 100
