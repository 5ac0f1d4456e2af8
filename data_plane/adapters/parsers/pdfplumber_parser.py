"""pdfplumber adapter: PDFs with a text layer → headings by font size, paragraphs, ruled tables.

Neither docling's model-free PDF pipeline (one flat item per line, no headings, no tables) nor
unstructured ``fast`` (guessed titles, no levels, table cells as titles, no tables) gives usable
structure offline (PARSER_FACTS.md). This parser is a small rule-based layout reader:

* words come in content-stream order (``use_text_flow``), which keeps the columns of
  two-column papers apart, and are grouped into lines; a line's font size is the size most of
  its characters have, and it is bold when most of its characters use a bold font;
* the body size is the most common character size of the document; a heading is a short line
  (at most 20 words, containing letters, not ending in a comma) whose size is at least 1.15 ×
  the body size (or ≥ body + 0.9 pt when bold), or a bold body-size line of at most 12 words
  standing alone (a paragraph break on both sides); levels are ranks of the distinct heading
  sizes, largest first, bold body-size headings last; the largest line on page 1, if larger
  than every other heading, is the TITLE;
* lines in the top/bottom 7 % of a page whose text (digits ignored) repeats on several pages,
  or that are bare page numbers, become PAGE_HEADER / PAGE_FOOTER;
* ruled tables come from pdfplumber's table finder, become TABLE elements with cells, and
  their words are kept out of the paragraphs; the table takes the reading-order place of its
  first word;
* remaining lines join into paragraphs, split at vertical gaps, indentation changes, size
  changes and bullet/number markers (LIST_ITEM).

Measured (``make``-free, 2 cores, warm), heading elements found vs the document's real
headings, against unstructured ``fast``:

============================================  ==========================  =====================
file                                          pdfplumber (this parser)   unstructured fast
============================================  ==========================  =====================
samples/annual-safety-report.pdf (4 p)        title + 4 H1 + 7 H2, all    4 H1 as ListItem, 7 H2
                                              right, 1 table 6×5, 0.15 s  as Title (no levels),
                                                                          30 table cells as
                                                                          Title, 0 tables, 2.1 s
layout-parser-paper-fast.pdf (2 p)            see routing.py docstring    see routing.py
============================================  ==========================  =====================

An encrypted PDF yields FAILED with ``ENCRYPTED: ...`` instead of an exception.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from data_plane.adapters.parsers._common import (
    ENCRYPTED,
    UNSUPPORTED_FORMAT,
    ElementBuilder,
    cells_from_rows,
    failed_document,
    guarded,
    make_document,
    package_version,
)
from data_plane.adapters.parsers.formats import DocFormat, detect_format
from data_plane.domain.canonical import BoundingBox, CanonicalDocument, ElementType
from data_plane.domain.ports import ParseRequest

HEADING_SIZE_RATIO = 1.15
MAX_HEADING_WORDS = 20
MAX_BOLD_HEADING_WORDS = 12
MARGIN_FRACTION = 0.07
X_TOLERANCE = 1.5  # pdfplumber's 3 glues the words of tightly set (LaTeX) text
_BULLET = re.compile(
    r"^\s*(?:[•\u2022\u25aa\u25cf\u2013\-\*]\s+|\(?[0-9]{1,2}[.)]\s+|\(?[a-z][.)]\s+)"
)
_BOLD = re.compile(r"bold|black|heavy|demi|medi\b|-medi|\.B\b|,B\b", re.IGNORECASE)
_PAGE_NUMBER = re.compile(r"^(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?$", re.IGNORECASE)


@dataclass
class _Line:
    page: int
    text: str
    x0: float
    top: float
    x1: float
    bottom: float
    size: float
    bold: bool
    table: int | None = None  # index of the table this line belongs to
    kind: ElementType | None = None
    level: int | None = None
    words: list[str] = field(default_factory=list)


class PdfPlumberParser:
    """Rule-based PDF structure from pdfplumber: headings by font size, tables, pages."""

    name = "pdfplumber"
    formats: frozenset[DocFormat] = frozenset({DocFormat.PDF})

    def __init__(self) -> None:
        self._version: str | None = None
        self._parse = guarded(self._parse_unguarded, self.name, lambda: self.version)

    @property
    def version(self) -> str:
        """Installed pdfplumber version."""
        if self._version is None:
            self._version = package_version("pdfplumber")
        return self._version

    def parse(self, request: ParseRequest) -> CanonicalDocument:
        """Parse one PDF; never raises for a bad document (FAILED with an error item)."""
        return self._parse(request)

    def _parse_unguarded(self, request: ParseRequest) -> CanonicalDocument:
        fmt = detect_format(request.name, request.mime_type)
        if fmt not in self.formats:
            return failed_document(request, parser=self.name, version=self.version,
                                   message=f"{UNSUPPORTED_FORMAT}: pdfplumber reads PDF only")
        import pdfplumber
        from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

        try:
            pdf = pdfplumber.open(request.path)
        except Exception as exc:
            causes = (exc, *exc.args, exc.__cause__, exc.__context__)
            if any(isinstance(c, PDFPasswordIncorrect | PDFEncryptionError) for c in causes):
                return failed_document(
                    request, parser=self.name, version=self.version,
                    message=f"{ENCRYPTED}: the PDF is password-protected or encrypted; "
                    "submit an unencrypted copy",
                )
            raise
        with pdf:
            page_count = len(pdf.pages)
            lines, tables = _read_pages(pdf)
        metadata = {"format": fmt.value}
        elements = _structure(lines, tables)
        return make_document(request, parser=self.name, version=self.version,
                             elements=elements.elements, page_count=page_count,
                             metadata=metadata)


@dataclass
class _Table:
    page: int
    bbox: tuple[float, float, float, float]
    rows: list[list[str | None]]


def _read_pages(pdf: Any) -> tuple[list[_Line], list[_Table]]:
    lines: list[_Line] = []
    tables: list[_Table] = []
    for page_no, page in enumerate(pdf.pages, start=1):
        page_tables = []
        for t in page.find_tables():
            rows = t.extract()
            if len(rows) >= 2 and max(len(r) for r in rows) >= 2:
                page_tables.append(len(tables))
                tables.append(_Table(page=page_no, bbox=tuple(t.bbox), rows=rows))
        # Rotated text (margin stamps such as arXiv's) is not part of the reading flow.
        upright = page.filter(lambda obj: obj.get("object_type") != "char"
                              or bool(obj.get("upright", True)))
        words = upright.extract_words(use_text_flow=True, keep_blank_chars=False,
                                      x_tolerance=X_TOLERANCE, extra_attrs=["size", "fontname"])
        current: list[dict[str, Any]] = []
        for w in words:
            if current and _new_line(current[-1], w):
                lines.append(_make_line(page_no, current, tables, page_tables))
                current = []
            current.append(w)
        if current:
            lines.append(_make_line(page_no, current, tables, page_tables))
        _mark_margins(lines, page_no, float(page.height))
        # Running heads first, running feet last, whatever order the PDF drew them in.
        start = next(i for i, ln in enumerate(lines) if ln.page == page_no) if any(
            ln.page == page_no for ln in lines) else len(lines)
        lines[start:] = sorted(lines[start:], key=_furniture_order)
    return lines, tables


def _new_line(prev: dict[str, Any], word: dict[str, Any]) -> bool:
    size = max(float(prev["size"]), float(word["size"]), 1.0)
    overlap = min(float(word["bottom"]), float(prev["bottom"])) - max(
        float(word["top"]), float(prev["top"]))
    shorter = max(min(float(word["bottom"]) - float(word["top"]),
                      float(prev["bottom"]) - float(prev["top"])), 0.1)
    # Same line when the boxes overlap vertically by half the smaller box (superscripts too).
    same_line = overlap >= 0.5 * shorter
    moved_back = float(word["x0"]) < float(prev["x1"]) - 1.0
    far_right = float(word["x0"]) - float(prev["x1"]) > 3.0 * size
    return not same_line or moved_back or far_right


def _make_line(page: int, words: list[dict[str, Any]], tables: list[_Table],
               page_tables: list[int]) -> _Line:
    sizes: Counter[float] = Counter()
    bold_chars = 0
    chars = 0
    for w in words:
        n = len(w["text"])
        sizes[round(float(w["size"]) * 2) / 2] += n
        chars += n
        if _BOLD.search(str(w["fontname"])):
            bold_chars += n
    line = _Line(
        page=page,
        text=" ".join(w["text"] for w in words),
        x0=min(float(w["x0"]) for w in words),
        top=min(float(w["top"]) for w in words),
        x1=max(float(w["x1"]) for w in words),
        bottom=max(float(w["bottom"]) for w in words),
        size=sizes.most_common(1)[0][0],
        bold=bold_chars >= 0.8 * chars,
        words=[w["text"] for w in words],
    )
    cx = (line.x0 + line.x1) / 2
    cy = (line.top + line.bottom) / 2
    for ti in page_tables:
        x0, top, x1, bottom = tables[ti].bbox
        if x0 - 1 <= cx <= x1 + 1 and top - 1 <= cy <= bottom + 1:
            line.table = ti
            break
    return line


def _mark_margins(lines: list[_Line], page_no: int, height: float) -> None:
    for line in lines:
        if line.page != page_no or line.table is not None:
            continue
        if line.bottom <= height * MARGIN_FRACTION:
            line.kind = ElementType.PAGE_HEADER
        elif line.top >= height * (1 - MARGIN_FRACTION):
            line.kind = ElementType.PAGE_FOOTER


def _furniture_order(line: _Line) -> int:
    if line.kind is ElementType.PAGE_HEADER:
        return 0
    return 2 if line.kind is ElementType.PAGE_FOOTER else 1


def _furniture_key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def _structure(lines: list[_Line], tables: list[_Table]) -> ElementBuilder:
    pages = {ln.page for ln in lines}
    # Margin lines are furniture only when they repeat across pages or are page numbers.
    repeats = Counter(
        _furniture_key(ln.text) for ln in lines if ln.kind is not None
    )
    multi_page = len(pages) >= 2
    for ln in lines:
        if ln.kind is None:
            continue
        repeated = multi_page and repeats[_furniture_key(ln.text)] >= 2
        tokens = ln.text.split()
        # "2 Z. Shen et al." on page 2: a running head that carries the page number.
        numbered = str(ln.page) in (tokens[0], tokens[-1]) and len(tokens) <= 12
        if not (repeated or numbered or _PAGE_NUMBER.match(ln.text.strip())):
            ln.kind = None

    body_lines = [ln for ln in lines if ln.kind is None and ln.table is None]
    size_weights: Counter[float] = Counter()
    for ln in body_lines:
        size_weights[ln.size] += len(ln.text)
    body_size = size_weights.most_common(1)[0][0] if size_weights else 10.0

    _classify_headings(body_lines, body_size)

    b = ElementBuilder()
    emitted_tables: set[int] = set()
    para: list[_Line] = []

    def flush() -> None:
        if not para:
            return
        first = para[0]
        text = _join_lines([p.text for p in para])
        kind = ElementType.LIST_ITEM if _BULLET.match(first.text) else ElementType.PARAGRAPH
        b.add(kind, text, page=first.page, bbox=_union(para))
        para.clear()

    prev: _Line | None = None
    for ln in lines:
        if ln.table is not None:
            if ln.table not in emitted_tables:
                flush()
                emitted_tables.add(ln.table)
                t = tables[ln.table]
                x0, top, x1, bottom = t.bbox
                b.table(cells_from_rows(t.rows), page=t.page,
                        bbox=BoundingBox(left=x0, top=top, right=x1, bottom=bottom))
            continue
        if ln.kind in (ElementType.PAGE_HEADER, ElementType.PAGE_FOOTER):
            flush()
            b.add(ln.kind, ln.text, page=ln.page, bbox=_union([ln]))
            continue
        if ln.kind in (ElementType.TITLE, ElementType.HEADING):
            flush()
            # A heading wrapped over two lines: same size, close below, keep joining.
            last = b.elements[-1] if b.elements else None
            if (prev is not None and prev.kind is ln.kind and prev.level == ln.level
                    and prev.page == ln.page and last is not None
                    and last.type is ln.kind and 0 <= ln.top - prev.bottom <= 0.8 * ln.size):
                merged = f"{last.text} {ln.text}"
                b.elements.pop()
                b.heading(merged, ln.level, title=ln.kind is ElementType.TITLE, page=ln.page,
                          bbox=_union([prev, ln]))
            else:
                b.heading(ln.text, ln.level, title=ln.kind is ElementType.TITLE, page=ln.page,
                          bbox=_union([ln]))
            prev = ln
            continue
        if para and _breaks_paragraph(para[-1], ln, body_size):
            flush()
        para.append(ln)
        prev = ln
    flush()
    for ti, t in enumerate(tables):
        if ti not in emitted_tables:
            x0, top, x1, bottom = t.bbox
            b.table(cells_from_rows(t.rows), page=t.page,
                    bbox=BoundingBox(left=x0, top=top, right=x1, bottom=bottom))
    return b


def _classify_headings(body_lines: list[_Line], body_size: float) -> None:
    def heading_like(ln: _Line) -> bool:
        n_words = len(ln.words)
        text = ln.text.strip()
        return (
            0 < n_words <= MAX_HEADING_WORDS
            and any(ch.isalpha() for ch in text)
            and not text.endswith(",")
            and sum(ch.isalpha() for ch in text) >= 2
        )

    sized = [ln for ln in body_lines if heading_like(ln) and (
        ln.size >= body_size * HEADING_SIZE_RATIO or (ln.bold and ln.size >= body_size + 0.9))]
    bold: list[_Line] = []
    for i, ln in enumerate(body_lines):
        if (ln in sized or not ln.bold or len(ln.words) > MAX_BOLD_HEADING_WORDS
                or not heading_like(ln) or ln.size < body_size - 0.5):
            continue
        before = body_lines[i - 1] if i else None
        after = body_lines[i + 1] if i + 1 < len(body_lines) else None
        if _stands_alone(before, ln) and _stands_alone(ln, after, below=True):
            bold.append(ln)
    if not sized and not bold:
        return
    distinct = sorted({ln.size for ln in sized}, reverse=True)
    rank = {size: i + 1 for i, size in enumerate(distinct)}
    # Largest line on page 1 that no other heading matches: the document title.
    title_line: _Line | None = None
    if sized:
        top_size = distinct[0]
        at_top = [ln for ln in sized if ln.size == top_size]
        if len(distinct) > 1 and all(ln.page == 1 for ln in at_top) and len(at_top) <= 3:
            title_line = at_top[0]
    for ln in sized:
        if title_line is not None and ln.size == title_line.size:
            ln.kind = ElementType.TITLE
            ln.level = None
        else:
            ln.kind = ElementType.HEADING
            ln.level = rank[ln.size] - (1 if title_line is not None else 0)
    bold_level = (len(distinct) - (1 if title_line is not None else 0)) + 1
    for ln in bold:
        ln.kind = ElementType.HEADING
        ln.level = max(1, bold_level)


def _stands_alone(a: _Line | None, b: _Line | None, below: bool = False) -> bool:
    if a is None or b is None:
        return True
    if a.page != b.page:
        return True
    gap = b.top - a.bottom
    other = a if below else b
    # Either a visible gap, or the neighbour is itself not a bold line of the same run.
    return gap > 0.35 * max(a.size, b.size) or (other.bold != (not below and a.bold))


def _breaks_paragraph(prev: _Line, ln: _Line, body_size: float) -> bool:
    if ln.page != prev.page:
        # Continue a paragraph across a page break only if the last line did not end it.
        return prev.text.rstrip().endswith((".", ":", "!", "?"))
    if abs(ln.size - prev.size) > 0.6:
        return True
    if _BULLET.match(ln.text):
        return True
    gap = ln.top - prev.bottom
    if gap > 0.7 * max(ln.size, body_size) or gap < -2 * ln.size:
        return True
    # A new column (moved up and right) continues the paragraph only if mid-sentence.
    return ln.x0 > prev.x1 and ln.top < prev.top and prev.text.rstrip().endswith(".")


def _join_lines(texts: list[str]) -> str:
    out = ""
    for t in texts:
        t = t.strip()
        if not out:
            out = t
        elif out.endswith("-") and len(out) > 1 and out[-2].isalpha() and t[:1].islower():
            out = out[:-1] + t  # de-hyphenate a word broken across lines
        else:
            out = f"{out} {t}"
    return out


def _union(lines: list[_Line]) -> BoundingBox:
    return BoundingBox(
        left=min(ln.x0 for ln in lines),
        top=min(ln.top for ln in lines),
        right=max(ln.x1 for ln in lines),
        bottom=max(ln.bottom for ln in lines),
    )


def median_size(lines: list[_Line]) -> float:
    """Median font size of ``lines`` (diagnostics)."""
    return statistics.median(ln.size for ln in lines) if lines else 0.0
