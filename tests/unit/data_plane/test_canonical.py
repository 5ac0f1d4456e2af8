"""The canonical document: exact JSON round-trip, version handling, Markdown tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from data_plane.domain.canonical import (
    SCHEMA_VERSION,
    AttachmentInfo,
    BoundingBox,
    CanonicalDocument,
    Element,
    ElementType,
    ErrorItem,
    LineageStep,
    ParseAttempt,
    ParseStatus,
    TableCell,
    attempts_in_detail,
    load_canonical,
    table_markdown,
)

CELLS = (
    TableCell(row=0, col=0, text="Region", is_header=True),
    TableCell(row=0, col=1, text="Total | EUR", is_header=True),
    TableCell(row=1, col=0, text="North", row_span=2),
    TableCell(row=1, col=1, text="16 860.75"),
    TableCell(row=2, col=1, text="  3 820.50\n"),
)


def full_document() -> CanonicalDocument:
    elements = []
    for i, kind in enumerate(ElementType):
        elements.append(Element(
            index=i, type=kind, text=f"{kind.value} text — ünïcode ✓", level=2 if kind is
            ElementType.HEADING else None, heading_path=("Title", "Section"), page=i % 3 + 1,
            sheet="Sheet 1" if i % 2 else None,
            bbox=BoundingBox(left=1.5, top=2.25, right=100.0, bottom=120.125),
            cells=CELLS if kind is ElementType.TABLE else (),
            attributes={"source": "test"} if i == 0 else {},
        ))
    t0 = datetime(2024, 3, 14, 9, 30, 0, 123456, tzinfo=UTC)
    return CanonicalDocument(
        document_id="doc-1", tenant="acme", source_sha256="f" * 64, source_name="x.pdf",
        mime_type="application/pdf", title="Title", parser="pdfplumber",
        parser_version="0.11.10", status=ParseStatus.PARTIAL_SUCCESS,
        errors=(ErrorItem(component="pdfplumber", message="PARSE_FAILED: X: y"),),
        page_count=3, metadata={"subject": "s", "format": "pdf"}, elements=tuple(elements),
        lineage=(LineageStep(stage="parse", component="pdfplumber", version="0.11.10",
                             started_at=t0, finished_at=t0,
                             details={"role": "primary", "seconds": 0.25, "errors": ["a"]}),),
    )


def test_every_element_type_is_covered() -> None:
    assert {e.type for e in full_document().elements} == set(ElementType)


def test_json_round_trip_is_exact() -> None:
    doc = full_document()
    raw = doc.to_json()
    again = CanonicalDocument.model_validate_json(raw)
    assert again == doc
    assert again.to_json() == raw
    assert load_canonical(raw.encode("utf-8")) == doc


def test_old_or_unknown_schema_version_is_refused() -> None:
    data = json.loads(full_document().to_json())
    data["schema_version"] = "0.9"
    with pytest.raises(ValueError, match="unsupported canonical schema version"):
        load_canonical(json.dumps(data))
    assert SCHEMA_VERSION == "1.2"


def test_a_committed_1_0_document_still_loads_as_the_current_version() -> None:
    raw = (Path(__file__).parent / "data" / "canonical-1.0.json").read_text(encoding="utf-8")
    assert json.loads(raw)["schema_version"] == "1.0"
    doc = load_canonical(raw)
    assert doc.schema_version == SCHEMA_VERSION and doc.attachments == ()
    assert doc.title == "Annual Warehouse Fire-Safety Inspection Report"
    assert len(doc.elements) == 32 and doc.page_count == 4
    table = next(e for e in doc.elements if e.type is ElementType.TABLE)
    assert table.cells and table.page is not None
    assert load_canonical(doc.to_json()) == doc


def test_attachments_round_trip() -> None:
    doc = full_document().model_copy(update={"attachments": (
        AttachmentInfo(name="serials.csv", mime_type="text/csv", sha256="ab" * 32, size=120,
                       parser="docling", parser_version="2", status=ParseStatus.SUCCESS,
                       elements=3),
        AttachmentInfo(name="voice.mp3", mime_type="audio/mpeg", sha256="cd" * 32, size=9,
                       skipped="UNSUPPORTED_FORMAT"),
    )})
    assert load_canonical(doc.to_json()) == doc


def test_attempts_round_trip() -> None:
    doc = full_document().model_copy(update={"attempts": (
        ParseAttempt(parser="docling", version="2.143.0", role="primary",
                     status=ParseStatus.FAILED, seconds=0.125, errors=(ErrorItem(
                         component="docling", message="PARSE_FAILED: docling failure: x"),)),
        ParseAttempt(parser="unstructured", version="0.27.32", role="fallback",
                     status=ParseStatus.SUCCESS, seconds=1.5, elements=3, text_chars=80),
    )})
    assert load_canonical(doc.to_json()) == doc


def test_a_1_1_document_gets_its_attempts_from_its_parse_lineage() -> None:
    data = json.loads(full_document().to_json())
    data["schema_version"] = "1.1"
    del data["attempts"]
    doc = load_canonical(json.dumps(data))
    assert doc.schema_version == "1.2"
    assert doc.attempts == (ParseAttempt(
        parser="pdfplumber", version="0.11.10", role="primary", status=ParseStatus.FAILED,
        seconds=0.25, errors=(ErrorItem(component="pdfplumber", message="a"),)),)


def test_unknown_fields_and_mutation_are_refused() -> None:
    data = json.loads(full_document().to_json())
    data["surprise"] = 1
    with pytest.raises(ValidationError):
        load_canonical(json.dumps(data))
    with pytest.raises(ValidationError):
        full_document().title = "changed"  # type: ignore[misc]


def test_text_chars_counts_stripped_text() -> None:
    doc = full_document()
    assert doc.text_chars == sum(len(e.text.strip()) for e in doc.elements)


@pytest.mark.parametrize(("cells", "expected"), [
    ((), ""),
    (CELLS, "| Region | Total \\| EUR |\n|---|---|\n| North | 16 860.75 |\n|  | 3 820.50 |"),
    ((TableCell(row=0, col=1, text="only"),), "|  | only |\n|---|---|"),
])
def test_table_markdown(cells: tuple[TableCell, ...], expected: str) -> None:
    assert table_markdown(cells) == expected


def test_the_reasons_of_every_parser_are_read_back_from_a_failed_detail() -> None:
    detail = ("PARSE_FAILED: docling: conversion failure: Invalid input tag; of a kind; "
              "NO_TEXT_EXTRACTED: unstructured: no text in 'a.docx'; "
              "PARSE_FAILED: timeout after 600 s")
    assert attempts_in_detail(detail) == [
        {"parser": "docling", "reason": "PARSE_FAILED",
         "message": "conversion failure: Invalid input tag; of a kind"},
        {"parser": "unstructured", "reason": "NO_TEXT_EXTRACTED", "message": "no text in 'a.docx'"},
        {"parser": None, "reason": "PARSE_FAILED", "message": "timeout after 600 s"},
    ]
    assert attempts_in_detail(None) == [] and attempts_in_detail("free text") == []
