"""The PDF reader's structure on PDFs written here: headings from the outline (bookmarks) when
the PDF has one, ruled tables found only where the page draws a grid, a page on every element,
and an encrypted PDF refused with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_plane.adapters.parsers.pdfplumber_parser import PdfPlumberParser
from data_plane.domain.canonical import CanonicalDocument, ElementType, ParseStatus
from data_plane.domain.ports import ParseRequest

REAL = Path(__file__).resolve().parents[4] / "shared/corpus"


def parse(path: Path) -> CanonicalDocument:
    return PdfPlumberParser().parse(ParseRequest(
        document_id=path.stem, tenant="acme", path=path, name=path.name, mime_type="",
        sha256=""))


def manual(path: Path, *, bookmarks: bool) -> Path:
    """Three pages whose section titles look exactly like body text (same font and size):
    only the outline can tell that they are headings."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4, invariant=True)
    sections = [(0, "Pumps"), (1, "Priming the pump"), (1, "Seals and their replacement"),
                (0, "Valves")]
    for n, (level, title) in enumerate(sections):
        c.setFont("Helvetica", 10)
        y = 760
        c.drawString(72, y, title)
        if bookmarks:
            c.bookmarkPage(f"s{n}", fit="XYZ", top=y + 10)
            c.addOutlineEntry(title, f"s{n}", level=level)
        for line in range(12):
            y -= 14
            c.drawString(72, y, f"Body text of {title.lower()}, line {line + 1} of twelve, "
                                "describing the procedure.")
        c.showPage()
    c.save()
    return path


def test_headings_come_from_the_outline_with_levels_from_its_depth(tmp_path: Path) -> None:
    doc = parse(manual(tmp_path / "manual.pdf", bookmarks=True))
    assert doc.status is ParseStatus.SUCCESS and doc.metadata["headings"] == "outline"
    heads = [(e.text, e.level, e.page) for e in doc.elements if e.type is ElementType.HEADING]
    assert heads == [("Pumps", 1, 1), ("Priming the pump", 2, 2),
                     ("Seals and their replacement", 2, 3), ("Valves", 1, 4)]
    body = next(e for e in doc.elements if e.text.startswith("Body text of seals"))
    assert body.heading_path == ("Pumps", "Seals and their replacement")
    assert all(e.page is not None and e.bbox is not None for e in doc.elements)


def test_without_an_outline_body_sized_lines_are_not_headings(tmp_path: Path) -> None:
    doc = parse(manual(tmp_path / "plain.pdf", bookmarks=False))
    assert doc.metadata["headings"] == "font"
    assert not any(e.type is ElementType.HEADING for e in doc.elements)
    assert any(e.text.startswith("Pumps") for e in doc.elements)


def test_a_ruled_table_is_found_and_underlined_links_are_not_tables(tmp_path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.pdfgen import canvas
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Table, TableStyle

    path = tmp_path / "ruled.pdf"
    styles = getSampleStyleSheet()

    def underlines(c: canvas.Canvas, _doc: object) -> None:
        if c.getPageNumber() == 1:  # six underlined links: horizontal rules only
            for i in range(6):
                c.line(72, 500 - i * 20, 200, 500 - i * 20)

    rows = [["Valve", "Pressure", "Due"], ["V-101", "7.2 bar", "2025-03"],
            ["V-102", "6.9 bar", "2025-04"]]
    table = Table(rows)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, "black")]))
    SimpleDocTemplate(str(path), pagesize=A4, invariant=True).build(
        [Paragraph("Links to the valve records follow.", styles["Normal"]), PageBreak(),
         Paragraph("Valve inspection schedule", styles["Heading1"]), table],
        onFirstPage=underlines, onLaterPages=underlines)
    doc = parse(path)
    tables = [e for e in doc.elements if e.type is ElementType.TABLE]
    assert len(tables) == 1 and tables[0].page == 2
    assert tables[0].text.startswith("| Valve | Pressure | Due |")
    assert {c.text for c in tables[0].cells} >= {"V-101", "7.2 bar", "2025-04"}
    assert not any("V-101" in e.text for e in doc.elements if e.type is not ElementType.TABLE)
    assert all(e.page is not None for e in doc.elements)


def test_an_encrypted_pdf_fails_with_a_reason(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    path = tmp_path / "locked.pdf"
    c = canvas.Canvas(str(path), encrypt="secret")
    c.drawString(72, 720, "Confidential")
    c.showPage()
    c.save()
    doc = parse(path)
    assert doc.status is ParseStatus.FAILED
    assert doc.errors[0].message.startswith("ENCRYPTED:")


@pytest.mark.skipif(not (REAL / "docling/redp5110_sampled.pdf").is_file(),
                    reason="shared corpus not present")
def test_ruled_tables_of_a_real_redbook_are_kept() -> None:
    doc = parse(REAL / "docling/redp5110_sampled.pdf")
    assert doc.status is ParseStatus.SUCCESS and doc.page_count == 18
    tables = [e for e in doc.elements if e.type is ElementType.TABLE]
    assert len(tables) == 6 and all(t.cells and t.page for t in tables)
