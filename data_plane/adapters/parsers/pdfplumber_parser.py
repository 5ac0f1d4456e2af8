"""Rule-based PDF reader: PDFs with a text layer → headings, paragraphs, ruled tables, pages.

Neither docling's model-free PDF pipeline (one flat item per line, no headings, no tables) nor
unstructured ``fast`` (guessed titles, no levels, table cells as titles, no tables) gives usable
structure offline (PARSER_FACTS.md). This parser is a small rule-based layout reader, built to
read a PDF of any page count in bounded memory (SPEC §5.2) at the speed of docling's native
text backend:

* **page by page, compact records only.** A page's words are read, grouped into lines and
  reduced to small ``_Line`` records (text, box, size, bold); the page and its text page are
  closed before the next one is opened, so no parser object outlives its page. What the
  document needs as a whole — the body font size, running heads and feet, heading sizes — is
  computed from those records afterwards. pdfplumber kept every page's characters as dicts
  until the file was closed: DA-619p.pdf (619 pages) went past the isolated child's 4 GiB
  ceiling;
* **the text layer comes from PDFium** (pypdfium2, which pdfplumber itself depends on), one
  call per word for its box, size and font, in content-stream order (which keeps the columns
  of two-column papers apart). pdfminer's interpreter, under pdfplumber, reads DA-619p.pdf at
  6 pages/s even with a device that keeps nothing — a ceiling far below the 25 pages/s goal;
* **tables come from pdfplumber's table finder**, run only on pages whose drawing has enough
  straight horizontal/vertical strokes to rule a table (PDFium's path objects, counted while
  the page is open); those pages are opened with pdfplumber in one second pass and each is
  closed after use. A table becomes a TABLE element with cells, its words are kept out of the
  paragraphs, and it takes the reading-order place of its first word;
* **headings from the outline when the PDF has one**: each bookmark is mapped to the line on
  its destination page that carries its title (nearest to the destination's position; a
  title wrapped over two lines takes both), levels from the bookmark depth (a single root
  bookmark enclosing all others is the document title). Without an outline, or when fewer
  than half of the bookmarks can be found on their pages, headings come from fonts: a short
  line (at most 20 words, with letters, not ending in a comma) whose size is at least 1.15 ×
  the body size (or ≥ body + 0.9 pt when bold), or a bold body-size line of at most 12 words
  standing alone; levels are ranks of the distinct heading sizes, largest first, bold
  body-size headings last; the largest line on page 1, if larger than every other heading,
  is the TITLE;
* lines in the top/bottom 7 % of a page whose text (digits ignored) repeats on several pages,
  or that are bare page numbers, become PAGE_HEADER / PAGE_FOOTER; rotated text (margin
  stamps such as arXiv's) is left out;
* remaining lines join into paragraphs, split at vertical gaps, indentation changes, size
  changes and bullet/number markers (LIST_ITEM). Every element carries its page and box.

Measured with ``bench/parse.py --large`` (bench/README.md) on the 2-core build machine while
other jobs ran (load average 4–5; CPU p/s, pages per CPU second, does not depend on them).
Profiled with cProfile: the per-word PDFium calls and the line grouping take about two thirds,
loading each page a fifth.

=====================================  =======  =======  ==========  =========================
DA-619p.pdf (619 pages)                pages/s  CPU p/s  peak RSS    structure
=====================================  =======  =======  ==========  =========================
this reader, alone                     91.1     98.7     121 MiB     1,554 headings from the
                                                                     outline (1,372 bookmarks),
                                                                     0 tables (none on any
                                                                     page), page numbers as
                                                                     footers, a page on every
                                                                     element
the worker's parse stage (isolated     76.7     90.4     860 MiB     the same, plus OCR of the
child: this reader + OCR)                                (idle 725)  pages without text
before this change                     —        —        > 4096 MiB  FAILED at the ceiling
docling NativePdfPipeline, text only   9.5      13.3     1,851 MiB   25,912 line items, no
                                                                     headings, no tables
unstructured ``fast``                  3.3      4.3      892 MiB     10,054 elements, 2,835
                                                                     "titles" without levels,
                                                                     no tables
=====================================  =======  =======  ==========  =========================

The child's peak by page count (idle → peak): first 10 pages of DA-619p 723 → 723 MiB, first
100 723 → 725, all 619 725 → 860, a generated 3,000-page PDF 763 → 874 (73 pages/s) — flat.
On the samples: ``annual-safety-report.pdf`` (4 p) title + 4 H1 + 7 H2, all right, the 6×5
table with cells, page footers; ``layout-parser-paper-fast.pdf`` title + "1 Introduction"
(its outline has one bookmark, the title, so fonts decide) — see routing.py's docstring.

An encrypted PDF yields FAILED with ``ENCRYPTED: ...`` instead of an exception; a document
whose tables could not be read keeps its text and is PARTIAL_SUCCESS.
"""

from __future__ import annotations

import ctypes
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_plane.adapters.parsers._common import (
    ENCRYPTED,
    PARSE_FAILED,
    UNSUPPORTED_FORMAT,
    ElementBuilder,
    cells_from_rows,
    failed_document,
    guarded,
    make_document,
    package_version,
    pdfium_page_text,
    valid_text,
)
from data_plane.adapters.parsers.formats import DocFormat, detect_format
from data_plane.domain.canonical import (
    BoundingBox,
    CanonicalDocument,
    ElementType,
    ErrorItem,
    ParseStatus,
)
from data_plane.domain.ports import ParseRequest

HEADING_SIZE_RATIO = 1.15
MAX_HEADING_WORDS = 20
MAX_BOLD_HEADING_WORDS = 12
MARGIN_FRACTION = 0.07
PAGE_NUMBER_MARGIN = 0.12
#: A page is handed to the table finder when its drawing has at least this many straight
#: horizontal and as many vertical strokes (a table of two rows and two columns has three).
MIN_TABLE_RULES = 3
#: Path segments examined per page before the page is assumed to hold a table (bounds the
#: cost of pages drawn with thousands of curve segments).
MAX_SEGMENTS_PER_PAGE = 4000
#: The outline is used for headings when at least this share of its entries, and at least
#: two, are found (a lone bookmark naming the paper is not a table of contents).
MIN_OUTLINE_MATCH = 0.5
MIN_OUTLINE_FOUND = 2
MAX_OUTLINE_ENTRIES = 20_000
_BULLET = re.compile(
    r"^\s*(?:[•\u2022\u25aa\u25cf\u2013\-\*]\s+|\(?[0-9]{1,2}[.)]\s+|\(?[a-z][.)]\s+)"
)
_BOLD = re.compile(r"bold|black|heavy|demi|medi\b|-medi|\.B\b|,B\b", re.IGNORECASE)
_PAGE_NUMBER = re.compile(r"^(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?$", re.IGNORECASE)
# A word: a run of characters other than white space, control characters and the
# non-characters PDFium writes for glyphs it cannot map, ending at a hyphen PDFium took for
# a soft line-end one: it writes that as U+FFFE (or U+0002) and no line break after it.
_WORD = re.compile("[^\\s\x00-\x1f\ufffe\uffff]+[\x02\ufffe]?")
_SOFT_HYPHEN = ("\x02", "\ufffe")
_FORCE_BOLD = 1 << 18  # font descriptor flag
_NOT_ALNUM = re.compile(r"[\W_]+")
# "1.2 ", "IV. ", "A. " before a heading: bookmarks often leave the number out.
_NUMBERING = re.compile(r"^\s*(?:\d+(?:\.\d+)*\.?|[IVXLC]+\.|[A-Z]\.)\s+")


@dataclass(slots=True, eq=False)
class _Line:
    """One line of text, all that is kept of a page once it is closed."""

    page: int
    text: str
    x0: float
    top: float
    x1: float
    bottom: float
    size: float
    bold: bool
    n_words: int
    table: int | None = None  # index of the table this line belongs to
    kind: ElementType | None = None
    level: int | None = None
    mark: int | None = None  # index of the outline entry this line carries


@dataclass(slots=True)
class _Table:
    page: int
    bbox: tuple[float, float, float, float]
    rows: list[list[str | None]]


@dataclass(frozen=True, slots=True)
class _Bookmark:
    depth: int  # 0 = top level of the outline
    title: str
    page: int | None  # 1-based destination page
    top: float | None  # destination's distance from the top of the page, in points


@dataclass(slots=True)
class _Text:
    """What the first pass keeps of the whole document."""

    lines: list[_Line]
    page_count: int
    ruled_pages: list[int]
    page_lines: dict[int, tuple[int, int]]  # page → its slice of ``lines``
    outline: list[_Bookmark]


class PdfPlumberParser:
    """Rule-based PDF structure: outline or font-size headings, ruled tables, pages."""

    name = "pdfplumber"
    formats: frozenset[DocFormat] = frozenset({DocFormat.PDF})

    def __init__(self) -> None:
        self._version: str | None = None
        self._parse = guarded(self._parse_unguarded, self.name, lambda: self.version)

    @property
    def version(self) -> str:
        """Installed pdfplumber version (the text layer's PDFium is in the metadata)."""
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
        import pypdfium2  # type: ignore[import-untyped]
        import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]

        try:
            pdf = pypdfium2.PdfDocument(str(request.path))
        except pypdfium2.PdfiumError as exc:
            if getattr(exc, "err_code", None) in (pdfium_c.FPDF_ERR_PASSWORD,
                                                  pdfium_c.FPDF_ERR_SECURITY):
                return failed_document(
                    request, parser=self.name, version=self.version,
                    message=f"{ENCRYPTED}: the PDF is password-protected or encrypted; "
                    "submit an unencrypted copy",
                )
            raise
        try:
            text = _read_text(pdf)
        finally:
            pdf.close()
        errors: tuple[ErrorItem, ...] = ()
        tables: list[_Table] = []
        if text.ruled_pages:
            try:
                tables = _find_tables(request.path, text.ruled_pages)
            except Exception as exc:  # the text stands; say the tables were lost
                errors = (ErrorItem(component=self.name, message=(
                    f"{PARSE_FAILED}: tables not read: {type(exc).__name__}: "
                    f"{' '.join(str(exc).split())[:300]}")),)
        _assign_tables(text, tables)
        headings = "outline" if _apply_outline(text) else "font"
        elements = _structure(text.lines, tables, outline=headings == "outline")
        metadata = {
            "format": fmt.value,
            "headings": headings,
            "text_layer": f"pdfium (pypdfium2 {package_version('pypdfium2')})",
        }
        return make_document(request, parser=self.name, version=self.version,
                             elements=elements.elements, page_count=text.page_count,
                             metadata=metadata, errors=errors,
                             status=ParseStatus.PARTIAL_SUCCESS if errors
                             else ParseStatus.SUCCESS)


# --- first pass: the text layer, one page at a time -------------------------------------


class _Pdfium:
    """PDFium's C functions and the reusable out-parameters of one pass (pypdfium2's helper
    objects cost a Python call chain per character; the raw functions do not)."""

    def __init__(self) -> None:
        import pypdfium2.raw as c

        self.c = c
        self.rect = c.FS_RECTF()
        self.last = c.FS_RECTF()
        self.flags = ctypes.c_int()
        self.font = ctypes.create_string_buffer(128)
        self.matrix = c.FS_MATRIX()
        self.x = ctypes.c_float()
        self.y = ctypes.c_float()
        self.bold: dict[tuple[bytes, int], bool] = {}


def _read_text(pdf: Any) -> _Text:
    api = _Pdfium()
    lines: list[_Line] = []
    ruled: list[int] = []
    page_lines: dict[int, tuple[int, int]] = {}
    tops: dict[int, float] = {}
    count = len(pdf)
    for index in range(count):
        page = pdf[index]
        try:
            left, bottom, _right, top = page.get_mediabox()
            textpage = page.get_textpage()
            try:
                page_lines_ = _page_lines(api, textpage, index + 1, left, top)
            finally:
                textpage.close()
            if _is_ruled(api, page.raw):
                ruled.append(index + 1)
        finally:
            page.close()
        _mark_margins(page_lines_, top - bottom)
        tops[index + 1] = top
        page_lines[index + 1] = (len(lines), len(lines) + len(page_lines_))
        lines.extend(page_lines_)
    return _Text(lines=lines, page_count=count, ruled_pages=ruled, page_lines=page_lines,
                 outline=list(_outline(pdf, api, tops)))


def _page_lines(api: _Pdfium, textpage: Any, page_no: int, x_origin: float,
                y_top: float) -> list[_Line]:
    """The page's upright text as lines, in content-stream order.

    One loop over the words with everything inlined: it runs for every word of every page,
    and PDFium answers one call per property of a word's first (or last) character. A word
    starts a new line unless its box overlaps the previous word's vertically by half the
    smaller box (superscripts stay), it is not left of the previous word's end and not
    further right of it than three font sizes (table columns, two-column layouts).
    """
    c = api.c
    raw = textpage.raw
    text = pdfium_page_text(c, textpage)
    if not text:
        return []
    loose, size_of, info, angle_of, matrix_of = (
        c.FPDFText_GetLooseCharBox, c.FPDFText_GetFontSize, c.FPDFText_GetFontInfo,
        c.FPDFText_GetCharAngle, c.FPDFText_GetMatrix)
    rect, last, flags, font, bold_of = api.rect, api.last, api.flags, api.font, api.bold
    matrix = api.matrix
    lines: list[_Line] = []
    words: list[str] = []
    sizes: dict[float, int] = {}
    chars = bold_chars = 0
    lx0 = ltop = lx1 = lbottom = 0.0  # the current line's box
    px1 = ptop = pbottom = psize = 0.0  # the previous word's
    upright = True
    prev_end = 0

    def close_line() -> None:
        lines.append(_Line(page=page_no, text=valid_text(" ".join(words)), x0=round(lx0, 2),
                           top=round(ltop, 2), x1=round(lx1, 2), bottom=round(lbottom, 2),
                           size=max(sizes, key=sizes.__getitem__),
                           bold=bold_chars >= 0.8 * chars, n_words=len(words)))

    for m in _WORD.finditer(text):
        first = m.start()
        # PDFium ends each of its lines with a generated CR LF: text turns there, if at all.
        if prev_end == 0 or text.find("\n", prev_end, first) >= 0:
            angle = angle_of(raw, first)
            upright = min(angle, abs(angle - math.pi), abs(angle - 2 * math.pi)) <= 0.02
        prev_end = m.end()
        if not upright:
            continue  # rotated: a margin stamp, not part of the reading flow
        loose(raw, first, rect)
        loose(raw, prev_end - 1, last)  # a soft hyphen has a box too
        x0 = rect.left - x_origin
        x1 = last.right - x_origin
        top = y_top - (rect.top if rect.top > last.top else last.top)
        bottom = y_top - (rect.bottom if rect.bottom < last.bottom else last.bottom)
        # PDFium's font size is the one the text operator set; what the reader sees is
        # that times the text matrix's vertical scale (some writers set size 1 and scale).
        matrix_of(raw, first, matrix)
        size = size_of(raw, first) * math.hypot(matrix.c, matrix.d)
        info(raw, first, font, 128, flags)
        key = (font.value, flags.value)
        bold = bold_of.get(key)
        if bold is None:
            bold = bool(_BOLD.search(font.value.decode("latin-1"))
                        or flags.value & _FORCE_BOLD
                        or c.FPDFText_GetFontWeight(raw, first) >= 600)
            bold_of[key] = bold
        word = m.group()
        if word.endswith(_SOFT_HYPHEN):
            word = word[:-1] + "-"
        if words:
            overlap = (bottom if bottom < pbottom else pbottom) - (top if top > ptop else ptop)
            shorter = min(bottom - top, pbottom - ptop)
            widest = max(size, psize, 1.0)
            if (overlap < 0.5 * (shorter if shorter > 0.1 else 0.1) or x0 < px1 - 1.0
                    or x0 - px1 > 3.0 * widest):
                close_line()
                words = []
                sizes = {}
                chars = bold_chars = 0
        if words:
            lx0 = x0 if x0 < lx0 else lx0
            ltop = top if top < ltop else ltop
            lx1 = x1 if x1 > lx1 else lx1
            lbottom = bottom if bottom > lbottom else lbottom
        else:
            lx0, ltop, lx1, lbottom = x0, top, x1, bottom
        words.append(word)
        k = len(word)
        rounded = round(size * 2) / 2
        sizes[rounded] = sizes.get(rounded, 0) + k
        chars += k
        if bold:
            bold_chars += k
        px1, ptop, pbottom, psize = x1, top, bottom, size
    if words:
        close_line()
    return lines


def _mark_margins(lines: list[_Line], height: float) -> None:
    for line in lines:
        if line.bottom <= height * MARGIN_FRACTION:
            line.kind = ElementType.PAGE_HEADER
        elif line.top >= height * (1 - MARGIN_FRACTION):
            line.kind = ElementType.PAGE_FOOTER
    # A bare page number set a little further in (DA-619p.pdf: 8 % above the bottom) is
    # furniture too when nothing on the page lies beyond it.
    body = [ln for ln in lines if ln.kind is None]
    if len(body) >= 2:
        lowest = max(body, key=lambda ln: ln.top)
        highest = min(body, key=lambda ln: ln.top)
        if (lowest.top >= height * (1 - PAGE_NUMBER_MARGIN)
                and _PAGE_NUMBER.match(lowest.text.strip())):
            lowest.kind = ElementType.PAGE_FOOTER
        elif (highest.bottom <= height * PAGE_NUMBER_MARGIN
              and _PAGE_NUMBER.match(highest.text.strip())):
            highest.kind = ElementType.PAGE_HEADER
    # Running heads first, running feet last, whatever order the PDF drew them in.
    lines.sort(key=_furniture_order)


def _is_ruled(api: _Pdfium, page: Any) -> bool:
    """Whether the page's drawing (forms included) has the straight strokes a table of two
    rows and two columns needs: three horizontal and three vertical ones, the edges
    pdfplumber's table finder builds cells from (underlined links alone are not a table)."""
    c = api.c
    rules = [0, 0]  # horizontal, vertical
    budget = MAX_SEGMENTS_PER_PAGE
    stack: list[tuple[Any, int]] = [(page, 0)]  # (page or form object, depth)
    while stack:
        owner, depth = stack.pop()
        is_page = depth == 0
        n = c.FPDFPage_CountObjects(owner) if is_page else c.FPDFFormObj_CountObjects(owner)
        for i in range(n):
            obj = c.FPDFPage_GetObject(owner, i) if is_page else c.FPDFFormObj_GetObject(
                owner, i)
            kind = c.FPDFPageObj_GetType(obj)
            if kind == c.FPDF_PAGEOBJ_FORM and depth < 4:
                stack.append((obj, depth + 1))
            elif kind == c.FPDF_PAGEOBJ_PATH:
                segments = c.FPDFPath_CountSegments(obj)
                budget -= segments
                if budget < 0:
                    return True  # too much drawing to count: let the finder look
                _count_rules(api, obj, segments, rules)
                if rules[0] >= MIN_TABLE_RULES and rules[1] >= MIN_TABLE_RULES:
                    return True
    return False


def _count_rules(api: _Pdfium, path: Any, segments: int, rules: list[int]) -> None:
    c, x, y = api.c, api.x, api.y
    start = prev = (0.0, 0.0)
    for i in range(segments):
        seg = c.FPDFPath_GetPathSegment(path, i)
        c.FPDFPathSegment_GetPoint(seg, x, y)
        point = (x.value, y.value)
        kind = c.FPDFPathSegment_GetType(seg)
        if kind == c.FPDF_SEGMENT_MOVETO:
            start = point
        elif kind == c.FPDF_SEGMENT_LINETO:
            _rule(prev, point, rules)
            if c.FPDFPathSegment_GetClose(seg):
                _rule(point, start, rules)
        prev = point


def _rule(a: tuple[float, float], b: tuple[float, float], rules: list[int]) -> None:
    dx, dy = abs(a[0] - b[0]), abs(a[1] - b[1])
    if dy < 1.0 <= dx:
        rules[0] += 1
    elif dx < 1.0 <= dy:
        rules[1] += 1


def _outline(pdf: Any, api: _Pdfium, tops: dict[int, float]) -> Iterator[_Bookmark]:
    """The document's bookmarks with their destination page and height on it."""
    c = api.c
    has_x, has_y, has_zoom = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    x, y, zoom = ctypes.c_float(), ctypes.c_float(), ctypes.c_float()
    for n, mark in enumerate(pdf.get_toc(max_depth=16)):
        if n >= MAX_OUTLINE_ENTRIES:
            return
        title = " ".join(mark.get_title().split())
        dest = c.FPDFBookmark_GetDest(pdf.raw, mark.raw)
        if not dest:
            action = c.FPDFBookmark_GetAction(mark.raw)
            if action and c.FPDFAction_GetType(action) == c.PDFACTION_GOTO:
                dest = c.FPDFAction_GetDest(pdf.raw, action)
        page: int | None = None
        top: float | None = None
        if dest:
            index = c.FPDFDest_GetDestPageIndex(pdf.raw, dest)
            if index >= 0:
                page = index + 1
                if (c.FPDFDest_GetLocationInPage(dest, has_x, has_y, has_zoom, x, y, zoom)
                            and has_y.value and page in tops):
                    top = tops[page] - y.value
        yield _Bookmark(depth=mark.level, title=title, page=page, top=top)


# --- second pass: tables on ruled pages -------------------------------------------------


def _find_tables(path: Path, pages: list[int]) -> list[_Table]:
    import pdfplumber

    tables: list[_Table] = []
    with pdfplumber.open(path, pages=pages) as pdf:
        for page in pdf.pages:
            try:
                for t in page.find_tables():
                    rows = t.extract()
                    if len(rows) >= 2 and max(len(r) for r in rows) >= 2:
                        x0, top, x1, bottom = (round(float(v), 2) for v in t.bbox)
                        tables.append(_Table(page=page.page_number, bbox=(x0, top, x1, bottom),
                                             rows=rows))
            finally:
                page.close()  # drop the page's characters and edges before the next one
    return tables


def _assign_tables(text: _Text, tables: list[_Table]) -> None:
    """Mark the lines inside each table; they leave the paragraphs (and the margins)."""
    for ti, t in enumerate(tables):
        x0, top, x1, bottom = t.bbox
        start, end = text.page_lines.get(t.page, (0, 0))
        for line in text.lines[start:end]:
            cx = (line.x0 + line.x1) / 2
            cy = (line.top + line.bottom) / 2
            if line.table is None and x0 - 1 <= cx <= x1 + 1 and top - 1 <= cy <= bottom + 1:
                line.table = ti
                line.kind = None


# --- headings from the outline ----------------------------------------------------------


def _key(text: str) -> str:
    return _NOT_ALNUM.sub("", text.casefold())


def _apply_outline(text: _Text) -> bool:
    """Mark the lines the outline's bookmarks point at as headings; False (and nothing
    marked) when the document has no outline or too little of it is found on its pages."""
    marks = [b for b in text.outline if b.page is not None and _key(b.title)]
    if not marks:
        return False
    roots = [b for b in text.outline if b.depth == 0]
    # One root enclosing every other bookmark is the document's name, not a chapter.
    single_root = len(roots) == 1 and len(text.outline) > 1
    found: list[tuple[int, list[_Line]]] = []
    taken: set[int] = set()
    for n, mark in enumerate(marks):
        lines = _find_bookmark(text, mark, taken)
        if lines:
            found.append((n, lines))
            taken.update(id(ln) for ln in lines)
    if len(found) < max(MIN_OUTLINE_FOUND, MIN_OUTLINE_MATCH * len(marks)):
        return False
    for n, lines in found:
        mark = marks[n]
        title = single_root and mark.depth == 0
        for ln in lines:
            ln.kind = ElementType.TITLE if title else ElementType.HEADING
            ln.level = None if title else mark.depth + (0 if single_root else 1)
            ln.mark = n
    return True


def _find_bookmark(text: _Text, mark: _Bookmark, taken: set[int]) -> list[_Line]:
    """The line(s) on the bookmark's page whose text is its title (a title may wrap onto a
    second and third line), nearest to the bookmark's position."""
    assert mark.page is not None
    start, end = text.page_lines.get(mark.page, (0, 0))
    page = [ln for ln in text.lines[start:end] if ln.table is None and ln.kind is None]
    want = _key(mark.title)
    candidates: list[list[_Line]] = []
    for i, ln in enumerate(page):
        if id(ln) in taken:
            continue
        for got in dict.fromkeys((_key(ln.text), _key(_NUMBERING.sub("", ln.text)))):
            run = [ln]
            while got and want.startswith(got) and got != want and len(run) < 3 and (
                    i + len(run) < len(page)):
                nxt = page[i + len(run)]
                run.append(nxt)
                got += _key(nxt.text)
            if got == want:
                candidates.append(run)
                break
    if not candidates:
        return []
    if mark.top is None:
        return candidates[0]
    target = mark.top
    # Destinations point at (or a little above) the heading's top.
    return min(candidates, key=lambda run: abs(run[0].top - target))


# --- the document as a whole ------------------------------------------------------------


def _furniture_order(line: _Line) -> int:
    if line.kind is ElementType.PAGE_HEADER:
        return 0
    return 2 if line.kind is ElementType.PAGE_FOOTER else 1


def _furniture_key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def _structure(lines: list[_Line], tables: list[_Table], *, outline: bool) -> ElementBuilder:
    pages = {ln.page for ln in lines}
    # Margin lines are furniture only when they repeat across pages or are page numbers.
    furniture = (ElementType.PAGE_HEADER, ElementType.PAGE_FOOTER)
    repeats = Counter(_furniture_key(ln.text) for ln in lines if ln.kind in furniture)
    multi_page = len(pages) >= 2
    for ln in lines:
        if ln.kind not in furniture:
            continue
        repeated = multi_page and repeats[_furniture_key(ln.text)] >= 2
        tokens = ln.text.split()
        # "2 Z. Shen et al." on page 2: a running head that carries the page number.
        numbered = str(ln.page) in (tokens[0], tokens[-1]) and len(tokens) <= 12
        if not (repeated or numbered or _PAGE_NUMBER.match(ln.text.strip())):
            ln.kind = None

    body_lines = [ln for ln in lines if ln.kind not in furniture and ln.table is None]
    size_weights: Counter[float] = Counter()
    for ln in body_lines:
        size_weights[ln.size] += len(ln.text)
    body_size = size_weights.most_common(1)[0][0] if size_weights else 10.0

    if not outline:
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
                _emit_table(b, tables[ln.table])
            continue
        if ln.kind in furniture:
            flush()
            b.add(ln.kind, ln.text, page=ln.page, bbox=_union([ln]))
            continue
        if ln.kind in (ElementType.TITLE, ElementType.HEADING):
            flush()
            # A heading wrapped over two lines: same size, close below, keep joining.
            last = b.elements[-1] if b.elements else None
            if (prev is not None and prev.kind is ln.kind and prev.level == ln.level
                    and prev.mark == ln.mark and prev.page == ln.page and last is not None
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
            _emit_table(b, t)
    return b


def _emit_table(b: ElementBuilder, t: _Table) -> None:
    x0, top, x1, bottom = t.bbox
    b.table(cells_from_rows(t.rows), page=t.page,
            bbox=BoundingBox(left=x0, top=top, right=x1, bottom=bottom))


def _classify_headings(body_lines: list[_Line], body_size: float) -> None:
    def heading_like(ln: _Line) -> bool:
        text = ln.text.strip()
        return (
            0 < ln.n_words <= MAX_HEADING_WORDS
            and not text.endswith(",")
            and sum(ch.isalpha() for ch in text) >= 2
        )

    sized = [ln for ln in body_lines if heading_like(ln) and (
        ln.size >= body_size * HEADING_SIZE_RATIO or (ln.bold and ln.size >= body_size + 0.9))]
    sized_ids = {id(ln) for ln in sized}
    bold: list[_Line] = []
    for i, ln in enumerate(body_lines):
        if (id(ln) in sized_ids or not ln.bold or ln.n_words > MAX_BOLD_HEADING_WORDS
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
