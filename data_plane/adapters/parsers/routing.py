"""Which parsers serve which format, in which order, and the router that enforces "never
silently empty".

The routing table (``ROUTES``) is data: format → an ordered chain of parsers. A parser that
fails (FAILED, or an exception inside it) or returns no text hands the file to the next one;
an encrypted file ends the chain (no parser can open it); the isolation layer's time and
memory ceilings and the archive-bomb verdicts of intake happen outside the router and are
never retried here. Every attempt is recorded in ``CanonicalDocument.attempts`` (parser,
version, role, outcome, seconds, errors) and as a ``parse`` lineage step; when a later parser
succeeds, the earlier failures stay in the attempts, not in the document's errors; when all
fail, the document's errors are every attempt's errors, each naming its parser.

The choices, with the evidence from ``/shared/PARSER_FACTS.md`` (PF) and our own measurements
(2 shared cores, offline, warm, 2026-12-01):

* **PDF → pdfplumber → docling → unstructured → OCR.** PF: docling's model-free PDF pipeline
  yields one flat item per line (no headings, paragraphs or tables); unstructured ``fast``
  guesses titles with false positives (margin stamps, running heads, table cells) and finds
  no tables. Our rule-based ``PdfPlumberParser`` measured: ``samples/annual-safety-report.pdf``
  0.15 s, title + 10/10 headings at the right two levels, the 6×5 table with cells, page
  footers recognised — unstructured: 2.1 s, H1s as list items, no levels, 30 table cells as
  titles, no table; ``layout-parser-paper-fast.pdf`` 0.14 s, title + "1 Introduction",
  running head and the rotated arXiv stamp excluded — unstructured: 0.5 s, 5 titles of which
  3 are noise; ``multi-column-2p.pdf`` 0.27 s, title + 5 real section headings + 3 false —
  unstructured: 4.4 s, 14 titles, about half noise. docling (``NativePdfPipeline``, one
  parser thread) is second: ``layout-parser-paper-fast.pdf`` 0.85 s, 88 lines with pages in
  reading order (PF: 26.9 pages/s, correct order on two columns; it parses
  ``failure-after-repair.pdf``, on which unstructured returns nothing). Unstructured ``fast``
  is third (it handles some broken files differently). OCR last, see below.
* **DOCX → docling → unstructured.** PF: handbook-872p.docx 5.9 s vs 31 s, same headings,
  merged cells kept. Unstructured is the fallback since docling fails on real DOCX whose XML
  carries a comment or processing instruction ("Invalid input tag of type
  cython_function_or_method"); unstructured read such a file (python-docx + ``<!-- -->``
  and ``<?pi?>`` in ``<w:body>``) in 0.07 s with the same heading, paragraph and table.
  docling itself retries such a file from a sanitised copy first (0.41 s, same elements).
* **PPTX, HTML, Markdown → docling → unstructured** (PF: PPTX/HTML a tie; docling gives slide
  provenance and heading levels from ``#`` depth). Unstructured on
  ``fake-power-point-table.pptx``: 0.49 s, the slide title and the 3×3 table, slide numbers.
* **XLSX, CSV → docling → unstructured.** PF found unstructured narrowly better on messy
  workbooks (docling split sheets at empty columns), but docling keeps sheets as named groups,
  which gives us ``sheet`` and the sheet-topped heading path, and marks header rows; the
  fallback keeps ``sheet`` (from ``page_name``) and the sheet heading. ``stanley-cups.xlsx``
  via unstructured: 2.2 s, both sheets, both tables.
* **EML, MSG → docling → unstructured.** PF: docling keeps the subject and headers; its body
  text is complete. Outlook ``.msg`` (python-oxmsg inside both): docling 0.06–0.07 s on
  ``msg_with_attachment.msg`` (158 chars: subject, From/To/Date, body) and
  ``fake-email-attachment.msg`` (267 chars); unstructured 0.04–0.06 s, 127 and 263 chars.
  Unstructured runs with ``process_attachments=False`` (PF: it raises on audio attachments).
  **Attachments** of an .eml or .msg become child documents (SPEC §5.2): the router only extracts
  them to files in the job's scratch folder (inside the sandbox; files inside forwarded
  messages too) and lists them in ``CanonicalDocument.attachments`` (name, type, sha256,
  size); the worker puts each through the intake checks an uploaded file gets and queues
  the accepted ones as documents of their own (``parent_document_id``), parsed by their own
  routes. The e-mail's text holds no attachment text.
* **ODT → docling → unstructured.** docling (odfdo): ``text_document_01.odt`` 0.11 s, title,
  4 headings, 8 list items; ``fake.odt`` 0.11 s, paragraph + table. Unstructured (pandoc to
  DOCX): 0.52 s, 3 headings, no title, same list items; 0.44 s on ``fake.odt``.
* **ODS, ODP → docling** (unstructured has no partitioner for them): ``odf_table_with_title_01
  .ods`` 0.10 s, 2 tables; ``odf_presentation_01.odp`` 0.48 s, 3 slide titles, 19 list items,
  a table.
* **EPUB → docling → unstructured.** PF: 0.8 s vs 9.4 s. Ours: ``epub_purvis_poetry.epub``
  docling 2.5 s vs unstructured (pandoc) 1.2 s, the same text (16,837 vs 16,834 chars) but
  docling keeps the book title; ``winter-sports.epub`` 6.1 s vs 39.9 s, same 22 tables.
* **DOC (Word 97-2003) → legacy-office** (``antiword``, see ``legacy_office.py``):
  ``legacy_sample.doc`` 0.07 s, paragraphs, lists and the table; no headings. Legacy .xls and
  .ppt are refused at intake with a message naming the format.
* **TXT → unstructured** (docling has no plain-text input).
* **PNG, JPEG, TIFF → ocr** (Tesseract; PF: both parsers' image routes want hub models and
  fail offline, tesseract directly reads a page in 0.5–0.7 s).
* **PDF pages without a text layer → ocr.** PDF routes carry ``ocr=True``: when a text parser
  succeeds, its pages with (almost) no text are rendered and OCR'd into the document in page
  order (scanned pages bound into a digital file; recorded as an ``ocr-pages`` attempt); when
  the first finds no text at all (an image-only PDF: pdfplumber, docling and unstructured
  return nothing, PF Traps), the other text parsers are skipped and the whole file is OCR'd.
  OCR is also the last resort after every text parser fails on a non-encrypted PDF.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from data_plane.adapters.parsers._common import (
    ENCRYPTED,
    NO_TEXT_EXTRACTED,
    UNSUPPORTED_FORMAT,
    exception_message,
    make_document,
    utcnow,
)
from data_plane.adapters.parsers.attachments import extract_attachments
from data_plane.adapters.parsers.formats import DocFormat, detect_format
from data_plane.adapters.parsers.ocr_parser import OcrBlock, OcrParser
from data_plane.adapters.parsers.registry import ParserRegistry, default_registry
from data_plane.domain.canonical import (
    AttachmentInfo,
    CanonicalDocument,
    Element,
    ElementType,
    ErrorItem,
    LineageStep,
    ParseAttempt,
    ParseStatus,
)
from data_plane.domain.ports import ParseRequest

__all__ = ["ROUTES", "DocFormat", "ParserRouter", "Route", "detect_format"]

ROUTER_COMPONENT = "parser-router"
OCR = "ocr"
LEGACY = "legacy-office"  # legacy_office.LegacyWordParser
#: A PDF page with fewer characters than this (page headers and footers aside) is OCR'd.
MIN_PAGE_CHARS = 20
#: An attached .eml file's own attachments are followed this many levels deep.
MAX_ATTACHMENT_DEPTH = 2


@dataclass(frozen=True, slots=True)
class Route:
    """The parsers to try for a format, in order: a parser that fails (FAILED, an exception)
    or returns no text hands the file to the next; an encrypted file ends the chain."""

    parsers: tuple[str, ...]
    ocr: bool = False  # OCR pages without text, and the whole file when no text came out
    attachments: bool = False  # parse an e-mail's attachments into the document

    def __post_init__(self) -> None:
        if not self.parsers:
            raise ValueError("a route needs at least one parser")


def _route(*parsers: str, ocr: bool = False, attachments: bool = False) -> Route:
    return Route(parsers, ocr=ocr, attachments=attachments)


ROUTES: Mapping[DocFormat, Route] = MappingProxyType({
    DocFormat.PDF: _route("pdfplumber", "docling", "unstructured", ocr=True),
    DocFormat.DOCX: _route("docling", "unstructured"),
    DocFormat.PPTX: _route("docling", "unstructured"),
    DocFormat.XLSX: _route("docling", "unstructured"),
    DocFormat.CSV: _route("docling", "unstructured"),
    DocFormat.HTML: _route("docling", "unstructured"),
    DocFormat.MARKDOWN: _route("docling", "unstructured"),
    DocFormat.EML: _route("docling", "unstructured", attachments=True),
    DocFormat.MSG: _route("docling", "unstructured", attachments=True),
    DocFormat.ODT: _route("docling", "unstructured"),
    DocFormat.ODS: _route("docling"),
    DocFormat.ODP: _route("docling"),
    DocFormat.EPUB: _route("docling", "unstructured"),
    DocFormat.DOC: _route(LEGACY),
    DocFormat.TXT: _route("unstructured"),
    DocFormat.PNG: _route(OCR),
    DocFormat.JPEG: _route(OCR),
    DocFormat.TIFF: _route(OCR),
})


class ParserRouter:
    """Parses a request with the routed parser(s); always returns a canonical document.

    The result's ``attempts`` list every parser run in order (parser, version, role, status,
    seconds, errors), and its lineage has one ``parse`` step per attempt. When a later parser
    succeeds, the earlier failures stay in their attempts, not in the document's errors.
    Satisfies the ``Parser`` port.
    """

    name: str = ROUTER_COMPONENT

    def __init__(
        self,
        registry: ParserRegistry | None = None,
        routes: Mapping[DocFormat, Route] = ROUTES,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._registry = registry if registry is not None else default_registry()
        self._routes = routes
        self._clock = clock

    def warm_up(self) -> None:
        """Load the parsing libraries by parsing a tiny document per text format (a worker's
        parser process calls this when it starts, so that no document pays the imports)."""
        with tempfile.TemporaryDirectory(prefix="warm-up-") as tmp:
            for name, data in _WARM_UP_FILES.items():
                path = Path(tmp) / name
                path.write_bytes(data)
                self.parse(ParseRequest(document_id="warm-up", tenant="warm-up", path=path,
                                        name=name, mime_type="", sha256=""))

    def route_for(self, request: ParseRequest) -> tuple[DocFormat, Route | None]:
        """The detected format of ``request`` and its route (``None`` if unsupported)."""
        fmt = detect_format(request.name, request.mime_type)
        return fmt, self._routes.get(fmt)

    def parse(self, request: ParseRequest) -> CanonicalDocument:
        """Parse ``request`` with its route's chain; FAILED if no parser gave text."""
        return self._parse(request, depth=0)

    def _parse(self, request: ParseRequest, depth: int) -> CanonicalDocument:
        fmt, route = self.route_for(request)
        if route is None:
            now = self._clock()
            doc = make_document(
                request, parser=ROUTER_COMPONENT, version="1", status=ParseStatus.FAILED,
                errors=(ErrorItem(
                    component=ROUTER_COMPONENT,
                    message=f"{UNSUPPORTED_FORMAT}: no parser for {request.name!r} "
                    f"(declared type {request.mime_type or 'none'})",
                ),),
            )
            step = LineageStep(stage="parse", component=ROUTER_COMPONENT, version="1",
                               started_at=now, finished_at=now,
                               details={"format": fmt.value, "status": doc.status.value})
            return doc.model_copy(update={"lineage": (step,)})

        steps: list[LineageStep] = []
        tried: list[ParseAttempt] = []
        failed: list[CanonicalDocument] = []
        for position, name in enumerate(route.parsers):
            doc, step, attempt = self._attempt(
                name, "primary" if position == 0 else "fallback", fmt, request)
            steps.append(step)
            tried.append(attempt)
            if doc.status is not ParseStatus.FAILED:
                doc = doc.model_copy(update={"lineage": (*doc.lineage, *steps),
                                             "attempts": tuple(tried)})
                if route.ocr:
                    doc = self._ocr_fill(doc, request)
                if route.attachments and depth < MAX_ATTACHMENT_DEPTH:
                    doc = self._with_attachments(doc, request, depth)
                return doc
            failed.append(doc)
            if _has_error(doc, ENCRYPTED):
                break
            if route.ocr and _has_error(doc, NO_TEXT_EXTRACTED):
                break  # no text layer: another text parser finds none either (PF, Traps)
        if route.ocr and not _has_error(failed[-1], ENCRYPTED):
            doc, step, attempt = self._attempt(OCR, "ocr", fmt, request)
            steps.append(step)
            tried.append(attempt)
            if doc.status is not ParseStatus.FAILED:
                return doc.model_copy(update={"lineage": (*doc.lineage, *steps),
                                              "attempts": tuple(tried)})
            failed.append(doc)
        last = failed[-1]
        # Each error names the parser it came from: the pipeline keeps only the messages
        # (the report's detail), and a vendor reads there why every parser failed.
        errors = tuple(_attributed(e, a.parser) for a in tried for e in a.errors)
        return last.model_copy(update={
            "status": ParseStatus.FAILED, "errors": errors, "elements": (),
            "lineage": (*last.lineage, *steps), "attempts": tuple(tried),
        })

    def _attempt(
        self, name: str, role: str, fmt: DocFormat, request: ParseRequest
    ) -> tuple[CanonicalDocument, LineageStep, ParseAttempt]:
        started = self._clock()
        version = "unknown"
        try:
            parser = self._registry.get(name)
            doc = parser.parse(request)
            version = doc.parser_version
        except Exception as exc:  # a parser defect must not lose the document
            doc = make_document(
                request, parser=name, version=version, status=ParseStatus.FAILED,
                errors=(ErrorItem(component=name, message=exception_message(exc)),),
            )
        if doc.status is not ParseStatus.FAILED and doc.text_chars == 0:
            doc = doc.model_copy(update={
                "status": ParseStatus.FAILED,
                "errors": (*doc.errors, ErrorItem(
                    component=name,
                    message=f"{NO_TEXT_EXTRACTED}: no text in {request.name!r} "
                    "(image-only or scanned document, or an empty file)",
                )),
            })
        finished = self._clock()
        seconds = round((finished - started).total_seconds(), 3)
        details: dict[str, Any] = {
            "role": role,
            "format": fmt.value,
            "status": doc.status.value,
            "elements": len(doc.elements),
            "text_chars": doc.text_chars,
            "seconds": seconds,
        }
        if doc.errors:
            details["errors"] = [e.message for e in doc.errors]
        step = LineageStep(stage="parse", component=name, version=doc.parser_version,
                           started_at=started, finished_at=finished, details=details)
        attempt = ParseAttempt(parser=name, version=doc.parser_version, role=role,
                               status=doc.status, seconds=seconds,
                               elements=len(doc.elements), text_chars=doc.text_chars,
                               errors=doc.errors)
        return doc, step, attempt

    def _with_attachments(self, doc: CanonicalDocument, request: ParseRequest,
                          depth: int) -> CanonicalDocument:
        """List each attachment of an e-mail in ``attachments`` and, given the job's
        ``attachments_dir``, write it there (still inside the sandbox); the worker admits
        each through intake as a child document (SPEC §5.2). No attachment text joins the
        e-mail."""
        started = self._clock()
        try:
            found = extract_attachments(request.path, request.attachments_dir)
        except Exception as exc:  # the body stands; say the attachments were lost
            return doc.model_copy(update={
                "status": ParseStatus.PARTIAL_SUCCESS,
                "errors": (*doc.errors, ErrorItem(
                    component=ROUTER_COMPONENT,
                    message=f"attachments not read: {exception_message(exc)}"))})
        if not found:
            return doc
        infos = tuple(AttachmentInfo(name=att.raw_name or att.name, mime_type=att.mime_type,
                                     sha256=hashlib.sha256(att.data).hexdigest(),
                                     size=len(att.data)) for att in found)
        step = LineageStep(stage="parse", component=ROUTER_COMPONENT, version="1",
                           started_at=started, finished_at=self._clock(),
                           details={"role": "attachments", "extracted": len(infos)})
        return doc.model_copy(update={"attachments": infos,
                                      "lineage": (*doc.lineage, step)})

    def _ocr_fill(self, doc: CanonicalDocument, request: ParseRequest) -> CanonicalDocument:
        """OCR the pages of a parsed PDF that carry no text, and merge them in page order."""
        if not doc.page_count:
            return doc
        chars: dict[int, int] = {}
        for e in doc.elements:
            if e.page is not None and e.type not in _FURNITURE:
                chars[e.page] = chars.get(e.page, 0) + len(e.text.strip())
        missing = [p for p in range(1, doc.page_count + 1) if chars.get(p, 0) < MIN_PAGE_CHARS]
        if not missing:
            return doc
        started = self._clock()
        errors: tuple[ErrorItem, ...] = ()
        version = "unknown"
        blocks: list[OcrBlock] = []
        try:
            ocr = self._registry.get(OCR)
            version = getattr(ocr, "version", version)
            if not isinstance(ocr, OcrParser):
                raise TypeError(f"the parser registered as {OCR!r} cannot OCR single pages")
            blocks = ocr.ocr_pages(request, missing)
        except Exception as exc:  # the text pages stand; the document is partial
            errors = (ErrorItem(component=OCR, message=exception_message(exc)),)
        elements = _merge_ocr(doc.elements, blocks)
        details: dict[str, Any] = {"role": "ocr-pages", "pages": missing,
                                   "elements": len(blocks), "status": "FAILED" if errors
                                   else "SUCCESS"}
        if errors:
            details["errors"] = [e.message for e in errors]
        finished = self._clock()
        seconds = round((finished - started).total_seconds(), 3)
        details["seconds"] = seconds
        step = LineageStep(stage="parse", component=OCR, version=version, started_at=started,
                           finished_at=finished, details=details)
        attempt = ParseAttempt(
            parser=OCR, version=version, role="ocr-pages",
            status=ParseStatus.FAILED if errors else ParseStatus.SUCCESS, seconds=seconds,
            elements=len(blocks), text_chars=sum(len(b.text.strip()) for b in blocks),
            errors=errors)
        metadata = dict(doc.metadata)
        if blocks:
            metadata["ocr_pages"] = ",".join(str(p) for p in sorted({b.page for b in blocks}))
        return doc.model_copy(update={
            "elements": elements, "metadata": metadata,
            "status": ParseStatus.PARTIAL_SUCCESS if errors else doc.status,
            "errors": (*doc.errors, *errors), "lineage": (*doc.lineage, step),
            "attempts": (*doc.attempts, attempt),
        })


_FURNITURE = (ElementType.PAGE_HEADER, ElementType.PAGE_FOOTER)

_WARM_UP_FILES: dict[str, bytes] = {
    "warm-up.md": b"# Warm up\n\nA paragraph.\n",
    "warm-up.html": b"<html><body><h1>Warm up</h1><p>A paragraph.</p></body></html>",
    "warm-up.csv": b"a,b\n1,2\n",
    "warm-up.txt": b"Warm up.\n\nA paragraph of plain text.\n",
    "warm-up.eml": b"Subject: Warm up\nFrom: a@example.org\nTo: b@example.org\n\nBody.\n",
}


def _has_error(doc: CanonicalDocument, code: str) -> bool:
    return any(e.message.startswith(code) for e in doc.errors)


_CODE = re.compile(r"^([A-Z_]+): ")


def _attributed(error: ErrorItem, parser: str) -> ErrorItem:
    """``CODE: detail`` → ``CODE: parser: detail`` (the code stays first: the pipeline keys
    on it; ``data_plane.domain.canonical.attempts_in_detail`` reads the parser back)."""
    match = _CODE.match(error.message)
    detail = error.message[match.end():] if match else error.message
    if detail.startswith(f"{parser}: "):
        return error
    prefix = f"{match.group(1)}: " if match else ""
    return error.model_copy(update={"message": f"{prefix}{parser}: {detail}"})


def _merge_ocr(elements: tuple[Element, ...], blocks: list[OcrBlock]) -> tuple[Element, ...]:
    """Pure: insert OCR'd blocks (as paragraphs under the enclosing heading path) before the
    first element of a later page; re-number the elements."""
    pending = sorted(blocks, key=lambda b: b.page)
    out: list[Element] = []
    path: tuple[str, ...] = ()
    i = 0

    def flush(before_page: int | None) -> None:
        nonlocal i
        while i < len(pending) and (before_page is None or pending[i].page < before_page):
            b = pending[i]
            out.append(Element(index=0, type=ElementType.PARAGRAPH, text=b.text,
                               heading_path=path, page=b.page, bbox=b.bbox,
                               attributes={"source": "ocr",
                                           "confidence": f"{b.confidence:.1f}"}))
            i += 1

    for e in elements:
        if e.page is not None:
            flush(e.page)
        out.append(e)
        path = e.heading_path
    flush(None)
    return tuple(e.model_copy(update={"index": n}) for n, e in enumerate(out))
