"""OCR through the router with real Tesseract: images, image-only PDFs, scanned pages inside a
text PDF, tenant languages, and both engines (tesserocr and the CLI)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from data_plane.adapters.ocr import TesseractOcr
from data_plane.adapters.parsers import ParserRouter
from data_plane.domain.canonical import CanonicalDocument, ElementType, ParseStatus, load_canonical
from data_plane.domain.ports import ParseRequest

ROOT = Path(__file__).resolve().parents[3]
SCANNED = ROOT / "samples" / "scanned-fume-hood-certificate.pdf"
REAL_PAGE = ROOT.parent / "shared/corpus/real/DA-1p.png"
FONT = Path(__import__("reportlab").__file__).parent / "fonts"


def page_image(lines: list[str], heading: str | None = None) -> Image.Image:
    img = Image.new("L", (1240, 1754), 255)  # A4 at 150 dpi
    draw = ImageDraw.Draw(img)
    y = 120
    if heading:
        draw.text((120, y), heading, fill=0, font=ImageFont.truetype(str(FONT / "VeraBd.ttf"), 44))
        y += 90
    body = ImageFont.truetype(str(FONT / "Vera.ttf"), 24)
    for line in lines:
        draw.text((120, y), line, fill=0, font=body)
        y += 36
    return img


def parse(path: Path, languages: tuple[str, ...] = ("eng",)) -> CanonicalDocument:
    return ParserRouter().parse(ParseRequest(
        document_id=f"doc-{path.stem}", tenant="acme", path=path, name=path.name, mime_type="",
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(), ocr_languages=languages))


def texts(doc: CanonicalDocument) -> str:
    return " ".join(e.text for e in doc.elements)


def test_the_scanned_sample_is_read_page_by_page_with_headings() -> None:
    doc = parse(SCANNED)
    assert doc.status is ParseStatus.SUCCESS and doc.parser == "ocr"
    assert doc.page_count == 2 and doc.title == "Fume Hood Airflow Certificate"
    assert "0.52 metres per second" in texts(doc)
    velocity = next(e for e in doc.elements if "Smoke visualisation" in e.text)
    assert velocity.page == 1
    assert velocity.heading_path == ("Fume Hood Airflow Certificate",
                                     "Face Velocity Measurements")
    recert = next(e for e in doc.elements if e.text.startswith("Both hoods pass"))
    assert recert.page == 2 and recert.bbox is not None
    assert 0 < recert.bbox.left < recert.bbox.right <= 595  # PDF points, like pdfplumber
    assert float(recert.attributes["confidence"]) > 80
    assert [s.component for s in doc.lineage] == ["pdfplumber", "ocr"]  # no text layer first
    assert load_canonical(doc.to_json()) == doc


@pytest.mark.skipif(not REAL_PAGE.exists(), reason="shared corpus not present")
def test_a_real_page_image_is_read() -> None:
    doc = parse(REAL_PAGE)
    assert doc.status is ParseStatus.SUCCESS and doc.parser == "ocr"
    assert "Abomination" in texts(doc) and "demon" in texts(doc)
    assert {e.page for e in doc.elements} == {1}


def test_every_frame_of_a_tiff_is_a_page_and_jpeg_is_read(tmp_path: Path) -> None:
    first = page_image(["The boiler pressure valve was replaced in May."], "Boiler Log")
    second = page_image(["The chimney flue was swept and inspected in June."])
    tiff = tmp_path / "boiler-log.tiff"
    first.save(tiff, save_all=True, append_images=[second])
    doc = parse(tiff)
    assert doc.page_count == 2
    by_page = {e.page: e.text for e in doc.elements if e.type is ElementType.PARAGRAPH}
    assert "pressure valve" in by_page[1] and "chimney flue" in by_page[2]
    jpeg = tmp_path / "note.jpg"
    second.save(jpeg, quality=90)
    assert "chimney flue" in texts(parse(jpeg))


def test_a_scanned_page_inside_a_text_pdf_is_ocrd_in_page_order(tmp_path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=True)
    c.setFont("Helvetica-Bold", 18)
    c.drawString(72, 760, "Loading Dock Procedures")
    c.setFont("Helvetica", 10)
    c.drawString(72, 730, "Trucks reverse into bay 3 only with a banksman present at all times.")
    c.showPage()
    c.drawImage(ImageReader(page_image(["The signed delivery note was scanned and attached.",
                                        "Forklift keys are returned to the gatehouse."])),
                0, 0, width=A4[0], height=A4[1])
    c.showPage()
    c.setFont("Helvetica", 10)
    c.drawString(72, 760, "Page three closes the procedure with the shift handover notes.")
    c.showPage()
    c.save()
    pdf = tmp_path / "dock.pdf"
    pdf.write_bytes(buf.getvalue())
    doc = parse(pdf)
    assert doc.status is ParseStatus.SUCCESS and doc.parser == "pdfplumber"
    assert doc.metadata["ocr_pages"] == "2"
    pages = [e.page for e in doc.elements]
    assert pages == sorted(pages) and set(pages) == {1, 2, 3}
    scanned = [e for e in doc.elements if e.page == 2]
    assert "Forklift keys" in " ".join(e.text for e in scanned)
    assert all(e.attributes["source"] == "ocr" for e in scanned)
    assert scanned[0].heading_path == ("Loading Dock Procedures",)
    assert [e.index for e in doc.elements] == list(range(len(doc.elements)))
    assert doc.lineage[-1].component == "ocr" and doc.lineage[-1].details["pages"] == [2]


def test_an_ocr_language_the_tenant_wants_but_is_not_installed_fails_with_the_reason(
        tmp_path: Path) -> None:
    png = tmp_path / "memo.png"
    page_image(["A short memo."]).save(png)
    doc = parse(png, languages=("eng", "xyz"))
    assert doc.status is ParseStatus.FAILED
    assert "OCR language(s) xyz not installed; installed: eng" in doc.errors[0].message


def test_a_blank_image_fails_no_text_extracted(tmp_path: Path) -> None:
    png = tmp_path / "blank.png"
    Image.new("L", (800, 1000), 255).save(png)
    doc = parse(png)
    assert doc.status is ParseStatus.FAILED
    assert doc.errors[-1].message.startswith("NO_TEXT_EXTRACTED")


def test_the_cli_engine_reads_what_tesserocr_reads() -> None:
    image = page_image(["Quarterly ventilation audit of the clean room."], "Audit")
    cli = TesseractOcr(engine="cli").recognize(image)
    assert "ventilation audit" in cli.text
    pytest.importorskip("tesserocr")
    assert TesseractOcr(engine="tesserocr").recognize(image).text == cli.text
