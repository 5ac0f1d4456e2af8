"""Pure functions that name things in the stores: object-store keys and vector point ids.

Same input → same name, always: re-ingesting the same bytes lands on the same raw key and
re-indexing the same chunk overwrites the same point.
"""

from __future__ import annotations

import re
import uuid

# Fixed namespace for chunk point ids; changing it would orphan every indexed point.
POINT_ID_NAMESPACE = uuid.UUID("5b0f8c1e-6a53-5e4a-9c1f-0f7d2b8e4a11")

_SHA256 = re.compile(r"[0-9a-f]{64}")
_DOCUMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def raw_key(sha256: str) -> str:
    """Content-addressed key of a raw file: ``raw/ab/cd/<sha256>``.

    Raises ``ValueError`` unless ``sha256`` is 64 lowercase hex digits.
    """
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a lowercase hex sha256: {sha256!r}")
    return f"raw/{sha256[0:2]}/{sha256[2:4]}/{sha256}"


def canonical_key(document_id: str) -> str:
    """Key of a document's canonical JSON: ``canonical/<document_id>.json``.

    Raises ``ValueError`` for an id that is empty or could escape its folder.
    """
    if not _DOCUMENT_ID.fullmatch(document_id) or ".." in document_id:
        raise ValueError(f"document id unusable in a key: {document_id!r}")
    return f"canonical/{document_id}.json"


def point_id_for(chunk_id: str) -> str:
    """Vector point id of a chunk: a UUID (v5) string derived from ``chunk_id`` alone."""
    if not chunk_id:
        raise ValueError("chunk id must not be empty")
    return str(uuid.uuid5(POINT_ID_NAMESPACE, chunk_id))


def quarantine_key(document_id: uuid.UUID | str) -> str:
    """Quarantined bytes live apart from ``raw/``: nothing that parses or indexes reads here."""
    return f"quarantine/{document_id}"


def pending_key(document_id: uuid.UUID | str) -> str:
    """Bytes of a file held until its malware scan can run."""
    return f"pending/{document_id}"
