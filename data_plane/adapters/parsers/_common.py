"""Helpers shared by the parser adapters: element building with heading paths, e-mail headers,
versions, and the "never raise for a bad document" guard."""

from __future__ import annotations

import email
import email.policy
import importlib.metadata
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from data_plane.domain.canonical import (
    BoundingBox,
    CanonicalDocument,
    Element,
    ElementType,
    ErrorItem,
    ParseStatus,
    TableCell,
    table_markdown,
)
from data_plane.domain.ports import ParseRequest

#: Error-message prefixes (``CODE: detail``) that later stages and reports key on.
NO_TEXT_EXTRACTED = "NO_TEXT_EXTRACTED"
PARSE_FAILED = "PARSE_FAILED"
ENCRYPTED = "ENCRYPTED"
UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT"


def package_version(*distributions: str) -> str:
    """Installed version of the first distribution found, or ``"unknown"``."""
    for dist in distributions:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def utcnow() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


class ElementBuilder:
    """Appends elements in reading order and keeps the heading path.

    A heading's own path ends with itself; a body element's path is that of the headings
    enclosing it. Rank 0 is the document title; headings have rank = level (1 = top), so a
    new heading closes every open heading of the same or a deeper level.
    """

    def __init__(self) -> None:
        self.elements: list[Element] = []
        self._stack: list[tuple[int, str]] = []

    @property
    def heading_path(self) -> tuple[str, ...]:
        """Texts of the currently open headings, outermost first."""
        return tuple(text for _, text in self._stack)

    def reset_headings(self) -> None:
        """Close every open heading (e.g. at a new sheet)."""
        self._stack.clear()

    def heading(
        self,
        text: str,
        level: int | None,
        *,
        title: bool = False,
        page: int | None = None,
        sheet: str | None = None,
        bbox: BoundingBox | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        """Open a heading (``title=True``: the document title, rank 0) and emit its element."""
        text = _clean(text)
        if not text:
            return
        rank = 0 if title else max(1, level or 1)
        while self._stack and self._stack[-1][0] >= rank:
            self._stack.pop()
        self._stack.append((rank, text))
        self._append(
            ElementType.TITLE if title else ElementType.HEADING,
            text,
            level=None if title else rank,
            page=page,
            sheet=sheet,
            bbox=bbox,
            attributes=attributes,
        )

    def add(
        self,
        type_: ElementType,
        text: str,
        *,
        page: int | None = None,
        sheet: str | None = None,
        bbox: BoundingBox | None = None,
        cells: tuple[TableCell, ...] = (),
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        """Emit a body element under the current heading path; blank text is dropped
        (pictures and tables excepted)."""
        text = text.strip()
        if not text and type_ not in (ElementType.PICTURE, ElementType.TABLE):
            return
        if type_ is ElementType.TABLE and not text and not cells:
            return
        self._append(type_, text, page=page, sheet=sheet, bbox=bbox, cells=cells,
                     attributes=attributes)

    def table(
        self,
        cells: tuple[TableCell, ...],
        *,
        page: int | None = None,
        sheet: str | None = None,
        bbox: BoundingBox | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        """Emit a table whose text is its Markdown rendering."""
        if not any(c.text.strip() for c in cells):
            return
        self.add(ElementType.TABLE, table_markdown(cells), page=page, sheet=sheet, bbox=bbox,
                 cells=cells, attributes=attributes)

    def _append(
        self,
        type_: ElementType,
        text: str,
        *,
        level: int | None = None,
        page: int | None = None,
        sheet: str | None = None,
        bbox: BoundingBox | None = None,
        cells: tuple[TableCell, ...] = (),
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        self.elements.append(
            Element(
                index=len(self.elements),
                type=type_,
                text=text,
                level=level,
                heading_path=self.heading_path,
                page=page,
                sheet=sheet,
                bbox=bbox,
                cells=cells,
                attributes=dict(attributes or {}),
            )
        )


_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """``text`` as valid Unicode: UTF-16 surrogate pairs (PDFium hands out a character
    beyond the BMP as two code units) joined, a lone surrogate replaced by U+FFFD. A lone
    surrogate cannot be encoded to UTF-8: the tokenizer, PostgreSQL and JSON refuse it."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def pdfium_page_text(c: Any, textpage: Any) -> str:
    """A PDFium text page's characters, exactly one per PDFium character index (``c`` is
    ``pypdfium2.raw``), so that index ``i`` of the string is PDFium's character ``i`` for the
    box, size and colour calls. A character beyond the BMP counts as two indexes (its UTF-16
    halves): run ``valid_text`` over what is kept."""
    raw = textpage.raw
    n = c.FPDFText_CountChars(raw)
    if n <= 0:
        return ""
    text: str = textpage.get_text_range(0, n)
    if len(text) != n:  # get_text_range joined a surrogate pair: rebuild index by index
        text = "".join(chr(c.FPDFText_GetUnicode(raw, i) or 32) for i in range(n))
    return text


def _clean(text: str) -> str:
    return " ".join(valid_text(text).split())


def cells_from_rows(rows: list[list[str | None]], header_rows: int = 1) -> tuple[TableCell, ...]:
    """A cell grid from rows of text; ``None`` marks a cell covered by a merged neighbour
    (pdfplumber's convention) and widens the span of the cell to its left."""
    cells: list[TableCell] = []
    for r, row in enumerate(rows):
        c = 0
        while c < len(row):
            text = row[c]
            span = 1
            while c + span < len(row) and row[c + span] is None:
                span += 1
            if text is not None:
                cells.append(TableCell(row=r, col=c, text=_clean(text), col_span=span,
                                       is_header=r < header_rows))
            c += span
    return tuple(cells)


def email_headers(path: Path) -> dict[str, str]:
    """Subject, from, to, cc, date (ISO 8601) and message id of an RFC 822 file."""
    with path.open("rb") as fh:
        msg = email.message_from_binary_file(fh, policy=email.policy.default)
    out: dict[str, str] = {}
    for key in ("subject", "from", "to", "cc", "message-id"):
        value = msg.get(key)
        if value:
            out[key.replace("-", "_")] = " ".join(str(value).split())
    raw_date = msg.get("date")
    if raw_date:
        try:
            out["date"] = parsedate_to_datetime(str(raw_date)).isoformat()
        except (TypeError, ValueError):
            out["date"] = str(raw_date)
    return out


#: The first bytes of an OLE2 compound file (Outlook .msg, Office 97-2003, and the wrapper
#: of a password-protected OOXML package).
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")


def encrypted_office_file(path: Path) -> bool:
    """True for a password-protected DOCX/XLSX/PPTX: Office wraps the encrypted package in
    an OLE2 compound file with an ``EncryptedPackage`` stream (MS-OFFCRYPTO) — no zip."""
    with path.open("rb") as fh:
        if fh.read(len(OLE2_MAGIC)) != OLE2_MAGIC:
            return False
        # The stream names live in the directory sectors; a bounded read finds them.
        return _ENCRYPTED_PACKAGE in fh.read(4 * 1024 * 1024)


def msg_headers(path: Path) -> dict[str, str]:
    """Subject, from, to, cc and date (ISO 8601) of an Outlook .msg file (python-oxmsg)."""
    from oxmsg import Message

    msg = Message.load(str(path))
    out: dict[str, str] = {}
    if msg.subject:
        out["subject"] = " ".join(str(msg.subject).split())
    if msg.sender:
        out["from"] = " ".join(str(msg.sender).split())
    headers = {k.lower(): v for k, v in (msg.message_headers or {}).items()}
    for key in ("to", "cc", "message-id"):
        if headers.get(key):
            out[key.replace("-", "_")] = " ".join(str(headers[key]).split())
    if msg.sent_date is not None:
        out["date"] = msg.sent_date.isoformat()
    return out


def make_document(
    request: ParseRequest,
    *,
    parser: str,
    version: str,
    elements: list[Element] | tuple[Element, ...] = (),
    status: ParseStatus = ParseStatus.SUCCESS,
    errors: tuple[ErrorItem, ...] = (),
    title: str | None = None,
    page_count: int | None = None,
    metadata: Mapping[str, str] | None = None,
) -> CanonicalDocument:
    """Assemble a canonical document for ``request``; the title defaults to the first
    title/heading element."""
    if title is None:
        title = next(
            (e.text for e in elements if e.type in (ElementType.TITLE, ElementType.HEADING)),
            None,
        )
    return CanonicalDocument(
        document_id=request.document_id,
        tenant=request.tenant,
        source_sha256=request.sha256,
        source_name=request.name,
        mime_type=request.mime_type,
        title=title,
        parser=parser,
        parser_version=version,
        status=status,
        errors=errors,
        page_count=page_count,
        metadata=dict(metadata or {}),
        elements=tuple(elements),
    )


def failed_document(
    request: ParseRequest, *, parser: str, version: str, message: str
) -> CanonicalDocument:
    """A FAILED document with one error item."""
    return make_document(
        request,
        parser=parser,
        version=version,
        status=ParseStatus.FAILED,
        errors=(ErrorItem(component=parser, message=message),),
    )


def exception_message(exc: BaseException) -> str:
    """``PARSE_FAILED: <type>: <message>`` (message trimmed to one short line)."""
    detail = " ".join(str(exc).split())[:500]
    return f"{PARSE_FAILED}: {type(exc).__name__}: {detail}"


def guarded(
    parse: Callable[[ParseRequest], CanonicalDocument], parser: str, version: Callable[[], str]
) -> Callable[[ParseRequest], CanonicalDocument]:
    """Wrap ``parse`` so that an exception becomes a FAILED document (Parser contract:
    documents are hostile input, a bad one must not take the worker down)."""

    def run(request: ParseRequest) -> CanonicalDocument:
        try:
            return parse(request)
        except Exception as exc:  # documents are hostile input
            return failed_document(request, parser=parser, version=version(),
                                   message=exception_message(exc))

    return run


def json_safe(value: Any) -> str:
    """A compact string for metadata values that may be lists."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)
