"""Small, varied, realistic files for the fault suite: generated text, Markdown, CSV, HTML and
DOCX (each one's bytes unique, so none is refused as a duplicate), plus a few small files of
the shared real corpus. Deterministic for a given seed, so a failing run can be repeated."""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path

from docx import Document

REAL_CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "real"
# Small files of the shared corpus that every parser chain reads in well under a second:
# they add real-world structure (tables, styles, sheets) without slowing a round down.
REAL_FILES = ("handbook-1p.docx", "docx-tables.docx", "fake-doc-emphasized-text.docx",
              "example-steelJIS-datasheet.html", "stanley-cups.xlsx", "fake.odt")

_TOPICS = ("cold-chain shipment", "supplier audit", "forklift inspection", "invoice dispute",
           "fume hood certificate", "vaccine storage", "badge access", "fleet service",
           "warehouse safety", "quality deviation", "calibration record", "returns policy")
_WORDS = ("pallet", "freezer", "manifest", "carrier", "temperature", "deviation", "seal",
          "dock", "lot", "signature", "inspection", "reading", "threshold", "alarm", "probe",
          "courier", "customs", "receipt", "checklist", "sample", "warranty", "approval")


def _sentence(rng: random.Random, number: int) -> str:
    words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 16)))
    return f"Record {number}: the {rng.choice(_TOPICS)} notes {words}."


def _paragraphs(rng: random.Random, number: int) -> list[str]:
    return [" ".join(_sentence(rng, number * 100 + i * 10 + j) for j in range(rng.randint(2, 5)))
            for i in range(rng.randint(2, 6))]


def _txt(path: Path, rng: random.Random, number: int) -> None:
    path.write_text("\n\n".join(_paragraphs(rng, number)) + "\n", encoding="utf-8")


def _md(path: Path, rng: random.Random, number: int) -> None:
    lines = [f"# {rng.choice(_TOPICS).title()} {number}", ""]
    for i, para in enumerate(_paragraphs(rng, number)):
        lines += [f"## Section {i + 1}", "", para, ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def _csv(path: Path, rng: random.Random, number: int) -> None:
    rows = ["lot,item,temperature_c,inspector,note"]
    rows += [f"L{number}-{i},{rng.choice(_WORDS)},{rng.uniform(-30, 8):.1f},"
             f"inspector-{rng.randint(1, 40)},{rng.choice(_TOPICS)}"
             for i in range(rng.randint(5, 30))]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def _html(path: Path, rng: random.Random, number: int) -> None:
    body = "".join(f"<h2>Part {i + 1}</h2><p>{p}</p>"
                   for i, p in enumerate(_paragraphs(rng, number)))
    path.write_text(f"<!doctype html><html><head><title>Notice {number}</title></head>"
                    f"<body><h1>{rng.choice(_TOPICS).title()} notice {number}</h1>{body}"
                    "</body></html>\n", encoding="utf-8")


def _docx(path: Path, rng: random.Random, number: int) -> None:
    doc = Document()
    doc.add_heading(f"{rng.choice(_TOPICS).title()} report {number}", level=1)
    for para in _paragraphs(rng, number):
        doc.add_paragraph(para)
    table = doc.add_table(rows=3, cols=3)
    for r, row in enumerate(table.rows):
        for c, cell in enumerate(row.cells):
            cell.text = f"{rng.choice(_WORDS)} {number}.{r}.{c}"
    doc.save(str(path))


_WRITERS: dict[str, Callable[[Path, random.Random, int], None]] = {
    "txt": _txt, "md": _md, "csv": _csv, "html": _html, "docx": _docx}


def write_corpus(folder: Path, count: int, *, seed: int = 1234,
                 with_real: bool = True) -> list[Path]:
    """``count`` files in ``folder``: the small real files first (when the shared corpus is
    there and ``with_real``), then generated ones, cycling through the formats."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths: list[Path] = []
    if with_real:
        for name in REAL_FILES[:count]:
            source = REAL_CORPUS / name
            if source.is_file():
                paths.append(Path(shutil.copy(source, folder / name)))
    formats = list(_WRITERS)
    number = 0
    while len(paths) < count:
        ext = formats[number % len(formats)]
        path = folder / f"fault-{seed}-{number:04d}.{ext}"
        _WRITERS[ext](path, rng, number)
        paths.append(path)
        number += 1
    return paths


def is_real(path: Path) -> bool:
    """A file copied from the shared corpus (not generated here)."""
    return path.name in REAL_FILES
