"""The router's fallback chains, with stand-in parsers (no parsing library is imported)."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_plane.adapters.parsers._common import make_document
from data_plane.adapters.parsers.formats import DocFormat, detect_format
from data_plane.adapters.parsers.registry import ParserRegistry
from data_plane.adapters.parsers.routing import ROUTES, ParserRouter, Route
from data_plane.domain.canonical import (
    CanonicalDocument,
    Element,
    ElementType,
    ErrorItem,
    ParseStatus,
    load_canonical,
)
from data_plane.domain.ports import ParseRequest


class Scripted:
    """A parser whose behaviour is fixed at construction: text, empty, FAILED or raise."""

    def __init__(self, name: str, outcome: str) -> None:
        self.name = name
        self.outcome = outcome
        self.calls = 0

    def parse(self, request: ParseRequest) -> CanonicalDocument:
        self.calls += 1
        if self.outcome == "raise":
            raise RuntimeError("boom")
        if self.outcome in ("failed", "encrypted"):
            code = "ENCRYPTED" if self.outcome == "encrypted" else "PARSE_FAILED"
            return make_document(request, parser=self.name, version="1",
                                 status=ParseStatus.FAILED,
                                 errors=(ErrorItem(component=self.name,
                                                   message=f"{code}: it broke"),))
        elements = [] if self.outcome == "empty" else [
            Element(index=0, type=ElementType.PARAGRAPH, text=f"read by {self.name}")]
        return make_document(request, parser=self.name, version="1", elements=elements)


def router_with(routes: dict[DocFormat, Route], **outcomes: str
                ) -> tuple[ParserRouter, dict[str, Scripted]]:
    registry = ParserRegistry()
    parsers = {name: Scripted(name, outcome) for name, outcome in outcomes.items()}
    for name, parser in parsers.items():
        registry.register(name, lambda p=parser: p)  # type: ignore[misc]
    return ParserRouter(registry=registry, routes=routes), parsers


def request(tmp_path: Path, name: str = "memo.docx") -> ParseRequest:
    path = tmp_path / name
    path.write_bytes(b"x")
    return ParseRequest(document_id="d", tenant="t", path=path, name=name, mime_type="",
                        sha256="0" * 64)


CHAIN = {DocFormat.DOCX: Route(("a", "b", "c"))}


@pytest.mark.parametrize("first", ["failed", "raise", "empty"])
def test_a_failing_or_empty_parser_hands_the_file_to_the_next(tmp_path: Path,
                                                              first: str) -> None:
    router, parsers = router_with(CHAIN, a=first, b="text", c="text")
    doc = router.parse(request(tmp_path))
    assert doc.status is ParseStatus.SUCCESS and doc.parser == "b"
    assert [(a.parser, a.role, a.status) for a in doc.attempts] == [
        ("a", "primary", ParseStatus.FAILED), ("b", "fallback", ParseStatus.SUCCESS)]
    assert doc.attempts[0].errors and doc.errors == ()  # the primary's failure is history
    assert parsers["c"].calls == 0
    assert all(a.seconds >= 0 for a in doc.attempts)
    assert load_canonical(doc.to_json()) == doc


def test_every_parser_of_the_chain_is_tried_and_each_reason_names_its_parser(
        tmp_path: Path) -> None:
    router, _ = router_with(CHAIN, a="failed", b="raise", c="empty")
    doc = router.parse(request(tmp_path))
    assert doc.status is ParseStatus.FAILED and doc.elements == ()
    assert [a.parser for a in doc.attempts] == ["a", "b", "c"]
    assert [e.message for e in doc.errors] == [
        "PARSE_FAILED: a: it broke",
        "PARSE_FAILED: b: RuntimeError: boom",
        "NO_TEXT_EXTRACTED: c: no text in 'memo.docx' (image-only or scanned document, "
        "or an empty file)",
    ]
    assert [s.details["role"] for s in doc.lineage] == ["primary", "fallback", "fallback"]


def test_an_encrypted_file_is_not_handed_on(tmp_path: Path) -> None:
    router, parsers = router_with(CHAIN, a="encrypted", b="text", c="text")
    doc = router.parse(request(tmp_path))
    assert doc.status is ParseStatus.FAILED
    assert doc.errors[0].message.startswith("ENCRYPTED: ")
    assert parsers["b"].calls == 0 and len(doc.attempts) == 1


def test_a_route_needs_a_parser() -> None:
    with pytest.raises(ValueError, match="at least one parser"):
        Route(())


@pytest.mark.parametrize(("fmt", "chain"), [
    (DocFormat.PDF, ("pdfplumber", "docling", "unstructured")),
    (DocFormat.DOCX, ("docling", "unstructured")),
    (DocFormat.PPTX, ("docling", "unstructured")),
    (DocFormat.XLSX, ("docling", "unstructured")),
    (DocFormat.EML, ("docling", "unstructured")),
    (DocFormat.MSG, ("docling", "unstructured")),
    (DocFormat.ODT, ("docling", "unstructured")),
    (DocFormat.ODS, ("docling",)),
    (DocFormat.ODP, ("docling",)),
    (DocFormat.EPUB, ("docling", "unstructured")),
    (DocFormat.DOC, ("legacy-office",)),
])
def test_the_routing_table(fmt: DocFormat, chain: tuple[str, ...]) -> None:
    assert ROUTES[fmt].parsers == chain
    assert ROUTES[DocFormat.PDF].ocr


@pytest.mark.parametrize(("name", "mime", "expected"), [
    ("a.odt", "", DocFormat.ODT),
    ("a.ods", "", DocFormat.ODS),
    ("a.odp", "", DocFormat.ODP),
    ("book.EPUB", "", DocFormat.EPUB),
    ("mail.msg", "", DocFormat.MSG),
    ("old.doc", "", DocFormat.DOC),
    ("source", "application/vnd.ms-outlook", DocFormat.MSG),
    ("source", "application/epub+zip", DocFormat.EPUB),
    ("source", "application/vnd.oasis.opendocument.spreadsheet", DocFormat.ODS),
    ("source", "application/msword", DocFormat.DOC),
])
def test_new_formats_are_detected(name: str, mime: str, expected: DocFormat) -> None:
    assert detect_format(name, mime) is expected


def test_text_from_pdfium_code_units_becomes_valid_unicode() -> None:
    from data_plane.adapters.parsers._common import valid_text

    # PDFium hands out a character beyond the BMP as two UTF-16 code units
    assert valid_text("a\udb82\udc54b") == "a\U000f0854b"
    assert valid_text("lone \udb62 surrogate") == "lone \ufffd surrogate"
    assert valid_text("plain text") == "plain text"
    valid_text("x\ud800").encode("utf-8")  # what the tokenizer and PostgreSQL need
