"""Erasure of one document (``DELETE /v1/documents/{id}``): what goes, and what the audit
event says about it. Pure: the service does the I/O.

What remains after an erasure is the audit chain: a ``document.deleted`` event naming the
document id and its sha256 with counts of what was removed — never a name, title or text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel

from data_plane.domain.object_keys import canonical_key

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
