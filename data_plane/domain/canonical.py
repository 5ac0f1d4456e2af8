"""The canonical document (SPEC §5.2): what every parser produces and every later stage reads.

Versioned: ``schema_version`` names the shape; ``load_canonical`` upgrades older versions.
Round-trips through JSON unchanged (``CanonicalDocument.model_validate_json(doc.to_json())
== doc``).

Versions: **1.0** the first shape; **1.1** adds ``attachments`` (what an e-mail carried: each
attachment's name, type, hash, parser, status and errors; its elements are in ``elements``
under the heading path ``("Attachment: <name>", …)`` with the attribute ``attachment``).
A 1.0 document loads as 1.1 with no attachments.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.1"


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
    lineage: tuple[LineageStep, ...] = ()

    def to_json(self) -> str:
        return self.model_dump_json()

    @property
    def text_chars(self) -> int:
        return sum(len(e.text.strip()) for e in self.elements)


def _upgrade_1_0(data: dict[str, Any]) -> dict[str, Any]:
    """1.0 → 1.1: ``attachments`` is new (1.0 documents had none)."""
    return data | {"schema_version": "1.1", "attachments": []}


#: schema version → the function that lifts a document of that version one step.
UPGRADERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"1.0": _upgrade_1_0}


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
