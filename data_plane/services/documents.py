"""Erasure of a document (SPEC §9 ``DELETE /v1/documents/{document_id}``).

One transaction holds the document's row lock (``SELECT … FOR UPDATE``) from start to
commit: the pipeline's writes of the same document (``save_chunks``, ``mark_indexed``,
``mark_failed``) take that lock too, so a job in flight waits and then finds the row gone —
it never brings an erased document back, and cleans up whatever it wrote outside
PostgreSQL meanwhile (see ``services/pipeline.py``).

Inside the lock the vectors and objects go first, then the rows and the audit event commit
together. If anything fails the rows stay and the vendor can send the DELETE again: a
failure can leave a document that is partly erased, never one that is partly restored.

A document the intake holds apart (QUARANTINED, or SCAN_PENDING), or an e-mail with such an
attachment, is refused (``DocumentHeld``, 409) before anything is removed: its bytes are an
admin's to release or purge (``services/intake_quarantine.py``).
"""

from __future__ import annotations

import uuid

from data_plane.domain.erasure import (
    DocumentDeleted,
    check_erasable,
    deleted_payload,
    object_keys,
)
from data_plane.domain.object_keys import pending_key, quarantine_key
from data_plane.domain.ports import ObjectStore, Transaction, UnitOfWork
from data_plane.domain.records import DocumentRecord, NewEvent
from data_plane.errors import DocumentNotFound
from data_plane.services.pipeline import IndexService


class DocumentService:
    """Removes a document from all three stores, audited."""

    def __init__(self, db: UnitOfWork, store: ObjectStore, indexer: IndexService) -> None:
        self._db = db
        self._store = store
        self._indexer = indexer

    def delete(self, document_id: uuid.UUID, *, actor: str) -> DocumentDeleted:
        """Erase the document: its chunks, elements and PII findings (rows), its vectors,
        its objects (a content-addressed raw file only when no other document names it)
        and its row; append ``document.deleted``. An e-mail's attachments (its child
        documents, and theirs) go with it, each with its own event; erasing an attachment
        leaves its e-mail. Raises ``DocumentNotFound``, or ``DocumentHeld`` when it or an
        attachment is QUARANTINED or SCAN_PENDING (nothing is removed then)."""
        with self._db.atomic() as tx:
            row = tx.lock_document(document_id)
            if row is None:
                raise DocumentNotFound(f"no document {document_id}")
            children = tx.child_documents(document_id)
            locked = [child for child_id in children  # deepest first
                      if (child := tx.lock_document(child_id)) is not None]
            check_erasable(document_id, [row, *locked])
            for child in locked:
                self._erase(tx, child, actor=actor)
            seq, removed = self._erase(tx, row, actor=actor)
        return DocumentDeleted(document_id=str(document_id), sha256=row.sha256,
                               removed=removed, audit_seq=seq,
                               attachments=[str(c) for c in children])

    def _erase(self, tx: Transaction, row: DocumentRecord, *, actor: str
               ) -> tuple[int, dict[str, int]]:
        """Erase one locked document inside ``tx``; its audit event's seq and counts."""
        document_id = row.document_id
        doc_id = str(document_id)
        keys = [k for k in object_keys(doc_id, row.raw_key,
                                       (pending_key(doc_id), quarantine_key(doc_id)))
                if not tx.object_shared(k, document_id)]
        with self._indexer.lock:
            vectors = self._indexer.vector_index.delete_document(doc_id)
        objects = sum(1 for key in keys if self._store.delete(key))
        removed = tx.erase_document(document_id)
        removed |= {"vectors": vectors, "objects": objects}
        event = tx.append_audit(NewEvent(
            actor, "document.deleted", "document", doc_id,
            deleted_payload(document_id=doc_id, sha256=row.sha256,
                            batch_id=str(row.batch_id), removed=removed)))
        return event.seq, dict(event.payload["removed"])
