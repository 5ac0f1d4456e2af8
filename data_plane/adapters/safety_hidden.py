"""Hidden-text finders over raw files (HTML, PDF, DOCX): what a reader would not see but a
parser — and so an LLM — would. Each returns ``HiddenFragment``s for the pure assessment.

Every finder is bounded whatever the file: HTML and plain text are read up to a size, PDFs
up to a page count with each page released as soon as it is read, DOCX parts streamed with
a cap on the bytes inflated. Where a cap cut the scan short, the result ends with a
``scan_truncated`` fragment saying where (it weighs nothing in the verdict, but the signals
record it)."""

from __future__ import annotations

import logging
import re
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree

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


def _is_white(color: object) -> bool:
    if isinstance(color, (list, tuple)):
        values = [float(v) for v in color if isinstance(v, (int, float))]
        if len(values) == 1:
            return values[0] >= 0.95
        if len(values) == 3:
            return min(values) >= 0.95
        if len(values) == 4:  # CMYK: white is no ink
            return max(values) <= 0.05
    return False


def pdf_hidden(path: Path, *, max_pages: int = MAX_PDF_PAGES) -> list[HiddenFragment]:
    """Characters drawn white, under 2 pt, or outside the page box (pdfplumber) on the first
    ``max_pages`` pages; the text is re-extracted from just those characters so that words
    keep their spaces. Each page's parsed objects are released once it is read."""
    import pdfplumber

    out: list[HiddenFragment] = []
    with pdfplumber.open(path, pages=list(range(1, max_pages + 1))) as pdf:
        for page in pdf.pages:
            try:
                out.extend(_page_hidden(page))
            finally:
                page.close()
            if len(out) >= _MAX_FRAGMENTS:
                out = out[:_MAX_FRAGMENTS]
                out.append(_truncated(f"PDF kept the first {_MAX_FRAGMENTS} hidden fragments"
                                      f" (page {page.page_number})"))
                return out
        pages = _page_count(pdf)
    if pages > max_pages:
        out.append(_truncated(f"PDF read {max_pages} of {pages} pages"))
    return out


def _page_count(pdf: Any) -> int:
    """The page count the PDF declares (0 if it cannot be read)."""
    from pdfminer.pdftypes import resolve1

    try:
        return int(resolve1(resolve1(pdf.doc.catalog.get("Pages")).get("Count")) or 0)
    except Exception:  # a damaged page tree: the parser reports on it
        return 0


def _page_hidden(page: Any) -> list[HiddenFragment]:
    width, height = float(page.width), float(page.height)

    def kind_of(ch: dict[str, Any]) -> str | None:
        if ch["x1"] < 0 or ch["x0"] > width or ch["bottom"] < 0 or ch["top"] > height:
            return "pdf_off_page_text"
        if float(ch.get("size") or 12) < 2.0:
            return "pdf_tiny_text"
        if _is_white(ch.get("non_stroking_color")):
            return "pdf_white_text"
        return None

    out = []
    kinds = {kind_of(ch) for ch in page.chars} - {None}
    for kind in sorted(k for k in kinds if k):
        def keep(obj: dict[str, Any], kind: str = kind) -> bool:
            return bool(obj.get("object_type") == "char" and kind_of(obj) == kind)

        text = page.filter(keep).extract_text() or ""
        if text.strip():
            out.append(HiddenFragment(kind, " ".join(text.split())))
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
