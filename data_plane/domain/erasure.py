"""Erasure of one document (``DELETE /v1/documents/{id}``): what goes, and what the audit
event says about it. Pure: the service does the I/O.

What remains after an erasure is the audit chain: a ``document.deleted`` event naming the
document id and its sha256 with counts of what was removed — never a name, title or text.

A document the intake holds apart is not the vendor's to erase: QUARANTINED (malware, an
injection, hidden text) or PROCESSING with ``SCAN_PENDING`` (not scanned yet, so possibly
malware). Its bytes wait for an admin, who releases or purges it (SPEC §9: purge is
admin-only); an erasure that would take it — itself, or as an attachment of the e-mail
erased — is refused with ``DOCUMENT_HELD`` (409) and nothing is removed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel

from data_plane.domain.intake import DocStatus, Reason
from data_plane.domain.object_keys import canonical_key
from data_plane.domain.records import DocumentRecord
from data_plane.errors import DocumentHeld

# The kinds of rows and items an erasure counts, in the order the report lists them.
REMOVED_KINDS = ("chunks", "elements", "pii_findings", "vectors", "objects")


class DocumentDeleted(BaseModel):
    """The answer to ``DELETE /v1/documents/{id}`` (202): what was removed, and where the
    erasure sits in the audit chain."""

    document_id: str
    status: Literal["DELETED"] = "DELETED"
    sha256: str | None
    removed: dict[str, int]
    audit_seq: int
    #: The document's attachments (child documents), erased with it, each audited.
    attachments: list[str] = []


def held(row: DocumentRecord) -> bool:
    """Whether the intake holds the document apart for an admin: QUARANTINED, or
    PROCESSING with SCAN_PENDING."""
    return row.status is DocStatus.QUARANTINED or (
        row.status is DocStatus.PROCESSING and row.reason is Reason.SCAN_PENDING)


def check_erasable(document_id: uuid.UUID, rows: Iterable[DocumentRecord]) -> None:
    """Refuse the erasure of ``document_id`` when any of ``rows`` (the document and the
    attachments erased with it) is held: ``DocumentHeld`` (409), before anything goes."""
    for row in rows:
        if not held(row):
            continue
        what = row.status.value + (f" ({row.reason.value})" if row.reason else "")
        whose = ("it is" if row.document_id == document_id
                 else f"its attachment {row.document_id} is")
        raise DocumentHeld(
            f"document {document_id} cannot be erased: {whose} {what}, held apart for an "
            "admin. An admin must release or purge it (the control plane's quarantine "
            "routes); a vendor key never takes held bytes away")


def object_keys(document_id: str, row_key: str | None, held_keys: Iterable[str]) -> list[str]:
    """Every object key a document may own, without repeats: the key its row names (raw,
    pending or quarantine), its canonical JSON, and the keys it is held under before it is
    scanned or released (a crash between a copy and its cleanup can leave one behind)."""
    keys = [row_key] if row_key else []
    keys.append(canonical_key(document_id))
    keys.extend(held_keys)
    return list(dict.fromkeys(keys))


def deleted_payload(*, document_id: str, sha256: str | None, batch_id: str,
                    removed: dict[str, int]) -> dict[str, object]:
    """The payload of the ``document.deleted`` audit event: ids, the hash and counts."""
    return {"document_id": document_id, "sha256": sha256, "batch_id": batch_id,
            "removed": {kind: int(removed.get(kind, 0)) for kind in REMOVED_KINDS}}
