"""Generate the sample documents in ``samples/`` (one distinct, searchable topic per file).

Deterministic: fixed dates, identifiers and MIME boundaries, and every ZIP-based Office file is
rewritten with fixed member timestamps, so re-running produces the same bytes.

Usage: ``.venv/bin/python scripts/make_samples.py [--out samples]``
"""

from __future__ import annotations

import argparse
import io
import re
import zipfile
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

FIXED = datetime(2024, 3, 14, 9, 30, 0)
FIXED_ZIP_TIME = (2024, 3, 14, 9, 30, 0)

TOPICS: dict[str, str] = {
    "annual-safety-report.pdf": "Warehouse fire-safety inspection report (sprinklers, "
    "extinguishers, evacuation drills); 4 pages, two heading levels, a findings table",
    "supplier-onboarding-policy.docx": "Supplier onboarding policy (due diligence, sanctions "
    "screening, bank-detail verification); Heading 1/2, lists, a table",
    "data-retention-notice.html": "Customer data-retention notice (retention periods, deletion "
    "requests, backups); h1/h2, paragraphs, a table",
    "incident-response-runbook.md": "Security incident-response runbook (triage, containment, "
    "paging the on-call, post-mortem); headings, lists, a table",
    "quarterly-invoices.xlsx": "Quarterly invoices by region (sheets 'Invoices Q1' and "
    "'Regional Totals'), header rows",
    "product-roadmap.pptx": "Product-roadmap deck for the Aurora telemetry platform; 4 slides, "
    "titles, bullets, a milestone table",
    "late-shipment-vaccines.eml": "Vendor e-mail about a late shipment of cold-chain vaccines "
    "(temperature loggers, revised delivery date); plain text + HTML alternative",
    "fleet-maintenance-log.csv": "Fleet vehicle maintenance log (brake pads, tyre rotation, "
    "odometer readings)",
    "parking-permit-faq.txt": "Employee parking-permit FAQ (permit zones, electric-vehicle "
    "charging bays)",
    "infusion-pump-recall.eml": "Manufacturer e-mail recalling infusion-pump battery packs; "
    "attachments: the affected serial numbers (CSV) and the battery replacement procedure "
    "(Markdown)",
    "scanned-fume-hood-certificate.pdf": "Scanned laboratory fume-hood airflow certificate "
    "(face velocity, sash height, recertification); 2 pages of page images, no text layer",
}


# --------------------------------------------------------------------------------------- PDF
def make_pdf(path: Path) -> None:
    """A 4-page inspection report: title, H1/H2 headings, paragraphs, a ruled table."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.platypus import (
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    title = ParagraphStyle("T", fontName="Helvetica-Bold", fontSize=22, leading=28, spaceAfter=14)
    h1 = ParagraphStyle("H1", fontName="Helvetica-Bold", fontSize=16, leading=20, spaceBefore=12,
                        spaceAfter=8)
    h2 = ParagraphStyle("H2", fontName="Helvetica-Bold", fontSize=12.5, leading=16,
                        spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("B", fontName="Helvetica", fontSize=10, leading=13.5, spaceAfter=6)

    def footer(c: Any, doc: Any) -> None:
        c.saveState()
        c.setFont("Helvetica", 8)
        c.drawString(2 * cm, 1.2 * cm, "Northgate Logistics - Fire-Safety Inspection 2023")
        c.drawRightString(A4[0] - 2 * cm, 1.2 * cm, f"Page {doc.page}")
        c.restoreState()

    def p(text: str) -> Any:
        return Paragraph(text, body)

    story: list[object] = [
        Paragraph("Annual Warehouse Fire-Safety Inspection Report", title),
        p("Site: Northgate Logistics distribution warehouse, Building C, Dock Road 14. "
          "Inspection date: 12 March 2024. Lead inspector: Harriet Okonkwo, certified fire "
          "protection engineer."),
        Paragraph("1. Executive Summary", h1),
        p("The annual fire-safety inspection of the Northgate warehouse found the site broadly "
          "compliant with the fire code. Two findings require corrective action within thirty "
          "days: a blocked emergency exit beside loading dock 7 and three portable fire "
          "extinguishers whose pressure gauges read below the green band."),
        p("Sprinkler coverage over the high-bay racking is adequate, the fire alarm panel "
          "reported no faults, and the evacuation drill was completed in four minutes and ten "
          "seconds, within the five-minute target set by the site safety plan."),
        Paragraph("1.1 Scope of the Inspection", h2),
        p("The inspection covered the sprinkler system, fire extinguishers, emergency lighting, "
          "exit routes, the fire alarm panel, storage of flammable goods and the training "
          "records of the fire wardens. Office areas on the mezzanine were excluded and will be "
          "inspected separately in June."),
        Paragraph("1.2 Method", h2),
        p("Each zone was walked with the site facilities manager. Equipment tags were checked "
          "against the maintenance register, and the sprinkler riser valves were test-operated "
          "under supervision of the sprinkler contractor."),
        PageBreak(),
        Paragraph("2. Sprinkler and Suppression Systems", h1),
        p("The wet-pipe sprinkler system serves all four storage zones. Riser pressure measured "
          "7.2 bar, within the design range. In-rack sprinklers were present at every second "
          "beam level of the high-bay racking, as required for palletised plastics."),
        Paragraph("2.1 Sprinkler Heads and Clearance", h2),
        p("A clearance of at least 45 centimetres below sprinkler deflectors was maintained "
          "everywhere except aisle 12, where shrink-wrapped pallets were stacked to within 30 "
          "centimetres. The stack was lowered during the inspection."),
        Paragraph("2.2 Portable Fire Extinguishers", h2),
        p("Forty-two extinguishers were inspected. Thirty-nine were charged, tagged and mounted "
          "at the correct height. Three carbon-dioxide units near the battery charging bay "
          "showed low pressure and were withdrawn for recharging."),
        PageBreak(),
        Paragraph("3. Findings and Corrective Actions", h1),
        p("The table below lists every finding with its severity, the responsible owner and "
          "the agreed due date for the corrective action."),
    ]
    rows = [
        ["Finding", "Location", "Severity", "Owner", "Due date"],
        ["Blocked emergency exit", "Dock 7", "High", "Site manager", "2024-03-19"],
        ["Low-pressure CO2 extinguishers", "Charging bay", "Medium", "Facilities", "2024-03-29"],
        ["Sprinkler clearance below 45 cm", "Aisle 12", "Medium", "Warehouse lead", "2024-03-15"],
        ["Exit sign lamp failed", "Mezzanine stair", "Low", "Facilities", "2024-04-12"],
        ["Warden training overdue", "Night shift", "Low", "HR training", "2024-04-30"],
    ]
    table = Table(rows, colWidths=[5.2 * cm, 3.2 * cm, 2.2 * cm, 3.2 * cm, 2.6 * cm])
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.6, colors.black),
        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
        ("FONTNAME", (0, 1), (-1, -1), "Helvetica"),
        ("FONTSIZE", (0, 0), (-1, -1), 9),
        ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
    ]))
    story += [
        table,
        Spacer(1, 12),
        Paragraph("3.1 Evacuation Drill", h2),
        p("The unannounced evacuation drill on the day shift moved 87 staff to the assembly "
          "point in the north car park in four minutes and ten seconds. Two visitors were not "
          "on the signed-in list; the visitor register procedure was reissued to reception."),
        PageBreak(),
        Paragraph("4. Recommendations", h1),
        p("Replace the manual visitor register with badge-based sign-in so that the roll call "
          "at the assembly point is complete. Install floor markings in front of every "
          "emergency exit to stop pallets being parked there."),
        Paragraph("4.1 Next Inspection", h2),
        p("The next full fire-safety inspection is scheduled for March 2025. A follow-up visit "
          "on 2 April 2024 will confirm that the high-severity finding has been closed."),
    ]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, invariant=True,
                            title="Annual Warehouse Fire-Safety Inspection Report",
                            author="Northgate Logistics", leftMargin=2 * cm, rightMargin=2 * cm,
                            topMargin=2 * cm, bottomMargin=2 * cm)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    path.write_bytes(buf.getvalue())


# -------------------------------------------------------------------------------------- DOCX
def make_docx(path: Path) -> None:
    """Supplier onboarding policy with Heading 1/2, a bullet list and a table."""
    import docx

    d = docx.Document()
    cp = d.core_properties
    cp.author = "Procurement Office"
    cp.title = "Supplier Onboarding Policy"
    cp.created = cp.modified = cp.last_printed = FIXED
    cp.revision = 1
    d.add_heading("Supplier Onboarding Policy", level=0)
    d.add_heading("Purpose", level=1)
    d.add_paragraph(
        "This policy sets out how new suppliers are onboarded before the first purchase order "
        "is issued. It protects the company against fraud, sanctions breaches and suppliers "
        "who cannot meet our quality and ethical standards.")
    d.add_heading("Due Diligence", level=1)
    d.add_paragraph(
        "Every supplier completes a due-diligence questionnaire and provides proof of "
        "registration. Procurement reviews the answers and assigns a risk tier.")
    d.add_heading("Sanctions Screening", level=2)
    d.add_paragraph(
        "The supplier, its directors and its ultimate beneficial owners are screened against "
        "the consolidated sanctions lists before approval and again every twelve months.")
    d.add_heading("Bank-Detail Verification", level=2)
    d.add_paragraph(
        "Bank details are verified by a call-back to a phone number obtained independently "
        "of the supplier's e-mail. Changes to bank details follow the same call-back rule.")
    for item in ("Certificate of incorporation", "Tax registration certificate",
                 "Signed supplier code of conduct", "Insurance certificate (liability)"):
        d.add_paragraph(item, style="List Bullet")
    d.add_heading("Risk Tiers and Approvals", level=1)
    d.add_paragraph("Approvals required per supplier risk tier:")
    rows = [("Risk tier", "Annual spend", "Approver", "Review cycle"),
            ("Low", "< 50,000 EUR", "Category buyer", "36 months"),
            ("Medium", "50,000 - 500,000 EUR", "Procurement manager", "24 months"),
            ("High", "> 500,000 EUR", "Chief procurement officer", "12 months")]
    t = d.add_table(rows=len(rows), cols=4)
    t.style = "Table Grid"
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            t.cell(r, c).text = text
    d.add_heading("Exceptions", level=1)
    d.add_paragraph(
        "Emergency onboarding without full due diligence needs written approval from the "
        "chief procurement officer and expires after ninety days.")
    buf = io.BytesIO()
    d.save(buf)
    path.write_bytes(_normalize_zip(buf.getvalue()))


# -------------------------------------------------------------------------------------- HTML
HTML = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Customer Data-Retention Notice</title></head>
<body>
<h1>Customer Data-Retention Notice</h1>
<p>This notice explains how long Brightwater Utilities keeps customer records, why we keep
them, and how you can ask us to delete them earlier.</p>
<h2>Retention Periods</h2>
<p>We keep each category of personal data only as long as the law or the contract requires.
The retention schedule below applies to all customer accounts.</p>
<table>
<thead><tr><th>Record type</th><th>Retention period</th><th>Legal basis</th></tr></thead>
<tbody>
<tr><td>Billing records</td><td>7 years</td><td>Tax law</td></tr>
<tr><td>Meter readings</td><td>3 years</td><td>Contract</td></tr>
<tr><td>Call recordings</td><td>90 days</td><td>Legitimate interest</td></tr>
<tr><td>Marketing preferences</td><td>Until withdrawn</td><td>Consent</td></tr>
</tbody>
</table>
<h2>Deletion Requests</h2>
<p>You may ask for erasure of your personal data at any time by writing to the privacy
office. We answer deletion requests within one month and confirm which records we must keep
for legal reasons.</p>
<h2>Backups and Archives</h2>
<p>Encrypted backups are overwritten on a rolling thirty-five day cycle, so deleted records
disappear from backups within five weeks.</p>
</body>
</html>
"""


# ---------------------------------------------------------------------------------- Markdown
MARKDOWN = """# Security Incident-Response Runbook

This runbook tells the on-call engineer what to do in the first hour of a security incident,
from the first alert to the post-mortem.

## Triage

Confirm the alert is real before paging anyone else. Check the SIEM dashboard and the
intrusion-detection console for correlated events.

- Record the alert id and the time you acknowledged it.
- Classify severity as SEV1, SEV2 or SEV3 using the table below.
- Open an incident channel named after the alert id.

## Severity Levels

| Severity | Example | Page within |
|---|---|---|
| SEV1 | Ransomware on a production host | 5 minutes |
| SEV2 | Leaked API credential | 30 minutes |
| SEV3 | Phishing e-mail reported by staff | Next business day |

## Containment

Isolate affected hosts from the network but do not power them off: memory evidence is lost
on shutdown. Rotate any credential that may have been exposed.

### Paging the On-Call

Use the pager rotation for the security team. If the primary does not acknowledge within ten
minutes, escalate to the secondary and then to the head of security.

## Post-Mortem

Write a blameless post-mortem within five working days, with a timeline, root cause and
follow-up actions that each have an owner.
"""


# -------------------------------------------------------------------------------------- XLSX
def make_xlsx(path: Path) -> None:
    """Quarterly invoices by region: two named sheets with header rows."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.properties.creator = "Finance"
    wb.properties.created = FIXED
    wb.properties.modified = FIXED
    ws = wb.active
    assert ws is not None
    ws.title = "Invoices Q1"
    ws.append(["Invoice", "Region", "Customer", "Date", "Amount EUR"])
    data = [
        ("INV-2024-0101", "North", "Fjordline Shipping", "2024-01-09", 12450.00),
        ("INV-2024-0102", "South", "Solano Ceramics", "2024-01-17", 3820.50),
        ("INV-2024-0103", "East", "Vistula Timber", "2024-02-02", 8975.25),
        ("INV-2024-0104", "West", "Atlantic Pearl Hotels", "2024-02-21", 15230.00),
        ("INV-2024-0105", "North", "Lapland Outfitters", "2024-03-05", 4410.75),
        ("INV-2024-0106", "East", "Danube River Cruises", "2024-03-28", 21060.00),
    ]
    for row in data:
        ws.append(list(row))
    ws2 = wb.create_sheet("Regional Totals")
    ws2.append(["Region", "Invoices", "Total EUR"])
    for region in ("North", "South", "East", "West"):
        rows = [r for r in data if r[1] == region]
        ws2.append([region, len(rows), round(sum(r[4] for r in rows), 2)])
    buf = io.BytesIO()
    wb.save(buf)
    raw = _normalize_zip(buf.getvalue())
    path.write_bytes(raw)


# -------------------------------------------------------------------------------------- PPTX
def make_pptx(path: Path) -> None:
    """Product-roadmap deck: title slide, two bullet slides, a milestone table."""
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    cp = prs.core_properties
    cp.author = "Product Management"
    cp.title = "Aurora Telemetry Platform Roadmap"
    cp.created = cp.modified = cp.last_printed = FIXED
    cp.revision = 1
    s = prs.slides.add_slide(prs.slide_layouts[0])
    s.shapes.title.text = "Aurora Telemetry Platform Roadmap 2024"
    s.placeholders[1].text = "Product management review - fiscal year 2024"

    def bullets(title: str, items: list[str]) -> None:
        slide = prs.slides.add_slide(prs.slide_layouts[1])
        slide.shapes.title.text = title
        tf = slide.placeholders[1].text_frame
        tf.text = items[0]
        for it in items[1:]:
            tf.add_paragraph().text = it

    bullets("Themes for 2024", [
        "Edge ingestion: collect sensor telemetry on gateways with intermittent links",
        "Anomaly alerts: seasonal baselines instead of fixed thresholds",
        "Self-service dashboards for plant operators",
    ])
    bullets("Customer Feedback Highlights", [
        "Operators want alert snoozing during planned maintenance windows",
        "Utilities asked for data residency in their own region",
        "Export to CSV and Parquet is the most requested integration",
    ])
    slide = prs.slides.add_slide(prs.slide_layouts[5])
    slide.shapes.title.text = "Milestones by Quarter"
    rows = [("Quarter", "Milestone", "Status"),
            ("Q1", "Edge agent beta", "Done"),
            ("Q2", "Seasonal anomaly alerts", "In progress"),
            ("Q3", "Operator dashboards GA", "Planned"),
            ("Q4", "Regional data residency", "Planned")]
    shape = slide.shapes.add_table(len(rows), 3, Inches(1), Inches(1.8), Inches(8), Inches(3))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            shape.table.cell(r, c).text = text
    buf = io.BytesIO()
    prs.save(buf)
    path.write_bytes(_normalize_zip(buf.getvalue()))


# --------------------------------------------------------------------------------------- EML
def make_eml(path: Path) -> None:
    """A vendor e-mail about a late cold-chain vaccine shipment (text + HTML alternative)."""
    msg = EmailMessage()
    msg["Subject"] = "Delayed shipment of cold-chain vaccines - PO 4471-CC"
    msg["From"] = "Marta Lindqvist <marta.lindqvist@polarpharma-logistics.example>"
    msg["To"] = "Receiving Team <receiving@stmarys-hospital.example>"
    msg["Date"] = format_datetime(datetime(2024, 3, 11, 14, 5, 0, tzinfo=UTC))
    msg["Message-ID"] = "<po4471-cc-delay@polarpharma-logistics.example>"
    text = (
        "Dear Receiving Team,\n\n"
        "I am writing to let you know that the shipment of cold-chain vaccines on purchase "
        "order 4471-CC will arrive late. The refrigerated truck was held at the border "
        "inspection for an extra day, and the new delivery date is Thursday 14 March 2024.\n\n"
        "The temperature loggers in every insulated container show the vaccines stayed "
        "between 2 and 8 degrees Celsius for the whole journey, so the cold chain is intact. "
        "We will send the logger printouts with the delivery note.\n\n"
        "Please confirm that your pharmacy store can receive the pallets before noon, and "
        "accept our apologies for the delay.\n\n"
        "Kind regards,\nMarta Lindqvist\nPolarPharma Logistics\n"
    )
    msg.set_content(text)
    html = "".join(f"<p>{para.replace(chr(10), '<br>')}</p>" for para in text.split("\n\n"))
    msg.add_alternative(f"<html><body>{html}</body></html>", subtype="html")
    msg.set_boundary("===============frostbyte-sample-boundary==")
    path.write_bytes(msg.as_bytes())


# ------------------------------------------------------------------------------ scanned PDF
SCAN_PAGES: list[list[tuple[str, str]]] = [
    [
        ("h1", "Fume Hood Airflow Certificate"),
        ("p", "Building C, Chemistry Laboratory 2.14. Hoods FH-07 and FH-08 were tested on "
              "12 February 2024 by Arcadia Air Balancing after the exhaust fan was replaced."),
        ("h2", "Face Velocity Measurements"),
        ("p", "The average face velocity of hood FH-07 was 0.52 metres per second at a sash "
              "height of 450 millimetres, inside the accepted range of 0.4 to 0.6 metres per "
              "second. Hood FH-08 measured 0.47 metres per second."),
        ("p", "Smoke visualisation showed no reverse flow at the sash opening of either hood."),
    ],
    [
        ("h2", "Recertification and Labels"),
        ("p", "Both hoods pass and carry a green certification label with the test date. The "
              "next airflow recertification is due in February 2025, or earlier when the "
              "ductwork or the exhaust fan is changed."),
        ("p", "Researchers must keep the sash below the marked working height and report an "
              "airflow alarm to the facilities help desk at once."),
    ],
]


def _scan_page(blocks: list[tuple[str, str]]) -> Any:
    """Render one page as a 200 dpi grayscale picture, as a scanner would deliver it."""
    import textwrap

    import reportlab
    from PIL import Image, ImageDraw, ImageFont

    fonts = Path(reportlab.__file__).parent / "fonts"
    width, height, margin = 1654, 2339, 160  # A4 at 200 dpi
    img = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(img)
    styles = {"h1": (ImageFont.truetype(str(fonts / "VeraBd.ttf"), 58), 200, 90),
              "h2": (ImageFont.truetype(str(fonts / "VeraBd.ttf"), 42), 200, 70),
              "p": (ImageFont.truetype(str(fonts / "Vera.ttf"), 30), 80, 46)}
    y = margin
    for kind, text in blocks:
        font, wrap, leading = styles[kind]
        for line in textwrap.wrap(text, 80 if kind == "p" else wrap):
            draw.text((margin, y), line, fill=20, font=font)
            y += leading
        y += leading // 2 + 12
    return img


def make_scanned_pdf(path: Path) -> None:
    """A 2-page certificate made only of page images: no text layer, so only OCR reads it."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=True)
    for blocks in SCAN_PAGES:
        c.drawImage(ImageReader(_scan_page(blocks)), 0, 0, width=A4[0], height=A4[1])
        c.showPage()
    c.save()
    path.write_bytes(buf.getvalue())


RECALL_SERIALS = """serial_number,model,ward,battery_lot
IP-20931,Volumat MC Agilia,Intensive Care,LOT-7741
IP-20944,Volumat MC Agilia,Oncology,LOT-7741
IP-21007,Volumat MC Agilia,Paediatrics,LOT-7742
IP-21015,Volumat MC Agilia,Emergency,LOT-7742
"""

RECALL_PROCEDURE = """# Battery Pack Replacement Procedure

## Before You Start

- Move the patient to a spare pump before removing the affected pump from service.
- Check the battery lot number on the label under the pole clamp.

## Replacing the Pack

1. Switch the pump off and unplug the mains cable.
2. Unscrew the battery cover and lift out the swollen battery pack.
3. Fit the replacement pack from the recall kit and run the self-test.

Return the removed packs in the yellow hazardous-goods box supplied with the kit.
"""


def make_eml_with_attachments(path: Path) -> None:
    """A recall notice whose details travel in attachments (CSV table, Markdown procedure)."""
    msg = EmailMessage()
    msg["Subject"] = "Field safety notice: infusion pump battery packs LOT-7741/7742"
    msg["From"] = "Quality Assurance <qa@medidevice-recalls.example>"
    msg["To"] = "Biomedical Engineering <biomed@stmarys-hospital.example>"
    msg["Date"] = format_datetime(datetime(2024, 3, 12, 8, 15, 0, tzinfo=UTC))
    msg["Message-ID"] = "<fsn-2024-031@medidevice-recalls.example>"
    msg.set_content(
        "Dear Biomedical Engineering team,\n\n"
        "We are recalling the battery packs of lots LOT-7741 and LOT-7742 fitted to infusion "
        "pumps. Some packs swell when charged for long periods, which can stop the pump "
        "without an alarm.\n\n"
        "The attached list gives the serial numbers of the pumps in your hospital, and the "
        "attached procedure explains how to replace the battery pack. Please confirm the "
        "replacement of every listed pump by 29 March 2024.\n\n"
        "Regards,\nQuality Assurance, MediDevice\n")
    msg.add_attachment(RECALL_SERIALS.encode(), maintype="text", subtype="csv",
                       filename="affected-serials.csv")
    msg.add_attachment(RECALL_PROCEDURE.encode(), maintype="text", subtype="markdown",
                       filename="battery-replacement-procedure.md")
    msg.set_boundary("===============frostbyte-recall-boundary==")
    path.write_bytes(msg.as_bytes())


CSV = """vehicle,date,odometer_km,service,cost_eur
VAN-101,2024-01-08,48210,Brake pads replaced (front),312.40
VAN-102,2024-01-15,61877,Tyre rotation and balancing,89.00
TRUCK-07,2024-02-03,152300,Oil and filter change,245.10
VAN-101,2024-02-20,50133,Windscreen wiper blades,34.50
TRUCK-09,2024-03-01,98112,Brake fluid flush,120.00
"""

TXT = """Employee Parking-Permit FAQ

Who can apply for a parking permit?
Every employee with a contract of at least six months can apply for a parking permit through
the facilities portal. Contractors apply through their sponsoring manager.

Which permit zones exist?
Zone A is the multi-storey car park next to the main entrance, zone B is the open lot behind
the logistics hall, and zone C is the overflow field used during the summer festival.

Can I charge an electric vehicle?
Yes. Twelve electric-vehicle charging bays are in zone A, level 1. Charging sessions are
limited to four hours so that colleagues can rotate.
"""


def _normalize_zip(raw: bytes) -> bytes:
    """Rewrite a ZIP (OOXML) with fixed member timestamps and fixed core-property dates."""
    src = zipfile.ZipFile(io.BytesIO(raw))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rb"\g<1>2024-03-14T09:30:00Z\g<2>",
                    data,
                )
            zi = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, data)
    return out.getvalue()


def make_readme(path: Path) -> None:
    """List each sample and its topic."""
    lines = [
        "# Sample documents",
        "",
        "Generated by `scripts/make_samples.py` (deterministic: re-running it gives the same "
        "bytes). Each file has its own topic so that a search can be checked to return the "
        "right one.",
        "",
        "| file | topic |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {topic} |" for name, topic in TOPICS.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    """Write every sample into the output folder."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "samples")
    out: Path = ap.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    make_pdf(out / "annual-safety-report.pdf")
    make_docx(out / "supplier-onboarding-policy.docx")
    (out / "data-retention-notice.html").write_text(HTML, encoding="utf-8")
    (out / "incident-response-runbook.md").write_text(MARKDOWN, encoding="utf-8")
    make_xlsx(out / "quarterly-invoices.xlsx")
    make_pptx(out / "product-roadmap.pptx")
    make_eml(out / "late-shipment-vaccines.eml")
    (out / "fleet-maintenance-log.csv").write_text(CSV, encoding="utf-8")
    (out / "parking-permit-faq.txt").write_text(TXT, encoding="utf-8")
    make_scanned_pdf(out / "scanned-fume-hood-certificate.pdf")
    make_eml_with_attachments(out / "infusion-pump-recall.eml")
    make_readme(out / "README.md")
    for f in sorted(out.iterdir()):
        print(f"{f.stat().st_size:>8}  {f.name}")


if __name__ == "__main__":
    main()
