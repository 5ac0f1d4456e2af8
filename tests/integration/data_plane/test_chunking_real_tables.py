"""Chunking real tables with the real tokenizer: a table too big for one chunk is split between
rows, every part repeats the header, no row is lost or duplicated, no part exceeds the budget."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from data_plane.adapters.parsers import ParserRouter
from data_plane.adapters.tokenizer import count_tokens
from data_plane.domain.canonical import ElementType
from data_plane.domain.chunking import ChunkingOptions, chunk_document
from data_plane.domain.ports import ParseRequest

ROOT = Path(__file__).resolve().parents[3]
REAL = ROOT.parent / "shared/corpus/real"
SEGMENTS = "2023-half-year-analyses-by-segment.xlsx"


@pytest.mark.parametrize(("name", "max_tokens"), [
    ("stanley-cups.xlsx", 64), (SEGMENTS, 48), (SEGMENTS, 96)])
def test_big_real_tables_split_between_rows_with_the_header_repeated(
        name: str, max_tokens: int) -> None:
    path = REAL / name
    if not path.exists():
        pytest.skip("shared corpus not present")
    doc = ParserRouter().parse(ParseRequest(
        document_id="t", tenant="acme", path=path, name=name, mime_type="",
        sha256=hashlib.sha256(path.read_bytes()).hexdigest()))
    options = ChunkingOptions(max_tokens=max_tokens, overlap_tokens=8)
    chunks = chunk_document(doc, options, count_tokens)
    assert all(c.token_count <= max_tokens for c in chunks)
    split = 0
    for table in (e for e in doc.elements if e.type is ElementType.TABLE):
        if count_tokens(table.text) <= max_tokens:  # kept whole
            continue
        lines = table.text.split("\n")
        header = "\n".join(lines[:2])  # header row and the Markdown rule
        if count_tokens(header) * 2 > max_tokens:
            continue  # a header this wide cannot repeat; rows are split as text instead
        # the table's parts, each packed alone or with neighbours of its section
        parts = [seg for c in chunks if table.index in c.element_indexes
                 for seg in c.text.split("\n\n") if seg.startswith(lines[0] + "\n")]
        split += 1
        assert len(parts) > 1
        assert all(p.startswith(header + "\n") for p in parts)
        body = [ln for p in parts for ln in p.split("\n")[2:]]
        # every row once, in order (a row too long on its own is split between words)
        assert " ".join(body).split() == " ".join(lines[2:]).split()
    assert split > 0, "no table of this file needed splitting at this size"
