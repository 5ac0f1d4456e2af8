"""Golden files: each sample's canonical document and chunks, compared with committed JSON.

Regenerate only on purpose, after checking the diff: ``FROSTBYTE_GEN_GOLDEN=1 .venv/bin/pytest
tests/integration/data_plane/test_golden.py`` (a test refuses the flag under CI). Lineage
(timestamps, seconds) and the parse attempts (seconds) are left out; parser versions are kept,
so a parser upgrade shows up here.
The scanned sample is left out too: OCR output differs between Tesseract builds (tesserocr's
bundled library and Debian's CLI); tests/integration/data_plane/test_ocr.py checks its text.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from data_plane.adapters.parsers import ParserRouter
from data_plane.adapters.tokenizer import count_tokens
from data_plane.domain.chunking import ChunkingOptions, chunk_document
from data_plane.domain.ports import ParseRequest

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = Path(__file__).parent / "golden"
SAMPLES = sorted(p for p in (ROOT / "samples").iterdir()
                 if p.is_file() and p.name != "README.md" and not p.name.startswith("scanned-"))
GENERATE = os.environ.get("FROSTBYTE_GEN_GOLDEN") == "1"
#: Real files (``/shared/corpus``) of the formats added in issue 12, one golden file each
#: under ``golden/corpus/``; skipped where the shared corpus is absent.
CORPUS = ROOT.parent / "shared/corpus"
CORPUS_FILES = ["real/fake.odt", "docling/text_document_01.odt",
                "docling/odf_table_with_title_01.ods", "docling/odf_presentation_01.odp",
                "docling/epub_purvis_poetry.epub", "docling/msg_with_attachment.msg",
                "real/fake-email-attachment.msg", "docling/legacy_sample.doc"]


def snapshot(path: Path) -> dict[str, Any]:
    doc = ParserRouter().parse(ParseRequest(
        document_id=f"golden-{path.stem}", tenant="golden", path=path, name=path.name,
        mime_type="", sha256=hashlib.sha256(path.read_bytes()).hexdigest()))
    canonical = json.loads(doc.to_json())
    canonical.pop("lineage")
    canonical.pop("attempts")
    chunks = chunk_document(doc, ChunkingOptions(max_tokens=128, overlap_tokens=16),
                            count_tokens)
    return {"canonical": canonical, "chunks": [dataclasses.asdict(c) for c in chunks]}


def test_the_generate_flag_is_off_in_ci() -> None:
    assert not (GENERATE and os.environ.get("CI")), "golden files are never regenerated in CI"


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_sample_matches_its_golden_file(path: Path) -> None:
    check_golden(path, GOLDEN / f"{path.name}.json")


@pytest.mark.parametrize("relative", CORPUS_FILES)
def test_real_file_of_a_new_format_matches_its_golden_file(relative: str) -> None:
    path = CORPUS / relative
    if not path.is_file():
        pytest.skip(f"{path} not present")
    check_golden(path, GOLDEN / "corpus" / f"{path.name}.json")


def check_golden(path: Path, golden: Path) -> None:
    got = json.loads(json.dumps(snapshot(path)))  # tuples → lists, as in the file
    if GENERATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n",
                          encoding="utf-8")
    assert golden.exists(), "no golden file; generate it with FROSTBYTE_GEN_GOLDEN=1"
    assert got == json.loads(golden.read_text(encoding="utf-8"))
