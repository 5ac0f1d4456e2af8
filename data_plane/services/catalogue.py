"""What the tenant holds, paged for the vendor: batches, stored documents, and a parsed
document's canonical JSON."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from data_plane.domain.ports import Batches, Documents, ObjectStore
from data_plane.errors import DocumentNotFound

#: The columns of a document the listing shows (never its text or object keys).
DOCUMENT_FIELDS = ("document_id", "batch_id", "parent_document_id", "name", "sha256",
                   "mime_type", "status", "reason", "title", "parser", "parse_status",
                   "page_count", "chunk_count", "created_at")


class CatalogueStore(Batches, Documents, Protocol):
    """The batch and document records (the tenant database)."""


class BatchStatus(Protocol):
    def batch(self, batch_id: uuid.UUID) -> dict[str, Any]:
        """One batch's status and each document's outcome."""
        ...


class CatalogueService:
    def __init__(self, db: CatalogueStore, store: ObjectStore, batches: BatchStatus) -> None:
        self._db = db
        self._store = store
        self._batches = batches

    def batches(self, *, limit: int, offset: int) -> list[dict[str, Any]]:
        """Batches, newest first, each with its status and documents."""
        return [self._batches.batch(batch.batch_id)
                for batch in self._db.list_batches(limit=limit, offset=offset)]

    def documents(self, *, limit: int, offset: int) -> list[dict[str, Any]]:
        """Stored documents (no duplicates), newest first."""
        return [{k: getattr(doc, k) for k in DOCUMENT_FIELDS}
                for doc in self._db.list_documents(limit=limit, offset=offset)]

    def canonical_json(self, document_id: uuid.UUID) -> bytes:
        """The parsed document as canonical JSON, or ``DocumentNotFound`` before parsing."""
        doc = self._db.get_document(document_id)
        if doc is None or not doc.canonical_key:
            raise DocumentNotFound(f"no parsed document {document_id}")
        return self._store.get_bytes(doc.canonical_key)
