"""Every sample and a few real files through ParserRouter: structure, pages, sheets, failures."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from data_plane.adapters.parsers import (
    DuplicateParserError,
    ParserRegistry,
    ParserRouter,
    UnknownParserError,
    default_registry,
    detect_format,
)
from data_plane.adapters.parsers.formats import DocFormat
from data_plane.adapters.parsers.pdfplumber_parser import PdfPlumberParser
from data_plane.domain.canonical import CanonicalDocument, ElementType, ParseStatus, load_canonical
from data_plane.domain.ports import ParseRequest

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "samples"
REAL = ROOT.parent / "shared/corpus/real"
SAMPLE_FILES = sorted(p for p in SAMPLES.iterdir() if p.is_file())


@pytest.fixture(scope="module")
def router() -> Iterator[ParserRouter]:
    yield ParserRouter()


def request_for(path: Path, name: str | None = None, mime: str = "") -> ParseRequest:
    return ParseRequest(document_id=f"doc-{path.stem}", tenant="acme", path=path,
                        name=name or path.name, mime_type=mime,
                        sha256=hashlib.sha256(path.read_bytes()).hexdigest())


_CACHE: dict[str, CanonicalDocument] = {}


def parse(router: ParserRouter, path: Path) -> CanonicalDocument:
    key = str(path)
    if key not in _CACHE:
        started = time.perf_counter()
        _CACHE[key] = router.parse(request_for(path))
        print(f"{path.name}: {time.perf_counter() - started:.2f}s")
    return _CACHE[key]


def body(doc: CanonicalDocument) -> list[str]:
    return [e.text for e in doc.elements if e.type not in (ElementType.TITLE, ElementType.HEADING)]


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=[p.name for p in SAMPLE_FILES])
def test_every_sample_parses_with_text_lineage_and_round_trips(router: ParserRouter,
                                                                path: Path) -> None:
    doc = parse(router, path)
    assert doc.status is ParseStatus.SUCCESS, doc.errors
    assert doc.text_chars > 100
    assert [e.index for e in doc.elements] == list(range(len(doc.elements)))
    assert doc.lineage and all(s.stage == "parse" for s in doc.lineage)
    # the step of the parser that produced the document (attachments add steps after it)
    assert any(s.component == doc.parser and s.details["status"] == "SUCCESS"
               for s in doc.lineage)
    assert all(s.started_at <= s.finished_at for s in doc.lineage)
    assert load_canonical(doc.to_json()) == doc


def test_pdf_headings_levels_pages_and_table(router: ParserRouter) -> None:
    doc = parse(router, SAMPLES / "annual-safety-report.pdf")
    assert doc.parser == "pdfplumber" and doc.page_count == 4
    assert doc.title == "Annual Warehouse Fire-Safety Inspection Report"
    headings = {e.text: e.level for e in doc.elements if e.type is ElementType.HEADING}
    assert headings["1. Executive Summary"] == 1
    assert headings["2.2 Portable Fire Extinguishers"] == 2
    assert len(headings) == 10
    drill = next(e for e in doc.elements if e.text.startswith("The unannounced evacuation"))
    assert drill.heading_path == ("Annual Warehouse Fire-Safety Inspection Report",
                                  "3. Findings and Corrective Actions", "3.1 Evacuation Drill")
    assert drill.page == 3
    sprinkler = next(e for e in doc.elements if e.text.startswith("The wet-pipe sprinkler"))
    assert sprinkler.page == 2
    assert {e.page for e in doc.elements} == {1, 2, 3, 4}
    table = next(e for e in doc.elements if e.type is ElementType.TABLE)
    assert table.page == 3 and len(table.cells) == 30
    assert table.text.startswith("| Finding | Location | Severity | Owner | Due date |")
    assert all(e.bbox is not None for e in doc.elements)
    footers = [e for e in doc.elements if e.type is ElementType.PAGE_FOOTER]
    assert len(footers) == 8


def test_docx_headings_list_and_table(router: ParserRouter) -> None:
    doc = parse(router, SAMPLES / "supplier-onboarding-policy.docx")
    assert doc.parser == "docling" and doc.title == "Supplier Onboarding Policy"
    screening = next(e for e in doc.elements if "consolidated sanctions lists" in e.text)
    assert screening.heading_path == ("Supplier Onboarding Policy", "Due Diligence",
                                      "Sanctions Screening")
    assert sum(e.type is ElementType.LIST_ITEM for e in doc.elements) == 4
    table = next(e for e in doc.elements if e.type is ElementType.TABLE)
    assert table.heading_path[-1] == "Risk Tiers and Approvals"
    assert table.cells[0].is_header and "Chief procurement officer" in table.text


def test_pptx_slide_numbers_titles_and_table(router: ParserRouter) -> None:
    doc = parse(router, SAMPLES / "product-roadmap.pptx")
    assert doc.page_count == 4
    slides = {e.text: e.page for e in doc.elements if e.type is ElementType.HEADING}
    assert slides == {"Aurora Telemetry Platform Roadmap 2024": 1, "Themes for 2024": 2,
                      "Customer Feedback Highlights": 3, "Milestones by Quarter": 4}
    bullet = next(e for e in doc.elements if e.text.startswith("Anomaly alerts"))
    assert bullet.type is ElementType.LIST_ITEM and bullet.page == 2
    assert bullet.heading_path == ("Themes for 2024",)
    table = next(e for e in doc.elements if e.type is ElementType.TABLE)
    assert table.page == 4 and "Seasonal anomaly alerts" in table.text


def test_xlsx_sheet_names_top_the_heading_path(router: ParserRouter) -> None:
    doc = parse(router, SAMPLES / "quarterly-invoices.xlsx")
    tables = [e for e in doc.elements if e.type is ElementType.TABLE]
    assert [(t.sheet, t.heading_path) for t in tables] == [
        ("Invoices Q1", ("Invoices Q1",)), ("Regional Totals", ("Regional Totals",))]
    assert "Danube River Cruises" in tables[0].text


def test_html_and_markdown_headings(router: ParserRouter) -> None:
    html = parse(router, SAMPLES / "data-retention-notice.html")
    table = next(e for e in html.elements if e.type is ElementType.TABLE)
    assert table.heading_path == ("Customer Data-Retention Notice", "Retention Periods")
    md = parse(router, SAMPLES / "incident-response-runbook.md")
    pager = next(e for e in md.elements if e.text.startswith("Use the pager rotation"))
    assert pager.heading_path == ("Security Incident-Response Runbook", "Containment",
                                  "Paging the On-Call")


def test_eml_subject_is_title_and_headers_are_metadata(router: ParserRouter) -> None:
    doc = parse(router, SAMPLES / "late-shipment-vaccines.eml")
    subject = "Delayed shipment of cold-chain vaccines - PO 4471-CC"
    assert doc.title == subject and doc.metadata["subject"] == subject
    assert doc.elements[0].type is ElementType.TITLE and doc.elements[0].text == subject
    assert doc.metadata["from"].endswith("<marta.lindqvist@polarpharma-logistics.example>")
    assert doc.metadata["date"] == "2024-03-11T14:05:00+00:00"
    assert any("temperature loggers" in t for t in body(doc))


def test_unstructured_email_fallback_gives_the_same_header_shape() -> None:
    from data_plane.adapters.parsers.unstructured_parser import UnstructuredParser

    doc = UnstructuredParser().parse(request_for(SAMPLES / "late-shipment-vaccines.eml"))
    assert doc.status is ParseStatus.SUCCESS
    assert doc.elements[0].type is ElementType.TITLE
    assert doc.title == doc.metadata["subject"]
    assert any("cold chain is intact" in t for t in body(doc))


def test_path_without_extension_is_routed_by_name(router: ParserRouter, tmp_path: Path) -> None:
    source = tmp_path / "source"  # the pipeline's content-addressed copy has no extension
    source.write_bytes((SAMPLES / "supplier-onboarding-policy.docx").read_bytes())
    doc = router.parse(request_for(source, name="policy.docx",
                                   mime="application/octet-stream"))
    assert doc.status is ParseStatus.SUCCESS and doc.title == "Supplier Onboarding Policy"


REAL_OK = ["handbook-1p.docx", "example-10k-1p.html", "stanley-cups.xlsx",
           "fake-power-point-table.pptx", "fake-email-image-embedded.eml",
           "layout-parser-paper-fast.pdf"]


@pytest.mark.parametrize("name", REAL_OK)
def test_real_files_parse_with_text(router: ParserRouter, name: str) -> None:
    if not REAL.is_dir():
        pytest.skip(f"real corpus not found at {REAL}")
    doc = parse(router, REAL / name)
    assert doc.status is ParseStatus.SUCCESS, doc.errors
    assert doc.text_chars > 50
    assert load_canonical(doc.to_json()) == doc


def test_real_pdf_has_title_and_section_heading(router: ParserRouter) -> None:
    if not REAL.is_dir():
        pytest.skip(f"real corpus not found at {REAL}")
    doc = parse(router, REAL / "layout-parser-paper-fast.pdf")
    assert doc.title is not None and doc.title.startswith("LayoutParser")
    assert any(e.text == "1 Introduction" for e in doc.elements if e.type is ElementType.HEADING)
    assert not any("arXiv" in e.text for e in doc.elements)  # rotated margin stamp dropped


def test_encrypted_pdf_fails_clearly(router: ParserRouter) -> None:
    if not REAL.is_dir():
        pytest.skip(f"real corpus not found at {REAL}")
    doc = parse(router, REAL / "password.pdf")
    assert doc.status is ParseStatus.FAILED and doc.elements == ()
    assert doc.errors[0].message.startswith("ENCRYPTED:")
    assert "password" in doc.errors[0].message
    assert [s.component for s in doc.lineage] == ["pdfplumber"]  # no pointless fallback


def test_image_only_pdf_fails_with_no_text_extracted(router: ParserRouter,
                                                     tmp_path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    path = tmp_path / "scan.pdf"
    c = canvas.Canvas(str(path), pagesize=A4, invariant=True)
    c.setFillColorRGB(0.2, 0.4, 0.6)
    c.rect(100, 400, 300, 200, fill=1)
    c.circle(300, 300, 50, fill=1)
    c.showPage()
    c.save()
    doc = router.parse(request_for(path))
    assert doc.status is ParseStatus.FAILED
    assert doc.errors and all(e.message.startswith("NO_TEXT_EXTRACTED") for e in doc.errors)
    # no text layer: OCR instead of a second text parser, and OCR finds no text in shapes
    assert [s.details["role"] for s in doc.lineage] == ["primary", "ocr"]


def test_parser_exception_becomes_failed_and_fallback_runs(tmp_path: Path) -> None:
    class Exploding:
        name = "exploding"

        def parse(self, request: ParseRequest) -> CanonicalDocument:
            raise RuntimeError("boom")

    registry = ParserRegistry()
    registry.register("pdfplumber", Exploding)
    registry.register("unstructured", PdfPlumberParser)  # any working parser as the fallback
    doc = ParserRouter(registry=registry).parse(request_for(SAMPLES / "annual-safety-report.pdf"))
    assert doc.status is ParseStatus.SUCCESS and doc.parser == "pdfplumber"
    primary = doc.lineage[0]
    assert primary.component == "pdfplumber" and primary.details["status"] == "FAILED"
    assert primary.details["errors"] == ["PARSE_FAILED: RuntimeError: boom"]

    only = ParserRegistry()
    only.register("docling", Exploding)
    failed = ParserRouter(registry=only).parse(
        request_for(SAMPLES / "supplier-onboarding-policy.docx"))
    assert failed.status is ParseStatus.FAILED
    assert failed.errors[0].message == "PARSE_FAILED: docling: RuntimeError: boom"
    assert [a.parser for a in failed.attempts] == ["docling", "unstructured"]


def docx_with_xml_comment(path: Path) -> Path:
    """A real DOCX (python-docx) whose document.xml carries an XML comment and a processing
    instruction inside <w:body>, as some real files do."""
    import io
    import zipfile

    import docx

    document = docx.Document()
    document.add_heading("Cold-chain audit", 1)
    document.add_paragraph("Loggers were read on arrival; every reading stayed below 8 °C.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Logger"
    table.cell(1, 0).text = "L-17"  # the rest of the row left empty, as in the real files
    buf = io.BytesIO()
    document.save(buf)
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "word/document.xml":
                data = data.replace(b"<w:body>", b"<w:body><!-- exported --><?mso x?>", 1)
            dst.writestr(info, data)
    return path


def test_a_docling_failure_falls_back_to_unstructured(tmp_path: Path) -> None:
    from data_plane.adapters.parsers.docling_parser import DoclingParser
    from data_plane.adapters.parsers.unstructured_parser import UnstructuredParser

    path = docx_with_xml_comment(tmp_path / "audit.docx")
    registry = ParserRegistry()
    registry.register("docling", lambda: DoclingParser(sanitize_docx=False))
    registry.register("unstructured", UnstructuredParser)
    doc = ParserRouter(registry=registry).parse(request_for(path))
    assert doc.status is ParseStatus.SUCCESS and doc.parser == "unstructured"
    first, second = doc.attempts
    assert (first.parser, first.status) == ("docling", ParseStatus.FAILED)
    assert "Invalid input tag of type" in first.errors[0].message  # docling's own bug
    assert (second.parser, second.role) == ("unstructured", "fallback")
    assert any("below 8 °C" in t for t in body(doc))
    assert load_canonical(doc.to_json()) == doc


def test_docling_reads_the_commented_docx_from_a_sanitized_copy(router: ParserRouter,
                                                                tmp_path: Path) -> None:
    doc = router.parse(request_for(docx_with_xml_comment(tmp_path / "audit.docx")))
    assert doc.status is ParseStatus.SUCCESS and doc.parser == "docling"
    assert "sanitized" in doc.metadata
    assert any(e.type is ElementType.TABLE and "L-17" in e.text for e in doc.elements)


REAL_FORMATS = [("real", "fake.odt", "application/vnd.oasis.opendocument.text"),
                ("docling", "odf_table_with_title_01.ods",
                 "application/vnd.oasis.opendocument.spreadsheet"),
                ("docling", "odf_presentation_01.odp",
                 "application/vnd.oasis.opendocument.presentation"),
                ("real", "winter-sports.epub", "application/epub+zip"),
                ("real", "fake-email-attachment.msg", "application/vnd.ms-outlook"),
                ("docling", "msg_with_attachment.msg", "application/vnd.ms-outlook"),
                ("docling", "legacy_sample.doc", "application/msword")]


@pytest.mark.parametrize(("corpus", "name", "mime"), REAL_FORMATS,
                         ids=[n for _, n, _ in REAL_FORMATS])
def test_intake_accepts_the_new_formats_by_their_bytes(corpus: str, name: str,
                                                       mime: str) -> None:
    from data_plane.adapters.intake_sniff import sniff_file
    from data_plane.domain.intake_content import check_type, resolve_type
    from frostbyte_common.tenant_config import DEFAULT_MIME_ALLOWLIST

    path = REAL.parent / corpus / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    sniffed = sniff_file(path, max_entries=10_000)
    members = ({e.name for e in sniffed.zip.entries}
               if sniffed.zip and sniffed.zip.entries is not None else None)
    real = resolve_type(sniffed.magic_mime, name, members)
    assert real == mime
    assert check_type(real=real, name=name, declared_type=None,
                      allowlist=DEFAULT_MIME_ALLOWLIST).reason is None
    if name.endswith((".odt", ".ods", ".odp", ".epub")):
        assert sniffed.zip is not None and sniffed.zip.entries  # the bomb rules see it


def test_unsupported_format_fails(router: ParserRouter, tmp_path: Path) -> None:
    path = tmp_path / "archive.zip"
    path.write_bytes(b"PK\x03\x04")
    doc = router.parse(request_for(path, mime="application/zip"))
    assert doc.status is ParseStatus.FAILED
    assert doc.errors[0].message.startswith("UNSUPPORTED_FORMAT")


def test_registry_refuses_duplicates_and_lists_known_names() -> None:
    registry = ParserRegistry()
    registry.register("pdfplumber", PdfPlumberParser)
    with pytest.raises(DuplicateParserError):
        registry.register("pdfplumber", PdfPlumberParser)
    with pytest.raises(UnknownParserError, match="known parsers: pdfplumber"):
        registry.get("nope")


@pytest.mark.parametrize(("name", "mime", "expected"), [
    ("a.PDF", "", DocFormat.PDF),
    ("source", "application/pdf", DocFormat.PDF),
    ("mail", "message/rfc822; charset=utf-8", DocFormat.EML),
    ("notes.markdown", "", DocFormat.MARKDOWN),
    ("x.bin", "application/octet-stream", DocFormat.UNKNOWN),
])
def test_detect_format(name: str, mime: str, expected: DocFormat) -> None:
    assert detect_format(name, mime) is expected


_HEADS = {ElementType.TITLE, ElementType.HEADING}
_BODY = {ElementType.PARAGRAPH, ElementType.LIST_ITEM}


@pytest.mark.parametrize(("name", "needs"), [
    ("annual-safety-report.pdf", ("heading", "body", "table")),
    ("supplier-onboarding-policy.docx", ("heading", "body", "table")),
    ("product-roadmap.pptx", ("heading", "body", "table")),
    ("quarterly-invoices.xlsx", ("heading", "table")),
    ("data-retention-notice.html", ("heading", "body", "table")),
    ("incident-response-runbook.md", ("heading", "body", "table")),
    ("fleet-maintenance-log.csv", ("table",)),
    ("infusion-pump-recall.eml", ("heading", "body")),  # its table is in a child document
    ("scanned-fume-hood-certificate.pdf", ("heading", "body")),
])
def test_every_sample_format_yields_its_structure(router: ParserRouter, name: str,
                                                   needs: tuple[str, ...]) -> None:
    """The issue's matrix: headings, paragraphs and tables as tables (cell grids with a
    Markdown rendering), per sample format (an e-mail's attachments are child documents of
    their own, so its table is not the e-mail's)."""
    doc = parse(router, SAMPLES / name)
    types = {e.type for e in doc.elements}
    if "heading" in needs:
        assert types & _HEADS
    if "body" in needs:
        assert types & _BODY
    tables = [e for e in doc.elements if e.type is ElementType.TABLE]
    if "table" in needs:
        assert tables
    for t in tables:
        assert t.cells and t.text.startswith("| ") and "\n|---" in t.text
        assert any(c.is_header for c in t.cells) or name.endswith(".csv")


def test_code_pictures_captions_and_footnotes_are_typed(router: ParserRouter,
                                                        tmp_path: Path) -> None:
    md = tmp_path / "deploy.md"
    md.write_text("# Deploy\n\nRun this:\n\n```bash\nmake deploy ENV=prod\n```\n\n"
                  "![Architecture diagram](diagram.png)\n\nSee the note.[^1]\n\n"
                  "[^1]: The note is a footnote.\n", encoding="utf-8")
    html = tmp_path / "figures.html"
    html.write_text("<html><body><h1>Figures</h1><figure><img src='a.png' alt='chart'>"
                    "<figcaption>Figure 1: Monthly incidents</figcaption></figure>"
                    "<pre><code>print(1)</code></pre></body></html>", encoding="utf-8")
    got = {(e.type, e.text) for p in (md, html) for e in router.parse(request_for(p)).elements}
    assert (ElementType.CODE, "make deploy ENV=prod") in got
    assert (ElementType.FOOTNOTE, "[^1]: The note is a footnote.") in got
    assert (ElementType.PICTURE, "") in got  # a placeholder where the picture was
    assert (ElementType.CAPTION, "Figure 1: Monthly incidents") in got
    assert (ElementType.CODE, "print(1)") in got


def test_the_unstructured_fallback_reads_an_extensionless_copy(tmp_path: Path) -> None:
    from data_plane.adapters.parsers.unstructured_parser import UnstructuredParser

    odt = REAL / "fake.odt"
    if not odt.is_file():
        pytest.skip(f"{odt} not present")
    source = tmp_path / "source"  # as the pipeline stores it: no extension
    source.write_bytes(odt.read_bytes())
    doc = UnstructuredParser().parse(request_for(source, name="fake.odt"))
    assert doc.status is ParseStatus.SUCCESS and doc.text_chars > 100
    assert any(e.type is ElementType.TABLE for e in doc.elements)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source"]  # no link left behind


FALLBACK_FILES = [SAMPLES / "supplier-onboarding-policy.docx", SAMPLES / "product-roadmap.pptx",
                  SAMPLES / "quarterly-invoices.xlsx", SAMPLES / "fleet-maintenance-log.csv",
                  SAMPLES / "data-retention-notice.html", SAMPLES / "incident-response-runbook.md",
                  SAMPLES / "late-shipment-vaccines.eml", REAL / "fake-email-attachment.msg",
                  REAL / "fake.odt", REAL.parent / "docling/epub_purvis_poetry.epub",
                  SAMPLES / "annual-safety-report.pdf"]


@pytest.mark.parametrize("path", FALLBACK_FILES, ids=[p.name for p in FALLBACK_FILES])
def test_every_fallback_of_a_chain_reads_its_format(path: Path) -> None:
    """Each route's parsers after the first, run on their own as the router would after a
    failure (the first parser replaced by one that raises): text, in the route's order."""
    from data_plane.adapters.parsers.routing import ROUTES

    if not path.is_file():
        pytest.skip(f"{path} not present")

    class Exploding:
        name = "exploding"

        def parse(self, request: ParseRequest) -> CanonicalDocument:
            raise RuntimeError("boom")

    route = ROUTES[detect_format(path.name)]
    first, *rest = route.parsers
    assert rest, f"{path.suffix} has no fallback"
    registry = default_registry()
    only = ParserRegistry()
    only.register(first, Exploding)
    only.register(rest[0], lambda: registry.get(rest[0]))
    doc = ParserRouter(registry=only).parse(request_for(path))
    assert doc.status is not ParseStatus.FAILED, doc.errors
    assert doc.parser == rest[0] and doc.text_chars > 100
    assert [a.parser for a in doc.attempts][:2] == [first, rest[0]]
    if path.suffix == ".pdf":  # docling's native pipeline: lines with their pages
        assert doc.page_count == 4 and all(e.page for e in doc.elements)
