"""Pure: the drift between the three stores of a tenant (SPEC §5.4 "three stores, one
truth") and what can be done about each kind — the rules of ``frostbyte doctor``.

PostgreSQL is the truth. An object no row names, a row whose object is gone, an indexed
document whose points are missing, a point no current chunk explains, a document left in
the pipeline with no job to move it: each is a :class:`Finding`, with the repair that
fixes it from PostgreSQL, or none when only a person can (the bytes of a file are gone;
an object nobody names may be evidence, so it is never deleted here).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from data_plane.domain.intake import DocStatus, Reason
from data_plane.domain.object_keys import point_id_for
from data_plane.domain.records import (
    STAGE_EMBEDDED,
    STAGE_INDEXED,
    DocumentRecord,
    NewEvent,
)

#: Every prefix under which the data plane writes objects (``object_keys``).
OBJECT_PREFIXES = ("raw/", "canonical/", "quarantine/", "pending/")

REPAIRED_EVENT = "consistency.repaired"
REQUEUED_EVENT = "document.requeued"


class DriftKind(StrEnum):
    OBJECTS_WITHOUT_ROWS = "objects_without_rows"
    ROWS_WITHOUT_OBJECTS = "rows_without_objects"
    MISSING_FROM_INDEX = "chunks_missing_from_index"
    EXTRA_IN_INDEX = "points_extra_in_index"
    STUCK = "documents_stuck"


#: The index kinds: re-checked after a repair, since the index itself says if it worked.
INDEX_KINDS = frozenset({DriftKind.MISSING_FROM_INDEX, DriftKind.EXTRA_IN_INDEX})


class Repair(StrEnum):
    REPROJECT = "reproject"  # upsert the document's points again from its chunks
    DELETE_POINT = "delete_point"  # remove a point no current chunk explains
    ENQUEUE = "enqueue"  # queue the job the document waits for (process, or index)
    REPROCESS = "reprocess"  # back to ACCEPTED and processed again from its raw bytes


@dataclass(frozen=True, slots=True)
class Finding:
    """One drift: its kind, what it is about (an object key, a document id or a point id),
    what is wrong in words, and the repair that fixes it (None: reported only)."""

    kind: DriftKind
    subject: str
    detail: str
    repair: Repair | None = None

    def to_json(self, *, repaired: bool) -> dict[str, Any]:
        return {"subject": self.subject, "detail": self.detail,
                "repair": self.repair.value if self.repair else None, "repaired": repaired}


def object_kind(key: str) -> str:
    """``raw``, ``canonical``, ``quarantine`` or ``pending``: the folder of a key."""
    return key.split("/", 1)[0]


def requeueable(row: DocumentRecord) -> bool:
    """Whether a document may be sent back to the start of the pipeline: it is current
    (not superseded: re-indexing an old version would supersede the new one) and in or
    through the pipeline — not refused, failed, quarantined or held for its scan."""
    return (row.status in (DocStatus.ACCEPTED, DocStatus.PROCESSING, DocStatus.INDEXED)
            and row.superseded_by is None and row.reason is not Reason.SCAN_PENDING)


def requeued_event(before: DocumentRecord, actor: str) -> NewEvent:
    """The audit event of a document sent back to the start of the pipeline."""
    return NewEvent(actor, REQUEUED_EVENT, "document", str(before.document_id),
                    {"status": before.status.value, "stage": before.stage,
                     "why": "consistency repair"})


def _expects_objects(row: DocumentRecord) -> bool:
    """A purged document's bytes are meant to be gone; every other named object must be
    there."""
    return row.status is not DocStatus.PURGED


def store_findings(rows: Sequence[DocumentRecord], keys: Iterable[str]) -> list[Finding]:
    """Objects no row names, and rows whose named objects are missing (which one)."""
    present = set(keys)
    live = [row for row in rows if _expects_objects(row)]
    named = {k for row in live for k in (row.raw_key, row.canonical_key) if k}
    findings = [Finding(DriftKind.OBJECTS_WITHOUT_ROWS, key,
                        f"no document names this {object_kind(key)} object")
                for key in sorted(present - named)]
    for row in live:
        raw_there = row.raw_key is not None and row.raw_key in present
        if row.raw_key and not raw_there:
            findings.append(Finding(
                DriftKind.ROWS_WITHOUT_OBJECTS, str(row.document_id),
                f"{object_kind(row.raw_key)} object {row.raw_key} is missing "
                f"({row.status.value}): its bytes are gone; the vendor must send the file "
                "again"))
        if row.canonical_key and row.canonical_key not in present:
            fixable = raw_there and requeueable(row)
            findings.append(Finding(
                DriftKind.ROWS_WITHOUT_OBJECTS, str(row.document_id),
                f"canonical object {row.canonical_key} is missing ({row.status.value})"
                + ("" if fixable else ": cannot be processed again"),
                Repair.REPROCESS if fixable else None))
    return findings


def stuck_findings(rows: Sequence[DocumentRecord], waiting: set[uuid.UUID],
                   keys: Iterable[str], *, settled_before: datetime) -> list[Finding]:
    """Documents left in the pipeline (ACCEPTED or PROCESSING, not held for a scan) with no
    job that will move them, unchanged since ``settled_before`` (a batch just recorded
    has its jobs queued right after its commit)."""
    present = set(keys)
    findings = []
    for row in rows:
        if (not row.in_pipeline or row.reason is Reason.SCAN_PENDING
                or row.document_id in waiting or row.updated_at >= settled_before):
            continue
        # Indexing reads only chunks; processing needs the raw bytes.
        fixable = row.stage == STAGE_EMBEDDED or (row.raw_key or "") in present
        findings.append(Finding(
            DriftKind.STUCK, str(row.document_id),
            f"{row.status.value} at stage {row.stage} with no job queued"
            + ("" if fixable else "; its raw object is missing"),
            Repair.ENQUEUE if fixable else None))
    return findings


def index_findings(projected: Mapping[uuid.UUID, tuple[str, Sequence[str]]],
                   points: Iterable[str]) -> list[Finding]:
    """Indexed documents with points missing, and points no chunk of an indexed — or
    being indexed (EMBEDDED) — document explains. Read the index *before* PostgreSQL: a
    document indexed in between then looks missing (re-projecting it is harmless), never
    extra (deleting its points would not be)."""
    present = set(points)
    explained: set[str] = set()
    findings = []
    for document_id, (stage, chunk_ids) in sorted(projected.items(), key=lambda p: str(p[0])):
        ids = [point_id_for(c) for c in chunk_ids]
        explained.update(ids)
        missing = sum(1 for p in ids if p not in present)
        if stage == STAGE_INDEXED and missing:
            findings.append(Finding(
                DriftKind.MISSING_FROM_INDEX, str(document_id),
                f"{missing} of its {len(ids)} points are missing: search cannot find them",
                Repair.REPROJECT))
    findings += [Finding(DriftKind.EXTRA_IN_INDEX, point_id,
                         "no chunk of an indexed document has this point", Repair.DELETE_POINT)
                 for point_id in sorted(present - explained)]
    return findings


@dataclass(frozen=True, slots=True)
class ConsistencyReport:
    """What a check found, what its repair fixed, and the audit event that records it."""

    findings: tuple[Finding, ...]
    repaired: frozenset[Finding] = frozenset()
    repair: bool = False
    audit_seq: int | None = None

    @property
    def remaining(self) -> list[Finding]:
        return [f for f in self.findings if f not in self.repaired]

    @property
    def clean(self) -> bool:
        """No drift left after the run (what ``frostbyte doctor``'s exit code says)."""
        return not self.remaining

    def to_json(self, *, first: int = 20) -> dict[str, Any]:
        """Per kind (every kind, also when clean): counts and the ``first`` findings."""
        kinds = []
        for kind in DriftKind:
            found = [f for f in self.findings if f.kind is kind]
            fixed = sum(1 for f in found if f in self.repaired)
            kinds.append({"kind": kind.value, "found": len(found), "repaired": fixed,
                          "remaining": len(found) - fixed,
                          "first": [f.to_json(repaired=f in self.repaired)
                                    for f in found[:first]]})
        return {"clean": self.clean, "repair": self.repair, "kinds": kinds,
                "audit_seq": self.audit_seq}


def repaired_payload(repaired: Iterable[Finding], *, max_ids: int = 100) -> dict[str, Any]:
    """The ``consistency.repaired`` event's payload: per repair, how many and (the first
    ``max_ids``) which subjects."""
    by_repair: dict[str, list[str]] = {}
    for f in sorted(repaired, key=lambda f: (f.kind.value, f.subject)):
        if f.repair is not None:
            by_repair.setdefault(f.repair.value, []).append(f.subject)
    return {"counts": {r: len(ids) for r, ids in by_repair.items()},
            "ids": {r: ids[:max_ids] for r, ids in by_repair.items()}}
