"""Hidden-text finders over raw files (HTML, PDF, DOCX): what a reader would not see but a
parser — and so an LLM — would. Each returns ``HiddenFragment``s for the pure assessment."""

from __future__ import annotations

import logging
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from data_plane.domain.policy.safety import BIDI_CONTROLS, ZERO_WIDTH, HiddenFragment

log = logging.getLogger(__name__)

_MAX_FRAGMENTS = 200
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


def html_hidden(raw: bytes) -> list[HiddenFragment]:
    """Text inside display:none / visibility:hidden / hidden / white or zero-size
    elements, and comments."""
    parser = _HtmlHidden()
    parser.feed(raw.decode("utf-8", errors="replace"))
    parser.close()
    return parser.fragments[:_MAX_FRAGMENTS]


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


def pdf_hidden(path: Path, *, max_pages: int = 200) -> list[HiddenFragment]:
    """Characters drawn white, under 2 pt, or outside the page box (pdfplumber); the text
    is re-extracted from just those characters so that words keep their spaces."""
    import pdfplumber

    out: list[HiddenFragment] = []
    with pdfplumber.open(path) as pdf:
        for page in pdf.pages[:max_pages]:
            width, height = float(page.width), float(page.height)

            def kind_of(ch: dict[str, Any], width: float = width,
                        height: float = height) -> str | None:
                if (ch["x1"] < 0 or ch["x0"] > width or ch["bottom"] < 0
                        or ch["top"] > height):
                    return "pdf_off_page_text"
                if float(ch.get("size") or 12) < 2.0:
                    return "pdf_tiny_text"
                if _is_white(ch.get("non_stroking_color")):
                    return "pdf_white_text"
                return None

            kinds = {kind_of(ch) for ch in page.chars} - {None}
            for kind in sorted(k for k in kinds if k):
                def keep(obj: dict[str, Any], kind: str = kind) -> bool:
                    return bool(obj.get("object_type") == "char" and kind_of(obj) == kind)

                hidden = page.filter(keep)
                text = hidden.extract_text() or ""
                if text.strip():
                    out.append(HiddenFragment(kind, " ".join(text.split())))
            if len(out) >= _MAX_FRAGMENTS:
                break
    return out


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def docx_hidden(path: Path) -> list[HiddenFragment]:
    """Runs with ``w:vanish``, white colour, or under 2 pt (``w:sz`` under 4 half-points)."""
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist()
                 if re.fullmatch(r"word/(?:document|header\d*|footer\d*|footnotes)\.xml", n)]
        out: list[HiddenFragment] = []
        for name in names:
            root = ElementTree.fromstring(zf.read(name))  # noqa: S314 (zip of a scanned file)
            for para in root.iter(f"{_W}p"):
                buckets: dict[str, list[str]] = {}
                for run in para.iter(f"{_W}r"):
                    kind = _run_hidden(run)
                    if kind:
                        text = "".join(t.text or "" for t in run.iter(f"{_W}t"))
                        buckets.setdefault(kind, []).append(text)
                for kind, texts in buckets.items():
                    if "".join(texts).strip():
                        out.append(HiddenFragment(kind, "".join(texts).strip()))
    return out[:_MAX_FRAGMENTS]


def _run_hidden(run: ElementTree.Element) -> str | None:
    props = run.find(f"{_W}rPr")
    if props is None:
        return None
    vanish = props.find(f"{_W}vanish")
    if vanish is not None and vanish.get(f"{_W}val", "true") not in ("0", "false"):
        return "docx_vanish"
    color = props.find(f"{_W}color")
    if color is not None and (color.get(f"{_W}val") or "").upper() in ("FFFFFF", "FEFEFE"):
        return "docx_white_text"
    size = props.find(f"{_W}sz")
    if size is not None and (size.get(f"{_W}val") or "99").isdigit() \
            and int(size.get(f"{_W}val") or "99") < 4:
        return "docx_tiny_text"
    return None


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
    A file this cannot read yields nothing (the parser reports on damaged files)."""
    try:
        if mime_type == "text/html":
            raw = path.read_bytes()
            return html_hidden(raw) + invisible_text(raw.decode("utf-8", errors="replace"))
        if mime_type.startswith("text/") or mime_type == "message/rfc822":
            return invisible_text(path.read_bytes()[:50_000_000].decode("utf-8",
                                                                        errors="replace"))
        if mime_type == "application/pdf":
            return pdf_hidden(path)
        if mime_type.endswith("wordprocessingml.document"):
            return docx_hidden(path)
    except Exception as exc:  # a damaged file must not stop the pipeline
        log.warning("hidden-text scan failed", extra={"error": type(exc).__name__})
    return []
