"""Files held as SCAN_PENDING (the scanner was down or timed out at intake): scanned again
until a verdict comes, and only then released to the pipeline, rejected or quarantined.

Run by the worker's periodic task; a held file is never parsed before it is scanned.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from data_plane.adapters import intake_records as records
from data_plane.adapters.clamav.scanner import scanner_from_settings
from data_plane.adapters.postgres import TenantDatabase
from data_plane.domain.intake import DocStatus, Reason
from data_plane.domain.intake_scan import MalwareScanner
from data_plane.domain.object_keys import raw_key
from data_plane.domain.ports import JobQueue, ObjectStore
from data_plane.errors import ScannerUnavailable
from data_plane.services.intake_quarantine import drop_unnamed_object

if TYPE_CHECKING:
    from data_plane.wiring import Core

log = logging.getLogger(__name__)


class PendingScanService:
    def __init__(self, *, db: TenantDatabase, store: ObjectStore, queue: JobQueue,
                 scanner: MalwareScanner, work_dir: Path) -> None:
        self._db = db
        self._store = store
        self._queue = queue
        self._scanner = scanner
        self._work_dir = work_dir

    def rescan_all(self) -> int:
        """Scan every held file once the scanner answers; returns how many were decided."""
        if not self._scanner.ping():
            return 0
        decided = 0
        for row in records.pending_documents(self._db):
            try:
                decided += self.rescan(row)
            except ScannerUnavailable as exc:
                log.warning("scanner unavailable again: %s", exc)
                break
        return decided

    def rescan(self, row: dict[str, Any]) -> int:
        document_id: uuid.UUID = row["document_id"]
        held_key = records.pending_key(document_id)
        self._work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self._work_dir) as scratch:
            path = Path(scratch) / "held"
            with self._store.open(held_key) as src, path.open("wb") as dst:
                while block := src.read(1 << 20):
                    dst.write(block)
            verdict = self._scanner.scan(path)
            if verdict.infected:
                self._store.put_file(records.quarantine_key(document_id), path)
                done = records.resolve_pending(
                    self._db, document_id, status=DocStatus.QUARANTINED,
                    reason=Reason.MALWARE_DETECTED,
                    detail=f"the scanner found {verdict.signature}",
                    raw_key=records.quarantine_key(document_id), stored=False,
                    malware_signature=verdict.signature)
                if not done:  # erased while it was scanned: no orphan
                    self._store.delete(records.quarantine_key(document_id))
            elif row["held_reason"]:
                done = records.resolve_pending(
                    self._db, document_id, status=DocStatus.REJECTED,
                    reason=Reason(row["held_reason"]), detail=row["detail"], raw_key=None,
                    stored=False)
            else:
                duplicate_of = self._db.stored_document_by_sha(row["sha256"])
                if duplicate_of is not None:
                    done = records.resolve_pending(
                        self._db, document_id, status=DocStatus.REJECTED,
                        reason=Reason.DUPLICATE, detail=None, raw_key=None, stored=False,
                        duplicate_of=duplicate_of)
                else:
                    key = raw_key(row["sha256"])
                    copied = not self._store.exists(key)
                    if copied:
                        self._store.put_file(key, path)
                    done = records.resolve_pending(
                        self._db, document_id, status=DocStatus.ACCEPTED, reason=None,
                        detail=None, raw_key=key, stored=True)
                    if done:
                        self._queue.enqueue_process(str(document_id))
                    elif copied:  # erased while it was scanned: no orphan
                        drop_unnamed_object(self._db, self._store, key, document_id)
        self._store.delete(held_key)
        return int(done)


def build_pending_scans(core: Core) -> PendingScanService | None:
    """The worker's rescanner, when a scanner is configured."""
    s = core.settings
    scanner = scanner_from_settings(s.clamd_socket, s.clamd_timeout_s)
    if scanner is None:
        return None
    return PendingScanService(db=core.db, store=core.store, queue=core.queue,
                              scanner=scanner, work_dir=Path(s.work_dir) / "rescan")
