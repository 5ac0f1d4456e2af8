"""Large PDFs parse in bounded memory, page by page, with their structure (SPEC §5.2, issue 12).

DA-619p.pdf (a 619-page manual) used to stop the worker's parser child at its 4 GiB ceiling:
the PDF reader kept every page's objects. Through the worker's own parse stage, with the
default limits, it now parses with a page on every element and headings from its outline, and
the child's peak memory does not depend on how many pages the document has.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from data_plane.adapters.parsers.isolated import IsolatedParser, IsolationLimits
from data_plane.adapters.parsers.routing import ParserRouter
from data_plane.domain.canonical import CanonicalDocument, ElementType, ParseStatus
from data_plane.domain.ports import ParseRequest
from tests.pathological_pdf import text_pages_pdf

REAL = Path(__file__).resolve().parents[4] / "shared/corpus/real"
DA = REAL / "DA-619p.pdf"
MiB = 1024 * 1024


def request_for(path: Path) -> ParseRequest:
    return ParseRequest(document_id=f"large-{path.stem}", tenant="acme", path=path,
                        name=path.name, mime_type="",
                        sha256=hashlib.sha256(path.read_bytes()).hexdigest())


def peak_mb(doc: CanonicalDocument) -> int:
    """The isolated child's peak RSS while it parsed ``doc`` (its watchdog's samples)."""
    step = doc.lineage[-1]
    assert step.stage == "parse-isolation"
    return int(step.details["peak_rss_mb"])


@pytest.fixture(scope="module")
def parser() -> Iterator[IsolatedParser]:
    p = IsolatedParser(ParserRouter, IsolationLimits(timeout_s=600))  # default memory ceiling
    assert p.limits.memory_mb == 4096
    yield p
    p.close()


@pytest.mark.slow
@pytest.mark.skipif(not DA.is_file(), reason="shared corpus not present")
def test_a_619_page_manual_parses_under_the_default_ceiling_with_its_outline(
        parser: IsolatedParser, tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(DA)
    writer = PdfWriter()
    writer.append(reader, pages=(0, 10))
    first_ten = tmp_path / "DA-first-10.pdf"
    with first_ten.open("wb") as fh:
        writer.write(fh)
    small = parser.parse(request_for(first_ten))
    doc = parser.parse(request_for(DA))

    assert small.status is ParseStatus.SUCCESS, small.errors
    assert doc.status is ParseStatus.SUCCESS, doc.errors
    assert doc.parser == "pdfplumber" and doc.page_count == 619
    assert all(e.page is not None and 1 <= e.page <= 619 for e in doc.elements)
    assert len({e.page for e in doc.elements}) >= 600  # text from (nearly) every page
    assert doc.metadata["headings"] == "outline"
    headings = [e for e in doc.elements if e.type is ElementType.HEADING]
    assert len(headings) > 1000  # the outline has 1,372 bookmarks, one per codex entry
    abomination = next(e for e in headings if e.text == "Abomination")
    assert abomination.page == 6
    assert abomination.heading_path[-3:] == ("MAIN GAME", "CREATURES", "Abomination")
    body = next(e for e in doc.elements if e.heading_path[-1:] == ("Abomination",)
                and e.type is ElementType.PARAGRAPH)
    assert "maleficar" in body.text
    # Its page numbers sit 8 % above the bottom edge: furniture, not the start of a paragraph.
    numbers = [e for e in doc.elements if e.type is ElementType.PAGE_FOOTER]
    assert len(numbers) >= 600 and all(e.text.isdigit() for e in numbers)
    assert sum(e.text == str(e.page) for e in numbers) >= 170  # its first book, page for page
    assert not any(e.text.startswith(f"{e.page} ") for e in doc.elements
                   if e.type is ElementType.PARAGRAPH)
    # pdfplumber's table finder finds no table in this manual (checked on every page); the
    # ruled-table path is covered below and in test_parsers.py
    # Memory does not grow with the page count: 619 pages peak within 1 GiB of 10 pages.
    assert peak_mb(doc) - peak_mb(small) < 1024, (peak_mb(small), peak_mb(doc))


@pytest.mark.slow
def test_a_1000_page_text_pdf_parses_in_the_memory_of_a_small_one(
        parser: IsolatedParser, tmp_path: Path) -> None:
    small = parser.parse(request_for(text_pages_pdf(tmp_path / "pages-20.pdf", 20)))
    doc = parser.parse(request_for(text_pages_pdf(tmp_path / "pages-1000.pdf", 1000)))
    assert small.status is ParseStatus.SUCCESS and doc.status is ParseStatus.SUCCESS, doc.errors
    assert doc.page_count == 1000
    chapters = [e for e in doc.elements if e.type is ElementType.HEADING]
    assert len(chapters) == 334 and chapters[-1].text.startswith("Chapter 334")
    assert chapters[-1].page == 1000
    assert all(e.page is not None for e in doc.elements)
    assert peak_mb(doc) - peak_mb(small) < 1024, (peak_mb(small), peak_mb(doc))
