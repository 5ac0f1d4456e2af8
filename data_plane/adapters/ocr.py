"""Tesseract OCR: one page image → paragraphs with bounding boxes and confidence (SPEC §5.2).

Two ways to reach the same engine, picked once per ``TesseractOcr``:

* **tesserocr** (the Python binding, PARSER_FACTS: 0.5–0.7 s a page) when it imports — the
  model stays loaded between pages;
* **the ``tesseract`` CLI** (Debian's ``tesseract-ocr``) otherwise, one process per page.

Both emit Tesseract's TSV (one row per block, paragraph, line and word with its box and
confidence), which ``paragraphs_from_tsv`` turns into paragraphs. Language data comes from a
local tessdata folder only (``TESSDATA_PREFIX`` or Debian's paths); a language the tenant asks
for that is not installed is an ``OcrLanguageMissing`` error naming the installed ones.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import statistics
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image

TESSDATA_CANDIDATES = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)
MIN_WORD_CONFIDENCE = 10.0  # below: specks, rules and picture texture read as "words"


class OcrUnavailable(RuntimeError):
    """Neither tesserocr nor the tesseract CLI (or no tessdata folder) is installed."""


class OcrLanguageMissing(RuntimeError):
    """A requested OCR language has no traineddata file in the tessdata folder."""


@dataclass(frozen=True, slots=True)
class OcrParagraph:
    """A paragraph as Tesseract segmented it; box in image pixels (left, top, right, bottom)."""

    text: str
    box: tuple[int, int, int, int]
    lines: int
    line_height: float  # median height of its words, pixels
    confidence: float  # mean word confidence, 0–100


@dataclass(frozen=True, slots=True)
class OcrPage:
    width: int
    height: int
    paragraphs: tuple[OcrParagraph, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.paragraphs)


def find_tessdata() -> Path | None:
    """The tessdata folder: ``TESSDATA_PREFIX`` if set, else the first Debian path found."""
    env = os.environ.get("TESSDATA_PREFIX")
    candidates = ([env] if env else []) + list(TESSDATA_CANDIDATES)
    for c in candidates:
        if c and any(Path(c).glob("*.traineddata")):
            return Path(c)
    return None


class TesseractOcr:
    """Recognises page images with Tesseract (tesserocr if available, else the CLI)."""

    def __init__(self, tessdata: Path | None = None, *, engine: str | None = None) -> None:
        self.tessdata = tessdata or find_tessdata()
        if self.tessdata is None:
            raise OcrUnavailable("no tessdata folder with *.traineddata (install Debian's "
                                 "tesseract-ocr-eng or set TESSDATA_PREFIX)")
        self.engine = engine or ("tesserocr" if _has_tesserocr() else "cli")
        if self.engine == "cli" and shutil.which("tesseract") is None:
            raise OcrUnavailable("neither tesserocr nor the tesseract command is installed")
        self._apis: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        """The Tesseract version behind the engine, e.g. ``tesserocr 5.5.4``."""
        if self.engine == "tesserocr":
            import tesserocr  # type: ignore[import-untyped]

            return f"tesserocr {tesserocr.tesseract_version().split()[1]}"
        out = subprocess.run(["tesseract", "--version"], capture_output=True, text=True,
                             check=False).stdout
        return f"tesseract {out.split()[1] if out.split() else 'unknown'}"

    def languages(self) -> tuple[str, ...]:
        """Languages with traineddata in the tessdata folder."""
        assert self.tessdata is not None
        return tuple(sorted(p.name.removesuffix(".traineddata")
                            for p in self.tessdata.glob("*.traineddata")))

    def check_languages(self, languages: Sequence[str]) -> str:
        """Tesseract's ``-l`` value for ``languages``; raises ``OcrLanguageMissing``."""
        installed = self.languages()
        missing = [lang for lang in languages if lang not in installed]
        if missing or not languages:
            raise OcrLanguageMissing(
                f"OCR language(s) {', '.join(missing) or '(none)'} not installed; installed: "
                f"{', '.join(installed)}")
        return "+".join(languages)

    def recognize(self, image: Image, languages: Sequence[str] = ("eng",)) -> OcrPage:
        """OCR one page image."""
        lang = self.check_languages(languages)
        gray = image.convert("L")
        if self.engine == "tesserocr":
            with self._lock:
                api = self._api(lang)
                api.SetImage(gray)
                tsv = api.GetTSVText(0)
                api.Clear()
        else:
            tsv = self._cli_tsv(gray, lang)
        return OcrPage(width=gray.width, height=gray.height,
                       paragraphs=paragraphs_from_tsv(tsv))

    def close(self) -> None:
        with self._lock:
            for api in self._apis.values():
                api.End()
            self._apis.clear()

    def _api(self, lang: str) -> Any:
        if lang not in self._apis:
            import tesserocr

            self._apis[lang] = tesserocr.PyTessBaseAPI(
                path=str(self.tessdata) + os.sep, lang=lang, psm=tesserocr.PSM.AUTO)
        return self._apis[lang]

    def _cli_tsv(self, gray: Image, lang: str) -> str:
        buf = io.BytesIO()
        gray.save(buf, format="PNG")
        out = subprocess.run(
            ["tesseract", "stdin", "stdout", "-l", lang, "--psm", "3",
             "--tessdata-dir", str(self.tessdata), "tsv"],
            input=buf.getvalue(), capture_output=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"tesseract exited {out.returncode}: "
                               f"{out.stderr.decode(errors='replace')[-300:]}")
        return out.stdout.decode("utf-8", errors="replace")


def _has_tesserocr() -> bool:
    try:
        import tesserocr  # noqa: F401
    except ImportError:
        return False
    return True


_HYPHEN_END = re.compile(r"[A-Za-z]-$")


def paragraphs_from_tsv(tsv: str) -> tuple[OcrParagraph, ...]:
    """Pure: Tesseract TSV → paragraphs in reading order (words joined, hyphenated line ends
    merged, low-confidence specks dropped)."""
    words: dict[tuple[int, int, int], dict[int, list[tuple[str, int, int, int, int, float]]]] = {}
    order: list[tuple[int, int, int]] = []
    for row in tsv.splitlines():
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5":
            continue
        text = cols[11].strip()
        try:
            conf = float(cols[10])
            left, top, width, height = (int(c) for c in cols[6:10])
            key = (int(cols[1]), int(cols[2]), int(cols[3]))  # page, block, paragraph
            line = int(cols[4])
        except ValueError:
            continue
        if not text or conf < MIN_WORD_CONFIDENCE:
            continue
        if key not in words:
            words[key] = {}
            order.append(key)
        words[key].setdefault(line, []).append((text, left, top, width, height, conf))
    out: list[OcrParagraph] = []
    for key in order:
        lines = [words[key][n] for n in sorted(words[key])]
        text = ""
        for ws in lines:
            line_text = " ".join(w[0] for w in ws)
            if text and _HYPHEN_END.search(text):
                text = text[:-1] + line_text
            else:
                text = f"{text} {line_text}" if text else line_text
        flat = [w for ws in lines for w in ws]
        box = (min(w[1] for w in flat), min(w[2] for w in flat),
               max(w[1] + w[3] for w in flat), max(w[2] + w[4] for w in flat))
        out.append(OcrParagraph(
            text=text, box=box, lines=len(lines),
            line_height=float(statistics.median(w[4] for w in flat)),
            confidence=round(statistics.fmean(w[5] for w in flat), 1)))
    return tuple(out)
