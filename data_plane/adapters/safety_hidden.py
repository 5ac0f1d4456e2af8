"""Hidden-text finders over raw files (HTML, PDF, DOCX): what a reader would not see but a
parser — and so an LLM — would. Each returns ``HiddenFragment``s for the pure assessment.

Every finder is bounded whatever the file: HTML and plain text are read up to a size, PDFs
up to a page count with each page released as soon as it is read, DOCX parts streamed with
a cap on the bytes inflated. Where a cap cut the scan short, the result ends with a
``scan_truncated`` fragment saying where (it weighs nothing in the verdict, but the signals
record it)."""

from __future__ import annotations

import ctypes
import logging
import math
import re
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree

from data_plane.adapters.parsers._common import pdfium_page_text, valid_text
from data_plane.domain.policy.safety import (
    BIDI_CONTROLS,
    SCAN_TRUNCATED,
    ZERO_WIDTH,
    HiddenFragment,
)

log = logging.getLogger(__name__)

_MAX_FRAGMENTS = 200
MAX_HTML_BYTES = 32 * 1024 * 1024
MAX_TEXT_BYTES = 50_000_000
MAX_PDF_PAGES = 200
# What a DOCX may inflate to across the parts scanned: a real 872-page handbook's
# document.xml is 5 MiB; a bomb's is gigabytes (a stored random member keeps the archive
# under the intake's compression-ratio rule).
MAX_DOCX_BYTES = 256 * 1024 * 1024
_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?:\.\d+)?(?:px|pt|em)?\s*(?:;|$)"
    r"|opacity\s*:\s*0(?:\.0+)?\s*(?:;|$)|(?<![-\w])color\s*:\s*(?:#fff(?:fff)?|white|"
    r"rgba?\(\s*255\s*,\s*255\s*,\s*255)\b|left\s*:\s*-\d{3,}px|text-indent\s*:\s*-\d{3,}",
    re.IGNORECASE)
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                   "source", "track", "wbr"})


class _HtmlHidden(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[bool] = []  # per open element: hidden?
        self.fragments: list[HiddenFragment] = []
        self._buffer: list[str] = []
        self._kind = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            return
        a = {k.lower(): (v or "") for k, v in attrs}
        hidden = ("hidden" in a or a.get("aria-hidden") == "true"
                  or bool(_HIDDEN_STYLE.search(a.get("style", ""))))
        if hidden and not any(self.stack):
            self._kind = "html_hidden_element"
        self.stack.append(hidden)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID or not self.stack:
            return
        was_hidden = any(self.stack)
        self.stack.pop()
        if was_hidden and not any(self.stack):
            self._flush()

    def handle_data(self, data: str) -> None:
        if any(self.stack) and data.strip():
            self._buffer.append(data.strip())

    def handle_comment(self, data: str) -> None:
        if data.strip():
            self.fragments.append(HiddenFragment("html_comment", data.strip()))

    def _flush(self) -> None:
        if self._buffer:
            self.fragments.append(HiddenFragment(self._kind, " ".join(self._buffer)))
        self._buffer = []

    def close(self) -> None:
        super().close()
        self._flush()


def html_hidden(raw: bytes, *, max_bytes: int = MAX_HTML_BYTES) -> list[HiddenFragment]:
    """Text inside display:none / visibility:hidden / hidden / white or zero-size
    elements, and comments — of the first ``max_bytes`` bytes."""
    parser = _HtmlHidden()
    parser.feed(raw[:max_bytes].decode("utf-8", errors="replace"))
    parser.close()
    out = parser.fragments[:_MAX_FRAGMENTS]
    if len(raw) > max_bytes:
        out.append(_truncated(f"HTML read up to {max_bytes} bytes"))
    elif len(parser.fragments) > _MAX_FRAGMENTS:
        out.append(_truncated(f"HTML kept the first {_MAX_FRAGMENTS} hidden fragments"))
    return out


def _truncated(where: str) -> HiddenFragment:
    log.warning("hidden-text scan truncated", extra={"where": where})
    return HiddenFragment(SCAN_TRUNCATED, where)


def pdf_hidden(path: Path, *, max_pages: int = MAX_PDF_PAGES) -> list[HiddenFragment]:
    """Characters drawn white, under 2 pt, or outside the page's media box on the first
    ``max_pages`` pages, read with PDFium (pypdfium2): one fragment per page and kind, its
    characters joined in content-stream order with a space wherever a character of another
    kind, a space or a line end came between. Each page and its text page are closed once
    read. A PDF PDFium cannot open (encrypted, damaged) raises; ``find_hidden`` turns that
    into no fragments, the parser reports on the file."""
    import pypdfium2  # type: ignore[import-untyped]

    out: list[HiddenFragment] = []
    pdf = pypdfium2.PdfDocument(str(path))
    try:
        pages = len(pdf)
        chars = _PdfChars()
        for index in range(min(pages, max_pages)):
            page = pdf[index]
            try:
                box = page.get_mediabox()
                textpage = page.get_textpage()
                try:
                    out.extend(_page_hidden(chars, textpage, box))
                finally:
                    textpage.close()
            finally:
                page.close()
            if len(out) >= _MAX_FRAGMENTS:
                out = out[:_MAX_FRAGMENTS]
                out.append(_truncated(f"PDF kept the first {_MAX_FRAGMENTS} hidden fragments"
                                      f" (page {index + 1})"))
                return out
    finally:
        pdf.close()
    if pages > max_pages:
        out.append(_truncated(f"PDF read {max_pages} of {pages} pages"))
    return out


_OFF_PAGE, _TINY, _WHITE = "pdf_off_page_text", "pdf_tiny_text", "pdf_white_text"
_WHITE_LEVEL = 242  # of 255 on every RGB channel: 0.95, as CMYK "no ink" converts to


class _PdfChars:
    """PDFium's C functions and reusable out-parameters for one document (the raw calls
    cost far less per character than pypdfium2's helper objects). ``text_object`` is
    PDFium's ``FPDFText_GetTextObject`` declared to return the object's address as an int,
    so that characters group by object without a ctypes cast each."""

    def __init__(self) -> None:
        import pypdfium2.raw as c  # type: ignore[import-untyped]

        self.c = c
        address = ctypes.cast(c.FPDFText_GetTextObject, ctypes.c_void_p).value or 0
        self.text_object = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)(
            address)
        self.rect = c.FS_RECTF()
        self.matrix = c.FS_MATRIX()
        self.rgba = [ctypes.c_uint() for _ in range(4)]
        self.bounds = [ctypes.c_float() for _ in range(4)]


def _page_hidden(api: _PdfChars, textpage: Any,
                 box: tuple[float, float, float, float]) -> list[HiddenFragment]:
    """One page's hidden text by kind. A character is off the page when its box lies wholly
    outside the media box; else tiny when its font size times the text matrix's vertical
    scale is under 2 pt (writers that set size 1 and scale draw readable text; the scale is
    the vertical one's length, so rotated text keeps its size); else white when its fill
    colour is (PDFium's RGB, whatever the colour space: a spot colour at full tint is ink).
    Size and colour belong to the character's text object, so they are asked once per
    object; a character's own box only where its object is not wholly on the page. Text in
    render mode 3 (an OCR layer over a scan) is judged like any other, by size and colour."""
    c = api.c
    raw = textpage.raw
    text = pdfium_page_text(c, textpage)
    if not text:
        return []
    left, bottom, right, top = box
    rect, matrix, (r, g, b, a) = api.rect, api.matrix, api.rgba
    x0, y0, x1, y1 = api.bounds
    text_object, char_box = api.text_object, c.FPDFText_GetLooseCharBox
    # Per text object: its kind unless off the page, and whether characters need a box.
    objects: dict[int, tuple[str | None, bool]] = {}
    texts: dict[str, list[str]] = {}
    last: str | None = None  # the kind of the previous character kept
    for i, ch in enumerate(text):
        if ch.isspace():
            last = None
            continue
        key = text_object(raw, i)
        if key is None:  # a character PDFium generated
            last = None
            continue
        known = objects.get(key)
        if known is None:
            kind: str | None = None
            c.FPDFText_GetMatrix(raw, i, matrix)
            if c.FPDFText_GetFontSize(raw, i) * math.hypot(matrix.c, matrix.d) < 2.0:
                kind = _TINY
            elif (c.FPDFText_GetFillColor(raw, i, r, g, b, a)
                  and min(r.value, g.value, b.value) >= _WHITE_LEVEL):
                kind = _WHITE
            inside = bool(c.FPDFPageObj_GetBounds(c.FPDFText_GetTextObject(raw, i),
                                                  x0, y0, x1, y1)
                          and x0.value >= left and x1.value <= right
                          and y0.value >= bottom and y1.value <= top)
            known = objects[key] = (kind, not inside)
        kind, check = known
        if check:
            char_box(raw, i, rect)
            if (rect.right < left or rect.left > right or rect.top < bottom
                    or rect.bottom > top):
                kind = _OFF_PAGE
        if kind is None:
            last = None
            continue
        parts = texts.setdefault(kind, [])
        if kind != last and parts:
            parts.append(" ")
        parts.append(ch)
        last = kind
    out = []
    for kind in sorted(texts):
        joined = " ".join(valid_text("".join(texts[kind])).split())[:_MAX_CHARS]
        if joined:
            out.append(HiddenFragment(kind, joined))
    return out


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


_DOCX_PARTS = re.compile(r"word/(?:document|header\d*|footer\d*|footnotes)\.xml")
_MAX_DEPTH = 1000  # XML nesting; Word's own documents stay far below
_MAX_CHARS = 100_000  # of one fragment's text: enough to judge what it says


def docx_hidden(path: Path, *, max_bytes: int = MAX_DOCX_BYTES) -> list[HiddenFragment]:
    """Runs with ``w:vanish``, white colour, or under 2 pt (``w:sz`` under 4 half-points),
    one fragment per paragraph and kind. The parts are streamed (each element dropped once
    read), and at most ``max_bytes`` are inflated over all of them."""
    out: list[HiddenFragment] = []
    budget = _Budget(max_bytes)
    with zipfile.ZipFile(path) as zf:
        for name in [n for n in zf.namelist() if _DOCX_PARTS.fullmatch(n)]:
            with zf.open(name) as raw:
                try:
                    stopped = _docx_part(budget.reading(raw), out)
                except ElementTree.ParseError:
                    if not budget.exhausted:
                        raise
                    stopped = "inflated size"
            if budget.exhausted:
                stopped = f"read {max_bytes} bytes inflated"
            if stopped:
                out.append(_truncated(f"DOCX {name}: stopped at the cap on {stopped}"))
                break
    return out


class _Budget:
    """A reader over one ZIP member at a time that stops (end of file) once the bytes
    shared by all members are spent; ``exhausted`` tells a cut from a real end."""

    def __init__(self, left: int) -> None:
        self.left = left
        self.exhausted = False
        self._raw: IO[bytes] | None = None

    def reading(self, raw: IO[bytes]) -> _Budget:
        self._raw = raw
        return self

    def read(self, size: int = -1) -> bytes:
        assert self._raw is not None
        want = self.left if size < 0 else min(size, self.left)
        data = self._raw.read(want) if want > 0 else b""
        self.left -= len(data)
        if not data and self.left <= 0 and self._raw.read(1):
            self.exhausted = True
        return data


@dataclass
class _Run:
    vanish: bool = False
    white: bool = False
    tiny: bool = False
    texts: list[str] = field(default_factory=list)
    chars: int = 0

    def kind(self) -> str | None:
        return ("docx_vanish" if self.vanish else "docx_white_text" if self.white
                else "docx_tiny_text" if self.tiny else None)


def _docx_part(source: _Budget, out: list[HiddenFragment]) -> str | None:
    """Hidden runs of one WordprocessingML part into ``out``. Properties are read from
    start events and text from ``w:t`` end events; every element is removed from its
    parent as it ends (it is always the parent's last child then), so memory stays flat.
    Returns what stopped the scan early, if anything."""
    stack: list[ElementTree.Element] = []
    paragraphs: list[dict[str, list[str]]] = []
    runs: list[_Run] = []
    for event, elem in ElementTree.iterparse(source, events=("start", "end")):  # noqa: S314
        tag = elem.tag
        if event == "start":
            if len(stack) >= _MAX_DEPTH:
                return "nesting depth"
            if runs and len(stack) >= 2 and stack[-1].tag == _RPR and stack[-2].tag == _R:
                _run_property(runs[-1], tag, elem)
            stack.append(elem)
            if tag == _P:
                paragraphs.append({})
            elif tag == _R:
                runs.append(_Run())
            continue
        stack.pop()
        if tag == _T and runs:
            run = runs[-1]
            if run.chars < _MAX_CHARS and elem.text:
                run.texts.append(elem.text[:_MAX_CHARS - run.chars])
                run.chars += len(run.texts[-1])
        elif tag == _R and runs:
            run = runs.pop()
            kind = run.kind()
            if kind and paragraphs:
                paragraphs[-1].setdefault(kind, []).extend(run.texts)
        elif tag == _P and paragraphs:
            for kind, texts in paragraphs.pop().items():
                text = "".join(texts).strip()
                if text:
                    out.append(HiddenFragment(kind, text[:_MAX_CHARS]))
            if len(out) >= _MAX_FRAGMENTS:
                return f"{_MAX_FRAGMENTS} hidden fragments"
        elem.clear()
        if stack:
            del stack[-1][-1]
    return None


def _run_property(run: _Run, tag: str, prop: ElementTree.Element) -> None:
    val = prop.get(f"{_W}val")
    if tag == f"{_W}vanish":
        run.vanish = (val or "true") not in ("0", "false")
    elif tag == f"{_W}color":
        run.white = (val or "").upper() in ("FFFFFF", "FEFEFE")
    elif tag == f"{_W}sz":
        run.tiny = (val or "99").isdigit() and int(val or "99") < 4


_P, _R, _RPR, _T = f"{_W}p", f"{_W}r", f"{_W}rPr", f"{_W}t"


_INVISIBLE = "".join(sorted(ZERO_WIDTH | BIDI_CONTROLS))
_TAGS = re.compile("[\U000e0000-\U000e007f]+")


def invisible_text(text: str) -> list[HiddenFragment]:
    """Unicode tag characters (ASCII smuggled invisibly) decoded, and the lines that carry
    two or more zero-width or bidi controls, with those characters removed — a parser may
    normalise them away before the canonical text is judged."""
    out = [HiddenFragment("unicode_tag_characters",
                          "".join(chr(ord(c) - 0xE0000) for c in run))
           for run in _TAGS.findall(text)]
    lines = [ln for ln in text.splitlines()
             if sum(ln.count(ch) for ch in _INVISIBLE) >= 2]
    if lines:
        table = {ord(ch): None for ch in _INVISIBLE}
        out.append(HiddenFragment("invisible_characters",
                                  " ".join(ln.translate(table) for ln in lines)[:20000]))
    return out[:_MAX_FRAGMENTS]


def find_hidden(path: Path, mime_type: str) -> list[HiddenFragment]:
    """Hidden fragments of a raw file by its MIME type; other types have none to find.
    A file this cannot read yields nothing (the parser reports on damaged files); a scan
    cut short by a size cap ends with a ``scan_truncated`` fragment."""
    try:
        if mime_type == "text/html":
            with path.open("rb") as fh:
                raw = fh.read(MAX_HTML_BYTES + 1)
            return html_hidden(raw) + invisible_text(
                raw[:MAX_HTML_BYTES].decode("utf-8", errors="replace"))
        if mime_type.startswith("text/") or mime_type == "message/rfc822":
            with path.open("rb") as fh:
                raw = fh.read(MAX_TEXT_BYTES + 1)
            out = invisible_text(raw[:MAX_TEXT_BYTES].decode("utf-8", errors="replace"))
            if len(raw) > MAX_TEXT_BYTES:
                out.append(_truncated(f"text read up to {MAX_TEXT_BYTES} bytes"))
            return out
        if mime_type == "application/pdf":
            return pdf_hidden(path)
        if mime_type.endswith("wordprocessingml.document"):
            return docx_hidden(path)
    except Exception as exc:  # a damaged file must not stop the pipeline
        log.warning("hidden-text scan failed", extra={"error": type(exc).__name__})
    return []
