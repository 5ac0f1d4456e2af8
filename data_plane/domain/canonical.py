"""The canonical document (SPEC §5.2): what every parser produces and every later stage reads.

Versioned: ``schema_version`` names the shape; ``load_canonical`` upgrades older versions.
Round-trips through JSON unchanged (``CanonicalDocument.model_validate_json(doc.to_json())
== doc``).

Versions: **1.0** the first shape; **1.1** adds ``attachments`` (what an e-mail carried: each
attachment's name, type, hash, parser, status and errors; its elements are in ``elements``
under the heading path ``("Attachment: <name>", …)`` with the attribute ``attachment``).
A 1.0 document loads as 1.1 with no attachments. **1.2** adds ``attempts``: every parser the
router tried, in order (parser, version, role, outcome, seconds, errors) — the fallback chain
as data, so a report can say which parser succeeded and why each one before it failed. A 1.1
document loads as 1.2 with the attempts its ``parse`` lineage steps recorded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.2"


class ElementType(StrEnum):
    TITLE = "title"
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    LIST_ITEM = "list_item"
    TABLE = "table"
    CAPTION = "caption"
    PICTURE = "picture"
    CODE = "code"
    FOOTNOTE = "footnote"
    FORMULA = "formula"
    PAGE_HEADER = "page_header"
    PAGE_FOOTER = "page_footer"
    EMAIL_HEADER = "email_header"
    TEXT = "text"


class ParseStatus(StrEnum):
    SUCCESS = "SUCCESS"
    PARTIAL_SUCCESS = "PARTIAL_SUCCESS"
    FAILED = "FAILED"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BoundingBox(_Frozen):
    left: float
    top: float
    right: float
    bottom: float


class TableCell(_Frozen):
    row: int
    col: int
    text: str
    row_span: int = 1
    col_span: int = 1
    is_header: bool = False


class Element(_Frozen):
    """One ordered piece of a document."""

    index: int
    type: ElementType
    text: str
    level: int | None = None  # heading level (1 = top)
    heading_path: tuple[str, ...] = ()
    page: int | None = None  # 1-based page of a PDF/image, slide of a presentation
    sheet: str | None = None
    bbox: BoundingBox | None = None
    cells: tuple[TableCell, ...] = ()
    attributes: dict[str, str] = Field(default_factory=dict)


class ErrorItem(_Frozen):
    component: str
    message: str


class LineageStep(_Frozen):
    stage: str
    component: str
    version: str
    started_at: datetime
    finished_at: datetime
    details: dict[str, Any] = Field(default_factory=dict)


class AttachmentInfo(_Frozen):
    """An attachment of an e-mail, parsed as its own document (``status`` and ``parser``) or
    skipped (``status`` None, ``skipped`` says why, e.g. ``UNSUPPORTED_FORMAT``)."""

    name: str
    mime_type: str
    sha256: str
    size: int
    parser: str | None = None
    parser_version: str | None = None
    status: ParseStatus | None = None
    errors: tuple[ErrorItem, ...] = ()
    elements: int = 0  # how many of the parent's elements came from it
    skipped: str | None = None
    # Since issue 12 an attachment is a child document: its id and intake verdict.
    document_id: str | None = None
    intake_status: str | None = None
    reason: str | None = None


class ParseAttempt(_Frozen):
    """One parser run on the document, in the order the router tried them.

    ``role`` is ``primary``, ``fallback`` (the 2nd, 3rd… parser of the route) or ``ocr`` (the
    whole file OCR'd as the last resort); ``ocr-pages`` fills the pages of a parsed PDF that
    had no text layer. ``status`` is the attempt's own outcome: an attempt that returned no
    text is FAILED with a ``NO_TEXT_EXTRACTED`` error even when the parser said SUCCESS."""

    parser: str
    version: str
    role: str
    status: ParseStatus
    seconds: float
    elements: int = 0
    text_chars: int = 0
    errors: tuple[ErrorItem, ...] = ()


class CanonicalDocument(_Frozen):
    schema_version: str = SCHEMA_VERSION
    document_id: str
    tenant: str
    source_sha256: str
    source_name: str
    mime_type: str
    title: str | None = None
    parser: str
    parser_version: str
    status: ParseStatus
    errors: tuple[ErrorItem, ...] = ()
    page_count: int | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    elements: tuple[Element, ...] = ()
    attachments: tuple[AttachmentInfo, ...] = ()
    attempts: tuple[ParseAttempt, ...] = ()
    lineage: tuple[LineageStep, ...] = ()

    def to_json(self) -> str:
        return self.model_dump_json()

    @property
    def text_chars(self) -> int:
        return sum(len(e.text.strip()) for e in self.elements)


def _upgrade_1_0(data: dict[str, Any]) -> dict[str, Any]:
    """1.0 → 1.1: ``attachments`` is new (1.0 documents had none)."""
    return data | {"schema_version": "1.1", "attachments": []}


def _upgrade_1_1(data: dict[str, Any]) -> dict[str, Any]:
    """1.1 → 1.2: ``attempts`` from the ``parse`` lineage steps that name a role (1.1 routers
    wrote one per parser run, with status, seconds and error messages in ``details``)."""
    attempts = []
    for step in data.get("lineage") or []:
        details = step.get("details") or {}
        if step.get("stage") != "parse" or details.get("role") not in (
                "primary", "fallback", "ocr", "ocr-pages"):
            continue
        attempts.append({
            "parser": step["component"], "version": step["version"], "role": details["role"],
            "status": details.get("status", ParseStatus.FAILED.value),
            "seconds": float(details.get("seconds", 0.0)),
            "elements": int(details.get("elements", 0)),
            "text_chars": int(details.get("text_chars", 0)),
            "errors": [{"component": step["component"], "message": str(m)}
                       for m in details.get("errors", [])],
        })
    return data | {"schema_version": "1.2", "attempts": attempts}


#: schema version → the function that lifts a document of that version one step.
UPGRADERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "1.0": _upgrade_1_0, "1.1": _upgrade_1_1}


def load_canonical(raw: str | bytes) -> CanonicalDocument:
    """Load a canonical document of any supported schema version, upgraded to the current
    one; an unknown version is a ``ValueError``."""
    data = json.loads(raw)
    version = data.get("schema_version") if isinstance(data, dict) else None
    while isinstance(data, dict) and version != SCHEMA_VERSION and version in UPGRADERS:
        data = UPGRADERS[version](data)
        version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(f"unsupported canonical schema version {version!r}")
    return CanonicalDocument.model_validate(data)


_DETAIL_SPLIT = re.compile(r"; (?=[A-Z][A-Z_]+: )")
_DETAIL_ITEM = re.compile(r"^([A-Z][A-Z_]+): (?:([a-z][a-z0-9-]*): )?(.*)$", re.DOTALL)


def attempts_in_detail(detail: str | None) -> list[dict[str, str | None]]:
    """Pure: a FAILED document's per-parser reasons from its stored detail — the router's
    errors joined with ``"; "``, each ``CODE: parser: message`` — as ``{"parser", "reason",
    "message"}`` in the order the parsers ran (``parser`` is None for a failure outside
    the router, e.g. the isolation layer's ``PARSE_FAILED: timeout …``)."""
    out: list[dict[str, str | None]] = []
    for part in _DETAIL_SPLIT.split(detail or ""):
        match = _DETAIL_ITEM.match(part.strip())
        if match is None:
            continue
        out.append({"parser": match.group(2), "reason": match.group(1),
                    "message": match.group(3)})
    return out


def table_markdown(cells: tuple[TableCell, ...]) -> str:
    """Render a cell grid as a Markdown table (first row is the header)."""
    if not cells:
        return ""
    n_rows = max(c.row for c in cells) + 1
    n_cols = max(c.col for c in cells) + 1
    grid = [["" for _ in range(n_cols)] for _ in range(n_rows)]
    for c in cells:
        grid[c.row][c.col] = " ".join(c.text.split()).replace("|", "\\|")
    lines = ["| " + " | ".join(grid[0]) + " |", "|" + "---|" * n_cols]
    lines += ["| " + " | ".join(row) + " |" for row in grid[1:]]
    return "\n".join(lines)
