"""Structure-aware chunker: bounds, ids, heading paths, table splits, no text lost."""

from __future__ import annotations

import itertools

import pytest

from data_plane.domain.canonical import (
    CanonicalDocument,
    Element,
    ElementType,
    ParseStatus,
    TableCell,
    table_markdown,
)
from data_plane.domain.chunking import (
    Chunk,
    ChunkingOptions,
    chunk_document,
    embedding_text,
    split_text,
)


def words(text: str) -> int:
    """Whitespace token counter (stands in for the model tokenizer)."""
    return len(text.split())


def table_cells(n_rows: int) -> tuple[TableCell, ...]:
    cells = [TableCell(row=0, col=c, text=h, is_header=True)
             for c, h in enumerate(("Region", "Total"))]
    for r in range(1, n_rows + 1):
        cells += [TableCell(row=r, col=0, text=f"region{r}"), TableCell(row=r, col=1, text=str(r))]
    return tuple(cells)


def build(specs: list[tuple[ElementType, str, int | None]], cells: tuple[TableCell, ...] = (),
          sha: str = "a" * 64) -> CanonicalDocument:
    """Elements from (type, text, level) with heading paths computed like the parsers do."""
    stack: list[tuple[int, str]] = []
    elements = []
    for i, (kind, text, level) in enumerate(specs):
        rank = 0 if kind is ElementType.TITLE else (level or 0)
        if kind in (ElementType.TITLE, ElementType.HEADING):
            while stack and stack[-1][0] >= rank:
                stack.pop()
            stack.append((rank, text))
        el_cells = cells if kind is ElementType.TABLE else ()
        elements.append(Element(index=i, type=kind, text=text, level=level, page=1 + i // 3,
                                heading_path=tuple(t for _, t in stack), cells=el_cells))
    return CanonicalDocument(document_id="d", tenant="t", source_sha256=sha, source_name="x.md",
                             mime_type="text/markdown", parser="test", parser_version="0",
                             status=ParseStatus.SUCCESS, elements=tuple(elements))


H, P, T, L = ElementType.HEADING, ElementType.PARAGRAPH, ElementType.TABLE, ElementType.LIST_ITEM
LONG = " ".join(f"Sentence number {i} says something useful." for i in range(40))

DOC = build([
    (ElementType.TITLE, "Runbook", None),
    (P, "Intro text about the runbook.", None),
    (H, "Triage", 1),
    (P, "Check the alert.", None),
    (L, "Record the id.", None),
    (H, "Containment", 1),
    (H, "Isolation", 2),
    (P, LONG, None),
    (H, "Empty section", 1),
    (H, "Numbers", 1),
    (T, table_markdown(table_cells(30)), None),
    (ElementType.PAGE_FOOTER, "Page 3", None),
], cells=table_cells(30))


def chunks_of(doc: CanonicalDocument = DOC, max_tokens: int = 50, overlap: int = 0) -> list[Chunk]:
    return chunk_document(doc, ChunkingOptions(max_tokens=max_tokens, overlap_tokens=overlap),
                          words)


@pytest.mark.parametrize("max_tokens", [20, 50, 120, 1000])
def test_every_chunk_respects_the_bound(max_tokens: int) -> None:
    chunks = chunks_of(max_tokens=max_tokens)
    assert chunks
    for c in chunks:
        assert c.token_count == words(c.text) <= max_tokens


@pytest.mark.parametrize("max_tokens", [20, 50, 1000])
def test_no_text_is_lost(max_tokens: int) -> None:
    chunks = chunks_of(max_tokens=max_tokens)
    chunk_words = " ".join(c.text for c in chunks).split()
    paths = {t for c in chunks for t in c.heading_path} | {w for c in chunks for w in [c.text]}
    for el in DOC.elements:
        if el.type is ElementType.PAGE_FOOTER:
            continue
        if el.type in (ElementType.TITLE, ElementType.HEADING):
            assert el.text in paths or el.text in chunk_words or any(
                el.text == c.text for c in chunks), el.text
        elif el.type is not ElementType.TABLE:
            for w in el.text.split():
                assert w in chunk_words
    table_rows = [f"region{r}" for r in range(1, 31)]
    joined = " ".join(c.text for c in chunks)
    assert all(f"| {r} |" in joined for r in table_rows)


def test_ids_are_deterministic_and_depend_on_settings_and_source() -> None:
    a, b = chunks_of(), chunks_of()
    assert [c.chunk_id for c in a] == [c.chunk_id for c in b]
    assert len({c.chunk_id for c in a}) == len(a)
    assert all(len(c.chunk_id) == 32 and int(c.chunk_id, 16) >= 0 for c in a)
    other_settings = chunks_of(overlap=5)
    assert a[0].chunk_id != other_settings[0].chunk_id
    other_source = chunk_document(build([(P, "Intro text about the runbook.", None)],
                                        sha="b" * 64), ChunkingOptions(max_tokens=50), words)
    same_text = chunk_document(build([(P, "Intro text about the runbook.", None)]),
                               ChunkingOptions(max_tokens=50), words)
    assert other_source[0].chunk_id != same_text[0].chunk_id


@pytest.mark.parametrize(("needle", "path"), [
    ("Intro text", ("Runbook",)),
    ("Check the alert.", ("Runbook", "Triage")),
    ("Sentence number 0 ", ("Runbook", "Containment", "Isolation")),
    ("| region1 |", ("Runbook", "Numbers")),
])
def test_heading_paths_are_carried(needle: str, path: tuple[str, ...]) -> None:
    chunk = next(c for c in chunks_of() if needle in c.text)
    assert chunk.heading_path == path
    assert embedding_text(chunk).startswith(" > ".join(path) + "\n\n")


def test_consecutive_elements_of_a_section_share_a_chunk_and_headings_are_not_chunks() -> None:
    triage = next(c for c in chunks_of() if "Check the alert." in c.text)
    assert triage.text == "Check the alert.\n\nRecord the id."
    assert triage.element_indexes == (3, 4)
    assert not any(c.text in ("Triage", "Containment", "Isolation") for c in chunks_of())


def test_heading_without_content_still_yields_a_chunk() -> None:
    empty = [c for c in chunks_of() if c.text == "Empty section"]
    assert len(empty) == 1 and empty[0].heading_path == ("Runbook",)


def test_table_kept_whole_when_it_fits() -> None:
    tables = [c for c in chunks_of(max_tokens=1000) if "| Region |" in c.text]
    assert len(tables) == 1


def test_table_split_between_rows_repeats_the_header() -> None:
    parts = [c for c in chunks_of(max_tokens=50) if "region" in c.text]
    assert len(parts) > 1
    for part in parts:
        lines = part.text.splitlines()
        assert lines[0] == "| Region | Total |" and lines[1] == "|---|---|"
        assert all(line.startswith("| region") for line in lines[2:])
    rows = [line for p in parts for line in p.text.splitlines()[2:]]
    assert rows == [f"| region{r} | {r} |" for r in range(1, 31)]


def test_a_row_too_long_on_its_own_is_split_between_words_under_its_header() -> None:
    note = " ".join(f"word{i}" for i in range(60))
    cells = (TableCell(row=0, col=0, text="Item", is_header=True),
             TableCell(row=0, col=1, text="Note", is_header=True),
             TableCell(row=1, col=0, text="pump"), TableCell(row=1, col=1, text=note))
    doc = build([(H, "Notes", 1), (T, table_markdown(cells), None)], cells=cells)
    parts = chunk_document(doc, ChunkingOptions(max_tokens=30, overlap_tokens=5), words)
    assert len(parts) > 1
    assert all(p.text.startswith("| Item | Note |\n|---|---|\n") for p in parts)
    assert all(p.token_count <= 30 for p in parts)
    body = " ".join(w for p in parts for w in p.text.split()[6:])
    assert body.split() == table_markdown(cells).split()[6:]


def test_long_paragraph_splits_at_sentence_ends() -> None:
    parts = [c.text for c in chunks_of(max_tokens=50) if "Sentence number" in c.text]
    assert len(parts) > 1
    assert all(p.endswith(".") for p in parts)
    assert " ".join(parts) == LONG


def test_sentence_longer_than_budget_splits_between_words() -> None:
    text = " ".join(f"w{i}" for i in range(25))
    parts = split_text(text, words, 10)
    assert [words(p) for p in parts] == [10, 10, 5]
    assert " ".join(parts) == text


def test_overlap_prefixes_the_tail_of_the_previous_part_within_bounds() -> None:
    parts = [c for c in chunks_of(max_tokens=50, overlap=6) if "Sentence number" in c.text]
    assert len(parts) > 1
    for prev, cur in itertools.pairwise(parts):
        assert cur.token_count <= 50
        assert prev.text.split()[-6:] == cur.text.split()[:6]


def test_pages_and_page_footer_skipped() -> None:
    chunks = chunks_of(max_tokens=1000)
    assert not any("Page 3" in c.text for c in chunks)
    for c in chunks:
        assert c.page == (c.pages[0] if c.pages else None)
        assert list(c.pages) == sorted(set(c.pages))


def test_empty_document_gives_no_chunks() -> None:
    assert chunk_document(build([]), ChunkingOptions(), words) == []


@pytest.mark.parametrize(("max_tokens", "overlap"), [(0, 0), (10, 6), (10, -1)])
def test_invalid_options_refused(max_tokens: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="tokens"):
        ChunkingOptions(max_tokens=max_tokens, overlap_tokens=overlap)
