"""Pure functions that name things in the stores: object-store keys and vector point ids.

Same input → same name, always: re-ingesting the same bytes lands on the same raw key and
re-indexing the same chunk overwrites the same point. And the one rule every ``ObjectStore``
adapter applies to keys (:func:`validate_key`), so that a key the filesystem test double
accepts is accepted by S3 and the other way round: a '/'-separated relative path, never a
``..`` segment (on a folder it would leave the root; on S3 it would not, but the same refusal
keeps the adapters interchangeable).
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


#: Reserved for the filesystem store's in-flight writes; keys may not use it.
RESERVED_PREFIX = ".fb-tmp-"


def validate_key(key: str) -> list[str]:
    """Split a key into its segments, refusing anything that could leave the root.

    Raises ``ValueError`` for an empty or absolute key, a ``.`` / ``..`` / empty segment,
    a backslash or NUL, or a segment using the reserved temporary-file prefix.
    """
    if not key:
        raise ValueError("object key must not be empty")
    if key.startswith("/"):
        raise ValueError(f"object key must be relative: {key!r}")
    if "\\" in key or "\x00" in key:
        raise ValueError(f"object key contains a backslash or NUL: {key!r}")
    segments = key.split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise ValueError(f"object key has an empty, '.' or '..' segment: {key!r}")
        if segment.startswith(RESERVED_PREFIX):
            raise ValueError(f"object key uses the reserved prefix {RESERVED_PREFIX!r}: {key!r}")
    return segments


def validate_prefix(prefix: str) -> None:
    """Refuse a listing prefix that no valid key could start with in a harmful way: an
    absolute one, a backslash or NUL, or one whose folder part is not a valid key."""
    if prefix.startswith("/") or "\\" in prefix or "\x00" in prefix:
        raise ValueError(f"bad key prefix: {prefix!r}")
    folder, _, _ = prefix.rpartition("/")
    if folder:
        validate_key(folder)
