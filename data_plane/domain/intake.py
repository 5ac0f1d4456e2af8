"""Intake contract (SPEC §5.1, §9): manifest, statuses, reason codes, per-file verdicts."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class DocStatus(StrEnum):
    ACCEPTED = "ACCEPTED"
    PROCESSING = "PROCESSING"
    INDEXED = "INDEXED"
    REJECTED = "REJECTED"
    QUARANTINED = "QUARANTINED"
    FAILED = "FAILED"
    PURGED = "PURGED"


class Reason(StrEnum):
    NOT_IN_MANIFEST = "NOT_IN_MANIFEST"
    MISSING_FILE = "MISSING_FILE"
    UNSAFE_NAME = "UNSAFE_NAME"
    EMPTY_FILE = "EMPTY_FILE"
    SIZE_LIMIT = "SIZE_LIMIT"
    SIZE_MISMATCH = "SIZE_MISMATCH"
    CHECKSUM_MISMATCH = "CHECKSUM_MISMATCH"
    MIME_NOT_ALLOWED = "MIME_NOT_ALLOWED"
    MIME_EXTENSION_MISMATCH = "MIME_EXTENSION_MISMATCH"
    ARCHIVE_BOMB = "ARCHIVE_BOMB"
    DUPLICATE = "DUPLICATE"
    PII_BLOCKED = "PII_BLOCKED"
    MALWARE_DETECTED = "MALWARE_DETECTED"
    INJECTION_SUSPECTED = "INJECTION_SUSPECTED"
    HIDDEN_TEXT = "HIDDEN_TEXT"
    PARSE_FAILED = "PARSE_FAILED"
    NO_TEXT_EXTRACTED = "NO_TEXT_EXTRACTED"
    SCAN_PENDING = "SCAN_PENDING"


class BatchStatus(StrEnum):
    RECEIVED = "RECEIVED"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    COMPLETED_WITH_ERRORS = "COMPLETED_WITH_ERRORS"


TERMINAL = frozenset(
    {DocStatus.INDEXED, DocStatus.REJECTED, DocStatus.QUARANTINED, DocStatus.FAILED,
     DocStatus.PURGED}
)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# C0/C1 controls, DEL, and the bidi controls that make "exe.pdf" display as "fdp.exe".
_UNSAFE_CHARS = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
# Invisible characters, so that two names that look identical are never both stored: every
# format character (Unicode category Cf: soft hyphen U+00AD, zero-width space, non-joiner
# and joiner U+200B-U+200D, word joiner U+2060, invisible operators U+2061-U+2064, BOM
# U+FEFF, the bidi controls, tags...), the line and paragraph separators, and the blank
# letters and marks that render as nothing (combining grapheme joiner, Hangul fillers,
# Khmer inherent vowels, Mongolian variation selectors).
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Zl", "Zp"})
_INVISIBLE_CHARS = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u3164\uffa0")
# Multipart clients percent-encode these in a part's filename (WHATWG forms, httpx).
_FORM_ENCODED = re.compile(r'[\x00-\x1a\x1c-\x1f"]')
MAX_NAME_LENGTH = 255


class ManifestFile(BaseModel):
    """One file the manifest announces."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=4096,
                      description="The file's name: its `files` part's filename.")
    sha256: str = Field(description="SHA-256 of the file's bytes (hex, 64 characters).",
                        json_schema_extra={"pattern": "^[0-9a-fA-F]{64}$"})
    size: int = Field(ge=0, description="The file's size in bytes.")
    declared_type: str | None = Field(None, description="Its MIME type, if the vendor "
                                                        "knows it.")
    metadata: dict[str, Any] = Field(default_factory=dict, description=(
        "The vendor's own fields, kept with the document (search can filter on them)."))

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        value = value.lower()
        if not _SHA256.match(value):
            raise ValueError("sha256 must be 64 hexadecimal characters")
        return value


class Manifest(BaseModel):
    """The JSON part ``manifest`` of ``POST /v1/batches``."""

    model_config = ConfigDict(extra="forbid")

    client_ref: str = Field(min_length=1, max_length=256,
                            description="The vendor's own reference for the batch.")
    files: list[ManifestFile] = Field(min_length=1, description="Every file of the batch.")

    @model_validator(mode="after")
    def _no_nul(self) -> Manifest:
        # A name with NUL is judged per file (UNSAFE_NAME); anywhere else NUL cannot be
        # stored (PostgreSQL text and jsonb refuse it), so the manifest is invalid.
        if "\x00" in self.client_ref:
            raise ValueError("client_ref contains a NUL character")
        for i, f in enumerate(self.files):
            if "\x00" in (f.declared_type or "") or _has_nul(f.metadata):
                raise ValueError(f"files.{i}: declared_type or metadata contains a NUL "
                                 "character")
        return self

    def duplicate_names(self) -> list[str]:
        seen: set[str] = set()
        dups: list[str] = []
        for f in self.files:
            if f.name in seen:
                dups.append(f.name)
            seen.add(f.name)
        return dups


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def unsafe_name(name: str) -> bool:
    """True for names that cannot be stored safely: separators, '..', control and bidi
    characters, invisible characters (``UNSAFE_NAME``; the receipt shows it escaped)."""
    return (
        "/" in name
        or "\\" in name
        or name in {".", ".."}
        or _UNSAFE_CHARS.search(name) is not None
        or any(_invisible(c) for c in name)
        or len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_LENGTH
    )


def _invisible(char: str) -> bool:
    return char in _INVISIBLE_CHARS or unicodedata.category(char) in _INVISIBLE_CATEGORIES


def form_encoded_name(name: str) -> str:
    """The filename a multipart client sends for ``name``: control characters and quotes
    percent-encoded (the WHATWG form rule, which httpx follows). A part named so is the
    manifest's ``name``, so that an unsafe name is judged as the manifest wrote it."""
    return _FORM_ENCODED.sub(lambda m: f"%{ord(m.group(0)):02X}", name)


def escape_name(name: str) -> str:
    """A printable form of a (possibly hostile) name for receipts and logs."""
    return name.encode("unicode_escape", "backslashreplace").decode("ascii")


def check_received_file(
    declared: ManifestFile, *, size: int, sha256: str, max_file_bytes: int
) -> Reason | None:
    """The verdict of the byte-level checks, in SPEC order; None when the file passes."""
    if size == 0:
        return Reason.EMPTY_FILE
    if size > max_file_bytes:
        return Reason.SIZE_LIMIT
    if size != declared.size:
        return Reason.SIZE_MISMATCH
    if sha256 != declared.sha256:
        return Reason.CHECKSUM_MISMATCH
    return None


def batch_status(statuses: list[tuple[DocStatus, Reason | None]]) -> BatchStatus:
    """A batch is done when every document is terminal; with errors unless all INDEXED
    (a DUPLICATE rejection is not an error). A manifest lists at least one file, so a
    batch without documents had them all erased: nothing is left to do."""
    if not statuses:
        return BatchStatus.COMPLETED
    if any(s not in TERMINAL for s, _ in statuses):
        return BatchStatus.PROCESSING
    ok = all(s is DocStatus.INDEXED or r is Reason.DUPLICATE for s, r in statuses)
    return BatchStatus.COMPLETED if ok else BatchStatus.COMPLETED_WITH_ERRORS
