"""Docling adapter: DOCX, PPTX, HTML, Markdown, XLSX, CSV, e-mail (.eml and Outlook .msg),
OpenDocument (.odt/.ods/.odp), EPUB and — model-free — PDF text → canonical document.

PDF goes through docling's ``NativePdfPipeline`` (no layout, OCR or table model: those want
model-hub weights we do not ship): one text item per line, in reading order, with its page.
It is the PDF route's second parser, after the rule-based reader (see ``routing.py``).

A DOCX whose XML carries a comment or processing instruction where docling's Word backend
expects an element fails with "Invalid input tag of type cython_function_or_method" (lxml
hands the comment node's factory function to python-docx). Such a file is converted once
more from a copy without XML comments and processing instructions (``sanitized_docx``); the
document's ``metadata["sanitized"]`` says so.

Walks the DoclingDocument tree in reading order (body layer only, page headers/footers
kept as such) and maps:

* title → TITLE (rank 0 of the heading path), section header → HEADING with its level;
  in a presentation (PPTX, ODP) every slide title is a level-1 HEADING (a deck has no
  single title);
* a spreadsheet's sheet group → a level-1 HEADING named after the sheet, which tops the
  heading path of the sheet's tables; ``sheet`` is set on every element of the sheet;
* text/paragraph → PARAGRAPH, list item → LIST_ITEM, caption, code, formula, footnote;
  an inline group (a paragraph with inline code or links) → one PARAGRAPH;
* table → TABLE with the cell grid (spans, header flags) and Markdown text; rich cells
  (nested content) get the plain text of their content;
* picture → PICTURE with empty text, followed by its caption as a CAPTION element;
* e-mail: the ``From:``/``To:``/``Date:`` lines docling puts first → EMAIL_HEADER; the
  headers (parsed with the standard library) also go into ``metadata``.

``page`` is the slide number for presentations and the page of a PDF (from provenance); the
other formats here are not paginated.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from data_plane.adapters.parsers.formats import CANONICAL_EXTENSION, DocFormat, detect_format
from data_plane.domain.canonical import (
    CanonicalDocument,
    ElementType,
    ErrorItem,
    ParseStatus,
    TableCell,
)
from data_plane.domain.ports import ParseRequest

if TYPE_CHECKING:
    from docling.document_converter import DocumentConverter

_MD_FOOTNOTE = re.compile(r"^\[\^[^\]\s]+\]:\s")  # docling reads footnote definitions as text
_EMAIL_HEADER = re.compile(r"^(From|To|Cc|Bcc|Date|Subject|Reply-To):\s", re.IGNORECASE)
#: docling's Word backend meeting an lxml comment / processing-instruction node.
_LXML_NODE_BUG = "Invalid input tag of type"
_PAGINATED = frozenset({DocFormat.PPTX, DocFormat.PDF, DocFormat.ODP})
_EMAIL = frozenset({DocFormat.EML, DocFormat.MSG})
_SLIDES = frozenset({DocFormat.PPTX, DocFormat.ODP})  # every slide title is a heading
#: Formats that arrive as an OOXML/ODF package: an OLE2 file under such a name is
#: password-protected (the encrypted package sits inside a compound file).
_PACKAGES = frozenset({DocFormat.DOCX, DocFormat.PPTX, DocFormat.XLSX})


class DoclingParser:
    """The primary parser for office formats, web pages, Markdown, spreadsheets and e-mail.

    The docling converter is built once per instance, on the first parse.
    """

    name = "docling"
    formats: frozenset[DocFormat] = frozenset({
        DocFormat.DOCX, DocFormat.PPTX, DocFormat.HTML, DocFormat.MARKDOWN,
        DocFormat.XLSX, DocFormat.CSV, DocFormat.EML, DocFormat.MSG, DocFormat.ODT,
        DocFormat.ODS, DocFormat.ODP, DocFormat.EPUB, DocFormat.PDF,
    })

    def __init__(self, *, sanitize_docx: bool = True) -> None:
        """``sanitize_docx=False`` turns the DOCX comment work-around off (tests use it to
        show the router's fallback on docling's own failure)."""
        self._sanitize_docx = sanitize_docx
        self._converter: DocumentConverter | None = None
        self._version: str | None = None
        self._parse = guarded(self._parse_unguarded, self.name, lambda: self.version)

    @property
    def version(self) -> str:
        """Installed docling version (distribution ``docling-slim``, else ``docling``)."""
        if self._version is None:
            self._version = package_version("docling-slim", "docling")
        return self._version

    def parse(self, request: ParseRequest) -> CanonicalDocument:
        """Parse one file; never raises for a bad document (FAILED with an error item)."""
        return self._parse(request)

    def _converter_for_use(self) -> DocumentConverter:
        if self._converter is None:
            from frostbyte_common.offline import silence_egress

            silence_egress()
            from docling.datamodel.base_models import InputFormat
            from docling.datamodel.pipeline_options import NativePdfPipelineOptions
            from docling.document_converter import DocumentConverter, NativePdfFormatOption

            allowed = [InputFormat.DOCX, InputFormat.PPTX, InputFormat.HTML, InputFormat.MD,
                       InputFormat.XLSX, InputFormat.CSV, InputFormat.EMAIL, InputFormat.ODT,
                       InputFormat.ODS, InputFormat.ODP, InputFormat.EPUB, InputFormat.PDF]
            # One parser thread: the isolated child shares two cores with the worker.
            native = NativePdfFormatOption(
                pipeline_options=NativePdfPipelineOptions(parser_threads=1))
            self._converter = DocumentConverter(allowed_formats=allowed,
                                                format_options={InputFormat.PDF: native})
        return self._converter

    def _parse_unguarded(self, request: ParseRequest) -> CanonicalDocument:
        fmt = detect_format(request.name, request.mime_type)
        if fmt not in self.formats:
            return failed_document(request, parser=self.name, version=self.version,
                                   message=f"{UNSUPPORTED_FORMAT}: docling does not handle {fmt}")
        from docling.datamodel.base_models import ConversionStatus
        from docling_core.types.io import DocumentStream

        if fmt in _PACKAGES and encrypted_office_file(request.path):
            return failed_document(
                request, parser=self.name, version=self.version,
                message=f"{ENCRYPTED}: {request.name!r} is password-protected; remove the "
                "password and send it again")
        converter = self._converter_for_use()
        metadata: dict[str, str] = {"format": fmt.value}
        source: Path | DocumentStream = request.path
        ext = CANONICAL_EXTENSION[fmt]
        if request.path.suffix.lower() != ext:
            # Content-addressed storage drops the extension; docling detects by name.
            source = DocumentStream(name=f"document{ext}",
                                    stream=io.BytesIO(request.path.read_bytes()))
        result = converter.convert(source, raises_on_error=False)
        if (self._sanitize_docx and fmt is DocFormat.DOCX
                and result.status is ConversionStatus.FAILURE
                and any(_LXML_NODE_BUG in e.error_message for e in result.errors)):
            clean = sanitized_docx(request.path.read_bytes())
            result = converter.convert(
                DocumentStream(name="document.docx", stream=io.BytesIO(clean)),
                raises_on_error=False)
            metadata["sanitized"] = "xml comments and processing instructions removed"
        errors = tuple(
            ErrorItem(component=f"{self.name}:{e.component_type}", message=e.error_message)
            for e in result.errors
        )
        if result.status not in (ConversionStatus.SUCCESS, ConversionStatus.PARTIAL_SUCCESS):
            detail = "; ".join(e.message for e in errors) or f"status {result.status.value}"
            return failed_document(
                request, parser=self.name, version=self.version,
                message=f"PARSE_FAILED: conversion {result.status.value}: {detail}")
        walker = _Walker(result.document, fmt)
        walker.walk(result.document.body)
        title: str | None = None
        if fmt in _EMAIL:
            metadata.update(email_headers(request.path) if fmt is DocFormat.EML
                            else msg_headers(request.path))
            title = metadata.get("subject")
        page_count = (len(result.document.pages) or None) if fmt in _PAGINATED else None
        status = (ParseStatus.PARTIAL_SUCCESS
                  if result.status is ConversionStatus.PARTIAL_SUCCESS or errors
                  else ParseStatus.SUCCESS)
        return make_document(
            request, parser=self.name, version=self.version, elements=walker.builder.elements,
            status=status, errors=errors, title=title, page_count=page_count, metadata=metadata,
        )


class _Walker:
    """Depth-first walk of a DoclingDocument's body in reading order."""

    def __init__(self, doc: Any, fmt: DocFormat) -> None:
        self.doc = doc
        self.fmt = fmt
        self.builder = ElementBuilder()
        self._seen: set[str] = set()
        self._in_email_headers = fmt in _EMAIL

    def walk(self, node: Any, sheet: str | None = None) -> None:
        from docling_core.types.doc import (  # type: ignore[attr-defined]
            ContentLayer,
            GroupItem,
            ListItem,
            PictureItem,
            SectionHeaderItem,
            TableItem,
        )
        from docling_core.types.doc.labels import DocItemLabel, GroupLabel

        b = self.builder
        for ref in node.children:
            item = ref.resolve(self.doc)
            if item.self_ref in self._seen:
                continue
            self._seen.add(item.self_ref)
            layer = getattr(item, "content_layer", ContentLayer.BODY)
            label = getattr(item, "label", None)
            if layer not in (ContentLayer.BODY, ContentLayer.FURNITURE):
                continue
            if layer is ContentLayer.FURNITURE and label not in (
                DocItemLabel.PAGE_HEADER, DocItemLabel.PAGE_FOOTER
            ):
                continue
            page = self._page(item)
            if isinstance(item, GroupItem):
                if label is GroupLabel.INLINE:
                    b.add(ElementType.PARAGRAPH, self._plain_text(item), page=page, sheet=sheet)
                elif label is GroupLabel.SHEET:
                    b.reset_headings()
                    b.heading(item.name, 1, sheet=item.name, attributes={"source": "sheet"})
                    self.walk(item, sheet=item.name)
                    b.reset_headings()
                else:
                    self.walk(item, sheet)
                continue
            text = " ".join(str(getattr(item, "text", "")).split()) if label not in (
                DocItemLabel.CODE,) else str(getattr(item, "text", ""))
            if isinstance(item, TableItem):
                b.table(self._cells(item), page=page, sheet=sheet)
                self._captions(item, page, sheet)
                self._mark_descendants(item)
                continue
            if isinstance(item, PictureItem):
                b.add(ElementType.PICTURE, "", page=page, sheet=sheet)
                self._captions(item, page, sheet)
                self._mark_descendants(item)
                continue
            if self._in_email_headers:
                if label is not DocItemLabel.TITLE and _EMAIL_HEADER.match(text):
                    b.add(ElementType.EMAIL_HEADER, text, page=page, sheet=sheet)
                    continue
                if label is not DocItemLabel.TITLE:
                    self._in_email_headers = False
            if label is DocItemLabel.TITLE:
                if self.fmt in _SLIDES:
                    b.heading(text, 1, page=page, sheet=sheet)
                else:
                    b.heading(text, None, title=True, page=page, sheet=sheet)
            elif isinstance(item, SectionHeaderItem):
                b.heading(text, item.level, page=page, sheet=sheet)
            elif isinstance(item, ListItem):
                b.add(ElementType.LIST_ITEM, text, page=page, sheet=sheet)
            elif self.fmt is DocFormat.MARKDOWN and _MD_FOOTNOTE.match(text):
                b.add(ElementType.FOOTNOTE, text, page=page, sheet=sheet)  # "[^1]: …"
            else:
                b.add(_LABELS.get(label, ElementType.PARAGRAPH), text, page=page, sheet=sheet)
            if getattr(item, "children", None):
                self.walk(item, sheet)

    def _page(self, item: Any) -> int | None:
        if self.fmt not in _PAGINATED:
            return None
        prov = getattr(item, "prov", None)
        if prov:
            return int(prov[0].page_no)
        return None

    def _captions(self, item: Any, page: int | None, sheet: str | None) -> None:
        for ref in getattr(item, "captions", ()):
            cap = ref.resolve(self.doc)
            if cap.self_ref in self._seen:
                continue
            self._seen.add(cap.self_ref)
            self.builder.add(ElementType.CAPTION, self._plain_text(cap), page=page, sheet=sheet)

    def _mark_descendants(self, item: Any) -> None:
        for child, _ in self.doc.iterate_items(root=item, with_groups=True,
                                               traverse_pictures=True):
            self._seen.add(child.self_ref)

    def _plain_text(self, item: Any) -> str:
        parts: list[str] = []
        own = getattr(item, "text", "")
        if own:
            parts.append(str(own))
        for child, _ in self.doc.iterate_items(root=item, with_groups=False,
                                               traverse_pictures=True):
            if child is item:
                continue
            child_text = getattr(child, "text", "")
            if child_text:
                parts.append(str(child_text))
            self._seen.add(child.self_ref)
        return " ".join(" ".join(parts).split())

    def _cells(self, table: Any) -> tuple[TableCell, ...]:
        cells: list[TableCell] = []
        for c in table.data.table_cells:
            text = c.text
            ref = getattr(c, "ref", None)
            if ref is not None and not text.strip():
                text = self._plain_text(ref.resolve(self.doc))
            cells.append(TableCell(
                row=c.start_row_offset_idx,
                col=c.start_col_offset_idx,
                text=" ".join(text.split()),
                row_span=max(1, c.row_span),
                col_span=max(1, c.col_span),
                is_header=bool(c.column_header or c.row_header),
            ))
        cells.sort(key=lambda c: (c.row, c.col))
        return tuple(cells)


def sanitized_docx(data: bytes) -> bytes:
    """A copy of a DOCX package whose XML parts carry no comments and no processing
    instructions (the XML declaration aside); other members are copied as they are.

    Runs where the parse runs (the isolated child, under its memory ceiling); the parts are
    parsed without entity resolution or network access."""
    from lxml import etree  # type: ignore[import-untyped]

    parser = etree.XMLParser(remove_comments=True, remove_pis=True, resolve_entities=False,
                             no_network=True)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            member = src.read(info)
            if info.filename.endswith((".xml", ".rels")):
                root = etree.fromstring(member, parser)
                member = etree.tostring(root, xml_declaration=True, encoding="UTF-8",
                                        standalone=True)
            dst.writestr(info, member)
    return out.getvalue()


def _labels() -> dict[Any, ElementType]:
    from docling_core.types.doc.labels import DocItemLabel

    return {
        DocItemLabel.CAPTION: ElementType.CAPTION,
        DocItemLabel.CODE: ElementType.CODE,
        DocItemLabel.FORMULA: ElementType.FORMULA,
        DocItemLabel.FOOTNOTE: ElementType.FOOTNOTE,
        DocItemLabel.PAGE_HEADER: ElementType.PAGE_HEADER,
        DocItemLabel.PAGE_FOOTER: ElementType.PAGE_FOOTER,
        DocItemLabel.LIST_ITEM: ElementType.LIST_ITEM,
        DocItemLabel.TEXT: ElementType.PARAGRAPH,
        DocItemLabel.PARAGRAPH: ElementType.PARAGRAPH,
        DocItemLabel.REFERENCE: ElementType.TEXT,
    }


class _LazyLabels(dict[Any, ElementType]):
    """Label map built on first lookup, so importing this module does not import docling."""

    def get(self, key: Any, default: Any = None) -> Any:
        if not self:
            self.update(_labels())
        return super().get(key, default)


_LABELS = _LazyLabels()
