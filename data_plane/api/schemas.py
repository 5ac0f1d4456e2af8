"""The vendor API's response bodies (SPEC §9), as the OpenAPI document publishes them: each
route answers one of these, so a generated client gets typed objects. The services build
plain dicts and their own models; a route's ``response_model`` validates and serializes
them into these (the field names are the contract: add, never rename).

Statuses and reasons are the domain's enums (:mod:`data_plane.domain.intake`), published
as ``DocStatus``, ``Reason`` and ``BatchStatus`` with their wire values. Models whose content
the services may extend (a report's counts, an audit payload) allow extra fields, so that a
field added there is never dropped here."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from data_plane.domain.intake import BatchStatus, DocStatus, Manifest, Reason

_DOCUMENT_ID = "The document's id; for a DUPLICATE, the existing document's."
_SHA256 = "SHA-256 (hex) of the bytes the server received."
_STATUS = "The document's status (SPEC §9: REJECTED, QUARANTINED, FAILED, ACCEPTED → " \
          "PROCESSING → INDEXED, PURGED)."
_REASON = "Why a document was not indexed (or SCAN_PENDING while PROCESSING); null otherwise."
_LIMIT = "The page size asked for."
_OFFSET = "How many items were skipped."


class _Open(BaseModel):
    """A body whose producer may add fields: they are passed on, not dropped."""

    model_config = ConfigDict(extra="allow")


# --- intake -----------------------------------------------------------------------------------

class ReceiptDocument(BaseModel):
    """One file of a batch and its intake verdict."""

    name: str = Field(description="The file's name as the manifest gave it (escaped when "
                                  "it holds characters that cannot be stored).")
    document_id: str | None = Field(None, description=_DOCUMENT_ID + " Absent when no bytes "
                                                      "were stored.")
    sha256: str | None = Field(None, description=_SHA256)
    declared_sha256: str | None = Field(None, description="The manifest's SHA-256.")
    status: DocStatus = Field(description=_STATUS)
    reason: Reason | None = Field(None, description=_REASON)
    parent_document_id: str | None = Field(
        None, description="The e-mail this document is an attachment of, if any.")


class Receipt(BaseModel):
    """The answer to ``POST /v1/batches`` (202): the batch id and each file's verdict."""

    batch_id: str = Field(description="The batch's id (a UUID).")
    received_at: datetime = Field(description="When the batch was received (UTC).")
    documents: list[ReceiptDocument] = Field(description="Each file, in manifest order, then "
                                                         "files not in the manifest.")


class BatchDocument(ReceiptDocument):
    """A document of a batch, with where the pipeline has it."""

    stage: str = Field(description="The pipeline stage the document is in or last passed.")


class Batch(_Open):
    """One batch: its status and each document's outcome."""

    batch_id: str = Field(description="The batch's id (a UUID).")
    client_ref: str = Field(description="The manifest's `client_ref`.")
    received_at: datetime = Field(description="When the batch was received (UTC).")
    status: BatchStatus = Field(description="RECEIVED, PROCESSING, COMPLETED or "
                                            "COMPLETED_WITH_ERRORS (any document ends other "
                                            "than INDEXED, DUPLICATE excepted).")
    documents: list[BatchDocument] = Field(description="The batch's documents.")


class BatchList(BaseModel):
    """A page of batches, newest first."""

    batches: list[Batch] = Field(description="The batches of this page.")
    limit: int = Field(description=_LIMIT)
    offset: int = Field(description=_OFFSET)


# --- the acceptance report --------------------------------------------------------------------

class ReportCounts(_Open):
    """Totals over the batch's documents."""

    files: int = Field(description="Documents in the batch.")
    by_status: dict[str, int] = Field(description="Documents per status.")
    by_reason: dict[str, int] = Field(description="Documents per reason.")
    chunks: int = Field(description="Chunks indexed.")
    pages: int = Field(description="Pages parsed.")
    pii: dict[str, dict[str, int]] = Field(description="PII findings per entity type and "
                                                       "action (counts, never values).")
    by_safety: dict[str, int] = Field(description="Documents per safety verdict.")


class Checkpoint(_Open):
    """A signed checkpoint of the audit chain (its Merkle tree's root)."""

    tenant: str = Field(description="The tenant.")
    tree_size: int = Field(description="How many events the checkpoint signs.")
    root_hash: str = Field(description="The Merkle root (RFC 6962) of those events (hex).")
    signed_at: str = Field(description="When it was signed (ISO 8601, UTC), as signed.")
    key_id: str = Field(description="`ed25519:` + the first 16 hex of the key's SHA-256.")
    public_key: str = Field(description="The Ed25519 public key (raw, base64).")
    signature: str = Field(description="The Ed25519 signature (base64).")


class ReportAudit(_Open):
    """Where the audit chain stood when the report was made."""

    head_seq: int = Field(description="The chain's last event.")
    head_hash: str = Field(description="That event's hash.")
    latest_checkpoint: Checkpoint | None = Field(description="The latest signed checkpoint.")


class ReportDocument(_Open):
    """One document's line of the acceptance report."""

    name: str = Field(description="The file's name.")
    document_id: str | None = Field(description=_DOCUMENT_ID)
    parent_document_id: str | None = Field(description="The e-mail it is an attachment of.")
    status: DocStatus = Field(description=_STATUS)
    reason: Reason | None = Field(description=_REASON)
    explanation: str | None = Field(description="The verdict in words.")
    what_to_do: str | None = Field(description="What the vendor can do about it.")
    detail: str | None = Field(description="The checks' own detail.")
    sha256: str | None = Field(description=_SHA256)
    mime_type: str | None = Field(description="The detected MIME type.")
    parser: str | None = Field(description="The parser that succeeded.")
    parser_version: str | None = Field(description="Its version.")
    parse_status: str | None = Field(description="How parsing went.")
    parse_attempts: list[dict[str, Any]] = Field(
        description="On FAILED, every parser tried and why it failed.")
    pages: int | None = Field(description="Pages (or slides) parsed.")
    chunks: int | None = Field(description="Chunks indexed.")
    seconds: dict[str, float] | None = Field(description="Seconds per pipeline stage.")
    doc_type: str | None = Field(description="The classified document type.")
    sensitivity: str | None = Field(description="The classified sensitivity.")
    safety: str | None = Field(description="The safety verdict (PASS, FLAG, QUARANTINE).")
    safety_detail: str | None = Field(description="Why, in words.")
    pii: dict[str, dict[str, int]] = Field(description="PII findings per entity and action.")


class Report(_Open):
    """The acceptance report of a batch (JSON; also as CSV and HTML)."""

    batch_id: str = Field(description="The batch's id.")
    client_ref: str = Field(description="The manifest's `client_ref`.")
    received_at: datetime = Field(description="When the batch was received (UTC).")
    generated_at: datetime = Field(description="When this report was made (UTC).")
    status: BatchStatus = Field(description="The batch's status.")
    counts: ReportCounts = Field(description="Totals.")
    seconds_by_stage: dict[str, float] = Field(description="Seconds per pipeline stage, "
                                                           "summed over the documents.")
    embedding_model: dict[str, Any] = Field(description="The index's embedding model.")
    audit: ReportAudit = Field(description="The audit chain's head at report time.")
    documents: list[ReportDocument] = Field(description="One line per document.")


# --- documents --------------------------------------------------------------------------------

class DocumentSummary(_Open):
    """A stored document, as listed."""

    document_id: uuid.UUID = Field(description="The document's id.")
    batch_id: uuid.UUID = Field(description="The batch it came in.")
    parent_document_id: uuid.UUID | None = Field(description="The e-mail it is an "
                                                             "attachment of, if any.")
    name: str = Field(description="The file's name.")
    sha256: str | None = Field(description=_SHA256)
    mime_type: str | None = Field(description="The detected MIME type.")
    status: DocStatus = Field(description=_STATUS)
    reason: Reason | None = Field(description=_REASON)
    title: str | None = Field(description="The title the parser found.")
    parser: str | None = Field(description="The parser that read it.")
    parse_status: str | None = Field(description="How parsing went.")
    page_count: int | None = Field(description="Pages (or slides).")
    chunk_count: int | None = Field(description="Chunks indexed.")
    created_at: datetime = Field(description="When it was received (UTC).")


class DocumentList(BaseModel):
    """A page of stored documents, newest first."""

    documents: list[DocumentSummary] = Field(description="The documents of this page.")
    limit: int = Field(description=_LIMIT)
    offset: int = Field(description=_OFFSET)


class CanonicalDocument(_Open):
    """The canonical document JSON (schema ``schema_version``): the parsed elements, their
    headings and pages, the lineage and the parse attempts."""

    schema_version: str = Field(description="The canonical schema's version.")


class DocumentDeleted(BaseModel):
    """The erasure's answer: the document is gone when this arrives (the work is done before
    the answer; 202 as SPEC §9 fixes it)."""

    document_id: str = Field(description="The erased document.")
    status: Literal["DELETED"] = Field("DELETED", description="Always DELETED.")
    sha256: str | None = Field(description="Its SHA-256, as the audit event records it.")
    removed: dict[str, int] = Field(description="How many chunks, elements, pii_findings, "
                                                "vectors and objects were removed.")
    audit_seq: int = Field(description="The `document.deleted` event's sequence number.")
    attachments: list[str] = Field([], description="Its attachments, erased with it.")


# --- quarantine -------------------------------------------------------------------------------

class QuarantinedDocument(_Open):
    """A document held apart (malware, an injection, hidden text)."""

    document_id: str = Field(description="The document's id.")
    batch_id: str = Field(description="The batch it came in.")
    name: str = Field(description="The file's name.")
    sha256: str | None = Field(description=_SHA256)
    size: int | None = Field(description="Its size in bytes.")
    mime_type: str | None = Field(description="The detected MIME type.")
    status: DocStatus = Field(description=_STATUS)
    reason: Reason | None = Field(description="Why it is held.")
    detail: str | None = Field(description="The checks' detail.")
    malware_signature: str | None = Field(description="The scanner's signature name.")
    created_at: datetime = Field(description="When it was received (UTC).")


class QuarantineList(BaseModel):
    """A page of quarantined documents, newest first (release and purge are admin-only)."""

    documents: list[QuarantinedDocument] = Field(description="The documents of this page.")
    limit: int = Field(description=_LIMIT)
    offset: int = Field(description=_OFFSET)


# --- audit ------------------------------------------------------------------------------------

class AuditVerdict(_Open):
    """The hash chain recomputed and every checkpoint checked (the fields that do not apply
    are absent)."""

    ok: bool = Field(description="Whether the chain and its checkpoints verify.")
    events: int = Field(description="Events that verified.")
    head_hash: str = Field(description="The chain's head hash.")
    first_bad_seq: int | None = Field(None, description="A broken chain: the first bad "
                                                        "event.")
    problem: str | None = Field(None, description="On failure: what is wrong.")
    checkpoint_size: int | None = Field(None, description="A bad checkpoint: its size.")
    checkpoints: int | None = Field(None, description="When ok: the checkpoints checked.")
    latest_checkpoint: Checkpoint | None = Field(None, description="When ok: the latest "
                                                                   "signed checkpoint.")


class AuditSubject(BaseModel):
    """What an event is about."""

    kind: str = Field(description="`document`, `batch`, `tenant`, `audit`…")
    id: str = Field(description="Its id.")


class AuditEvent(_Open):
    """One link of the chain, as exported (`hash` over the other fields, RFC 8785)."""

    event_id: str = Field(description="The event's id (UUIDv7).")
    tenant: str = Field(description="The tenant.")
    seq: int = Field(description="Its position in the chain (from 1).")
    occurred_at: str = Field(description="When (ISO 8601, UTC), exactly as hashed.")
    actor: str = Field(description="Who: `vendor_key:<id>`, `admin:<name>`, `system`…")
    event_type: str = Field(description="What happened, e.g. `batch.received`.")
    subject: AuditSubject = Field(description="What it is about.")
    payload: dict[str, Any] = Field(description="Ids, hashes and counts; never text.")
    prev_hash: str = Field(description="The previous event's hash.")
    hash: str = Field(description="This event's hash.")


class AuditEventList(BaseModel):
    """A page of events in chain order."""

    events: list[AuditEvent] = Field(description="The events of this page.")
    next_after_seq: int | None = Field(description="`after_seq` for the next page; null on "
                                                   "the last.")


class AuditHead(_Open):
    """The chain head and the latest signed checkpoint."""

    head_seq: int = Field(description="The last event's sequence number.")
    head_hash: str = Field(description="Its hash.")
    latest_checkpoint: Checkpoint | None = Field(description="The latest signed checkpoint.")


class InclusionProof(_Open):
    """RFC 6962 inclusion proof of one event against a signed checkpoint."""

    seq: int = Field(description="The event.")
    leaf_index: int = Field(description="Its leaf index (seq - 1).")
    event_hash: str = Field(description="The event's hash.")
    leaf_hash: str = Field(description="Its Merkle leaf hash (hex).")
    tree_size: int = Field(description="The checkpoint's tree size.")
    root_hash: str = Field(description="The checkpoint's root.")
    proof: list[str] = Field(description="The audit path (hex).")
    checkpoint: Checkpoint = Field(description="The signed checkpoint.")


class ConsistencyProof(_Open):
    """RFC 6962 consistency proof between two tree sizes."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    first: int = Field(alias="from", description="The smaller tree's size.")
    second: int = Field(alias="to", description="The larger tree's size.")
    from_root: str = Field(description="The smaller tree's root (hex).")
    to_root: str = Field(description="The larger tree's root (hex).")
    proof: list[str] = Field(description="The consistency proof (hex).")
    from_checkpoint: Checkpoint | None = Field(description="The checkpoint of `from`, if "
                                                           "signed.")
    to_checkpoint: Checkpoint | None = Field(description="The checkpoint of `to`, if signed.")


# --- operations -------------------------------------------------------------------------------

class Liveness(BaseModel):
    """The process answers."""

    status: Literal["ok"] = Field(description="Always ok.")
    tenant: str = Field(description="The tenant this data plane serves.")
    version: str = Field(description="The data-plane release this process runs (PEP 440).")


class Readiness(_Open):
    """Whether the stores, the model and the scanner are reachable."""

    ready: bool = Field(description="Every check passed.")
    checks: dict[str, bool] = Field(description="Each check's result.")
    tenant: str = Field(description="The tenant.")
    scanner: str = Field(description="`clamd` or `not configured`.")
    signatures: dict[str, Any] | None = Field(None, description="The scanner's signature "
                                                                "database: version and age.")


def describe_manifest(document: dict[str, Any]) -> None:
    """Add the ``manifest`` part's schema (``Manifest``, ``ManifestFile``) to the document's
    components: ``POST /v1/batches`` reads its multipart body itself, so FastAPI does not
    see the model its ``requestBody`` names."""
    manifest = Manifest.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(manifest.pop("$defs", {}))
    schemas["Manifest"] = manifest
