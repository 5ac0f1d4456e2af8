"""Quarantine: files kept apart (object-store prefix ``quarantine/``), never parsed or
indexed, until someone with the right scope releases them into the pipeline or purges them.
Both are audited (``document.released`` / ``document.purged``)."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any, Protocol

from data_plane.domain.intake import DocStatus, Reason
from data_plane.domain.object_keys import quarantine_key, raw_key
from data_plane.domain.ports import Documents, JobQueue, ObjectStore, Quarantine, UnitOfWork
from data_plane.domain.records import DocumentRecord
from data_plane.errors import DocumentNotFound

_FIELDS = ("document_id", "batch_id", "name", "sha256", "size", "mime_type", "status",
           "reason", "detail", "malware_signature", "created_at")


class QuarantineStore(Documents, Quarantine, UnitOfWork, Protocol):
    """What quarantine needs of the system of record."""


class QuarantineService:
    def __init__(self, db: QuarantineStore, store: ObjectStore, queue: JobQueue,
                 work_dir: Path) -> None:
        self._db = db
        self._store = store
        self._queue = queue
        self._work_dir = work_dir

    def list(self, *, limit: int, offset: int) -> list[dict[str, Any]]:
        rows = self._db.quarantined(limit=limit, offset=offset)
        return [{k: _shown(getattr(r, k)) for k in _FIELDS} for r in rows]

    def _quarantined(self, document_id: uuid.UUID) -> DocumentRecord:
        row = self._db.get_document(document_id)
        if row is None or row.status is not DocStatus.QUARANTINED:
            raise DocumentNotFound(f"no quarantined document {document_id}")
        return row

    def release(self, document_id: uuid.UUID, *, actor: str) -> dict[str, Any]:
        """Copy the bytes to their content-addressed raw key, mark the document ACCEPTED
        (audited) and queue it for the pipeline."""
        row = self._quarantined(document_id)
        assert row.sha256 is not None  # quarantined bytes were hashed at intake
        key = raw_key(row.sha256)
        copied = not self._store.exists(key)
        if copied:
            self._work_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=self._work_dir) as scratch:
                path = Path(scratch) / "released"
                with self._store.open(quarantine_key(document_id)) as src, \
                        path.open("wb") as dst:
                    while block := src.read(1 << 20):
                        dst.write(block)
                self._store.put_file(key, path)
        if self._db.release(document_id, actor=actor, raw_key=key) is None:
            # erased (or purged) while the bytes were copied: leave no orphan behind
            if copied:
                drop_unnamed_object(self._db, self._store, key, document_id)
            raise DocumentNotFound(f"no quarantined document {document_id}")
        self._store.delete(quarantine_key(document_id))
        self._queue.enqueue_process(str(document_id))
        return {"document_id": str(document_id), "status": "ACCEPTED"}

    def purge(self, document_id: uuid.UUID, *, actor: str) -> dict[str, Any]:
        """Mark the document PURGED (audited), then delete its quarantined bytes."""
        self._quarantined(document_id)
        if self._db.purge(document_id, actor=actor) is None:
            raise DocumentNotFound(f"no quarantined document {document_id}")
        self._store.delete(quarantine_key(document_id))
        return {"document_id": str(document_id), "status": "PURGED"}


def drop_unnamed_object(db: UnitOfWork, store: ObjectStore, key: str,
                        document_id: uuid.UUID) -> None:
    """Delete the object at ``key`` unless a document other than ``document_id`` names it:
    for bytes copied on behalf of a document that was erased meanwhile."""
    with db.atomic() as tx:
        if not tx.object_shared(key, document_id):
            store.delete(key)


def _shown(value: Any) -> Any:
    """A field as the listing shows it (ids as strings, statuses and reasons by name)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, DocStatus | Reason):
        return value.value
    return value
