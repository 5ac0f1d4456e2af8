"""Files held as SCAN_PENDING (the scanner was down or timed out at intake): scanned again
until a verdict comes, and only then released to the pipeline, rejected or quarantined.

Run by the worker's periodic task; a held file is never parsed before it is scanned.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Protocol

from data_plane.domain.intake import DocStatus, Reason
from data_plane.domain.intake_scan import MalwareScanner
from data_plane.domain.object_keys import pending_key, quarantine_key, raw_key
from data_plane.domain.ports import (
    Documents,
    HeldFiles,
    JobQueue,
    NoMetrics,
    ObjectStore,
    PipelineMetrics,
    UnitOfWork,
)
from data_plane.domain.records import DocumentRecord
from data_plane.errors import ScannerUnavailable
from data_plane.services.intake_quarantine import drop_unnamed_object

log = logging.getLogger(__name__)


class PendingStore(Documents, HeldFiles, UnitOfWork, Protocol):
    """What the rescanner needs of the system of record."""


class PendingScanService:
    def __init__(self, *, db: PendingStore, store: ObjectStore, queue: JobQueue,
                 scanner: MalwareScanner, work_dir: Path,
                 metrics: PipelineMetrics | None = None) -> None:
        self._db = db
        self._metrics: PipelineMetrics = metrics or NoMetrics()
        self._store = store
        self._queue = queue
        self._scanner = scanner
        self._work_dir = work_dir

    def rescan_all(self) -> int:
        """Scan every held file once the scanner answers; returns how many were decided."""
        if not self._scanner.ping():
            return 0
        decided = 0
        for row in self._db.pending_documents():
            try:
                decided += self.rescan(row)
            except ScannerUnavailable as exc:
                log.warning("scanner unavailable again: %s", exc)
                break
        return decided

    def rescan(self, row: DocumentRecord) -> int:
        document_id = row.document_id
        held_key = pending_key(document_id)
        self._work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self._work_dir) as scratch:
            path = Path(scratch) / "held"
            with self._store.open(held_key) as src, path.open("wb") as dst:
                while block := src.read(1 << 20):
                    dst.write(block)
            started = time.perf_counter()
            verdict = self._scanner.scan(path)
            self._metrics.stage_seconds("scan", time.perf_counter() - started)
            final: tuple[DocStatus, Reason] | None = None  # its end, when this decides it
            if verdict.infected:
                final = (DocStatus.QUARANTINED, Reason.MALWARE_DETECTED)
                self._store.put_file(quarantine_key(document_id), path)
                done = self._db.resolve_pending(
                    document_id, status=DocStatus.QUARANTINED,
                    reason=Reason.MALWARE_DETECTED,
                    detail=f"the scanner found {verdict.signature}",
                    raw_key=quarantine_key(document_id), stored=False,
                    malware_signature=verdict.signature)
                if not done:  # erased while it was scanned: no orphan
                    self._store.delete(quarantine_key(document_id))
            elif row.held_reason:
                final = (DocStatus.REJECTED, row.held_reason)
                done = self._db.resolve_pending(
                    document_id, status=DocStatus.REJECTED,
                    reason=row.held_reason, detail=row.detail, raw_key=None,
                    stored=False)
            else:
                assert row.sha256 is not None  # a held file passed the checksum
                duplicate_of = self._db.stored_document_by_sha(row.sha256)
                if duplicate_of is not None:
                    final = (DocStatus.REJECTED, Reason.DUPLICATE)
                    done = self._db.resolve_pending(
                        document_id, status=DocStatus.REJECTED,
                        reason=Reason.DUPLICATE, detail=None, raw_key=None, stored=False,
                        duplicate_of=duplicate_of)
                else:
                    key = raw_key(row.sha256)
                    copied = not self._store.exists(key)
                    if copied:
                        self._store.put_file(key, path)
                    done = self._db.resolve_pending(
                        document_id, status=DocStatus.ACCEPTED, reason=None,
                        detail=None, raw_key=key, stored=True)
                    if done:
                        self._queue.enqueue_process(str(document_id))
                    elif copied:  # erased while it was scanned: no orphan
                        drop_unnamed_object(self._db, self._store, key, document_id)
        self._store.delete(held_key)
        if done and final is not None:
            self._metrics.document_final(final[0].value, final[1].value)
        return int(done)

