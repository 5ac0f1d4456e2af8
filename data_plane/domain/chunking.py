"""Structure-aware chunking of a canonical document (SPEC §5.4). Pure: no I/O, no models.

Rules:

* consecutive elements under the same heading path (and sheet) are packed into one chunk while
  the chunk stays within ``max_tokens`` (counted by the injected ``count_tokens``);
* headings are not chunks of their own — they travel as the chunk's ``heading_path`` — except
  a heading with no content under it (followed by a sibling or nothing), which becomes a chunk
  so that no text is lost;
* a table is kept whole when it fits; otherwise it is split between rows and every part
  repeats the header row(s) (a row too long on its own is split between words, each piece
  under the header); tables take the whole ``max_tokens``, as they never carry overlap;
* a paragraph longer than the budget is split at sentence ends, a sentence longer than the
  budget between words;
* page headers and footers are skipped (``ChunkingOptions.skip_types``);
* with ``overlap_tokens`` > 0, a chunk that continues the previous chunk's section starts with
  the last words of that chunk (the budget of split pieces is reduced so that the result still
  fits);
* ``chunk_id`` is the first 32 hex digits of a SHA-256 over the source hash, the chunker
  version, ``max_tokens``, ``overlap_tokens``, the ordinal and the text: the same input and
  settings give the same ids.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from data_plane.domain.canonical import (
    CanonicalDocument,
    Element,
    ElementType,
    TableCell,
    table_markdown,
)

CHUNKER_VERSION = "2"  # 2: tables use the whole budget, long rows keep the header
_HEADINGS = (ElementType.TITLE, ElementType.HEADING)
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")

TokenCounter = Callable[[str], int]


@dataclass(frozen=True, slots=True)
class ChunkingOptions:
    """Chunk size, overlap (both in tokens of the embedding model) and element types left out."""

    max_tokens: int = 254
    overlap_tokens: int = 0
    skip_types: frozenset[ElementType] = field(
        default_factory=lambda: frozenset({ElementType.PAGE_HEADER, ElementType.PAGE_FOOTER})
    )

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be positive")
        if not 0 <= self.overlap_tokens < self.max_tokens // 2 + 1:
            raise ValueError("overlap_tokens must be between 0 and half of max_tokens")


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document to embed and retrieve, with a pointer back to its elements."""

    chunk_id: str
    ordinal: int
    text: str
    heading_path: tuple[str, ...]
    page: int | None
    pages: tuple[int, ...]
    sheet: str | None
    element_indexes: tuple[int, ...]
    token_count: int


@dataclass(frozen=True, slots=True)
class _Piece:
    text: str
    element: Element
    splittable: bool  # a part of a split element: may carry overlap from its predecessor


class _Embeddable(Protocol):
    @property
    def heading_path(self) -> tuple[str, ...]: ...

    @property
    def text(self) -> str: ...


def embedding_text(chunk: _Embeddable) -> str:
    """The text to embed: the heading path ("A > B") as context, a blank line, the text
    (of a chunk being made, or of a stored one being re-embedded)."""
    if not chunk.heading_path:
        return chunk.text
    return " > ".join(chunk.heading_path) + "\n\n" + chunk.text


def chunk_document(
    doc: CanonicalDocument, options: ChunkingOptions, count_tokens: TokenCounter
) -> list[Chunk]:
    """Chunk ``doc``'s elements (see the module docstring for the rules)."""
    budget = options.max_tokens - options.overlap_tokens
    pieces = list(_pieces(doc.elements, options, count_tokens, budget))
    groups = _pack(pieces, options, count_tokens)
    chunks: list[Chunk] = []
    for ordinal, (texts, members) in enumerate(groups):
        text = "\n\n".join(texts)
        first = members[0].element
        pages = sorted({m.element.page for m in members if m.element.page is not None})
        chunks.append(Chunk(
            chunk_id=chunk_id(doc.source_sha256, options, ordinal, text),
            ordinal=ordinal,
            text=text,
            heading_path=first.heading_path if first.type not in _HEADINGS
            else first.heading_path[:-1],
            page=pages[0] if pages else None,
            pages=tuple(pages),
            sheet=first.sheet,
            element_indexes=tuple(sorted({m.element.index for m in members})),
            token_count=count_tokens(text),
        ))
    return chunks


def chunk_id(source_sha256: str, options: ChunkingOptions, ordinal: int, text: str) -> str:
    """Deterministic id of a chunk (32 hex digits)."""
    h = hashlib.sha256()
    for part in (source_sha256, CHUNKER_VERSION, str(options.max_tokens),
                 str(options.overlap_tokens), str(ordinal), text):
        h.update(part.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()[:32]


def _context(el: Element) -> tuple[tuple[str, ...], str | None]:
    """The section a piece belongs to; a lone heading belongs to its parent's section."""
    path = el.heading_path[:-1] if el.type in _HEADINGS else el.heading_path
    return path, el.sheet


def _pieces(
    elements: Sequence[Element], options: ChunkingOptions, count: TokenCounter, budget: int
) -> Iterable[_Piece]:
    kept = [e for e in elements if e.type not in options.skip_types and e.text.strip()]
    for i, el in enumerate(kept):
        if el.type in _HEADINGS:
            nxt = kept[i + 1] if i + 1 < len(kept) else None
            if nxt is None or not _is_under(nxt, el):
                yield _Piece(el.text, el, splittable=False)
            continue
        if count(el.text) <= (options.max_tokens if el.type is ElementType.TABLE else budget):
            yield _Piece(el.text, el, splittable=False)
        elif el.type is ElementType.TABLE and el.cells:
            # table parts never carry overlap (the header repeats instead): the whole budget
            for part in _split_table(el.cells, count, options.max_tokens):
                yield _Piece(part, el, splittable=False)
        else:
            for part in split_text(el.text, count, budget):
                yield _Piece(part, el, splittable=True)


def _is_under(candidate: Element, heading: Element) -> bool:
    """Whether ``candidate`` lies inside ``heading``'s section."""
    path = heading.heading_path
    return (candidate.heading_path[: len(path)] == path
            and (candidate.type not in _HEADINGS or len(candidate.heading_path) > len(path))
            and candidate.sheet == heading.sheet)


def _pack(
    pieces: list[_Piece], options: ChunkingOptions, count: TokenCounter
) -> list[tuple[list[str], list[_Piece]]]:
    groups: list[tuple[list[str], list[_Piece]]] = []
    texts: list[str] = []
    members: list[_Piece] = []
    context: tuple[tuple[str, ...], str | None] | None = None
    for piece in pieces:
        ctx = _context(piece.element)
        if members and ctx == context and count("\n\n".join([*texts, piece.text])) \
                <= options.max_tokens:
            texts.append(piece.text)
            members.append(piece)
            continue
        start = piece.text
        if members and ctx == context and options.overlap_tokens and piece.splittable:
            tail = _tail(texts[-1], count, options.overlap_tokens)
            candidate = f"{tail} {piece.text}" if tail else piece.text
            if count(candidate) <= options.max_tokens:
                start = candidate
        if members:
            groups.append((texts, members))
        texts, members, context = [start], [piece], ctx
    if members:
        groups.append((texts, members))
    return groups


def _tail(text: str, count: TokenCounter, limit: int) -> str:
    words = text.split()
    out: list[str] = []
    for word in reversed(words):
        if count(" ".join([word, *out])) > limit:
            break
        out.insert(0, word)
    return " ".join(out)


def split_text(text: str, count: TokenCounter, budget: int) -> list[str]:
    """Split ``text`` into parts of at most ``budget`` tokens: at sentence ends, and between
    words inside a sentence that is too long on its own."""
    units: list[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        if not sentence:
            continue
        if count(sentence) <= budget:
            units.append(sentence)
        else:
            units.extend(_pack_words(sentence.split(), count, budget))
    return _pack_units(units, count, budget, sep=" ")


def _pack_words(words: list[str], count: TokenCounter, budget: int) -> list[str]:
    return _pack_units(words, count, budget, sep=" ")


def _pack_units(units: list[str], count: TokenCounter, budget: int, sep: str) -> list[str]:
    """Greedy packing; sizes are summed per unit (exact for whitespace-pre-tokenizing
    tokenizers) and each part is checked with a real count, shrinking if needed."""
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for unit in units:
        n = count(unit)
        if current and size + n > budget:
            parts.extend(_verified(current, count, budget, sep))
            current, size = [], 0
        current.append(unit)
        size += n
    if current:
        parts.extend(_verified(current, count, budget, sep))
    return parts


def _verified(units: list[str], count: TokenCounter, budget: int, sep: str) -> list[str]:
    out: list[str] = []
    rest = list(units)
    while rest:
        take = len(rest)
        while take > 1 and count(sep.join(rest[:take])) > budget:
            take -= 1
        out.append(sep.join(rest[:take]))
        rest = rest[take:]
    return out


def _split_table(cells: tuple[TableCell, ...], count: TokenCounter, budget: int) -> list[str]:
    """Markdown parts of a table, split between rows, each repeating the header rows."""
    rows: dict[int, list[TableCell]] = {}
    for c in cells:
        rows.setdefault(c.row, []).append(c)
    order = sorted(rows)
    header_rows = [r for r in order if rows[r] and all(c.is_header for c in rows[r])]
    if not header_rows or header_rows[0] != order[0]:
        header_rows = order[:1]
    else:  # only the leading run of header rows repeats
        run = []
        for r in order:
            if r in header_rows:
                run.append(r)
            else:
                break
        header_rows = run
    body_rows = [r for r in order if r not in header_rows]

    def render(selected: list[int]) -> str:
        renumber = {r: i for i, r in enumerate([*header_rows, *selected])}
        return table_markdown(tuple(
            TableCell(row=renumber[r], col=c.col, text=c.text, row_span=1, col_span=c.col_span,
                      is_header=c.is_header)
            for r in renumber for c in rows[r]
        ))

    parts: list[str] = []
    current: list[int] = []
    for r in body_rows:
        if current and count(render([*current, r])) > budget:
            parts.append(render(current))
            current = []
        current.append(r)
    if current:
        parts.append(render(current))
    # A single row too long for the budget with its header: split the row's text between
    # words and repeat the header before each piece while the header leaves room for text.
    head = render([])
    head_lines = len(header_rows) + 1  # header rows and the Markdown rule
    room = budget - count(head) - 1
    out: list[str] = []
    for part in parts:
        if count(part) <= budget:
            out.append(part)
            continue
        lines = part.split("\n")
        if room >= budget // 4:
            for line in lines[head_lines:]:
                out.extend(f"{head}\n{piece}" for piece in
                           _pack_words(line.split(), count, room))
            continue
        pieces: list[str] = []
        for line in lines:
            pieces.extend([line] if count(line) <= budget
                          else _pack_words(line.split(), count, budget))
        out.extend(_pack_units(pieces, count, budget, sep="\n"))
    return out
