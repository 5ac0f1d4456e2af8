"""PDFs crafted to hang or balloon a parser, written at test time (they are large)."""

from __future__ import annotations

from pathlib import Path


def blank_pages_pdf(path: Path, pages: int) -> Path:
    """A valid PDF of ``pages`` distinct blank pages (about 80 bytes each): parsers walk
    and lay out every page, so time and memory grow with the count."""
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b" ".join(
            b"%d 0 R" % (3 + i) for i in range(pages)) + b"] /Count %d >>" % pages,
    ]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"] * pages
    return _write(path, objects)


def nested_pdf(path: Path, depth: int) -> Path:
    """A one-page PDF whose page carries an array nested ``depth`` levels deep."""
    nested = b"[" * depth + b"]" * depth
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Nest " + nested + b" >>",
    ]
    return _write(path, objects)


def _write(path: Path, objects: list[bytes]) -> Path:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def text_pages_pdf(path: Path, pages: int) -> Path:
    """A text PDF of ``pages`` full pages (reportlab): a bookmarked 16 pt heading every third
    page, 48 lines of 10 pt body text and a page number on each. Parsers that keep every
    page's objects grow with the count; a page-by-page reader does not."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    words = ["inspection", "valve", "pressure", "report", "section", "schedule", "operator",
             "maintenance", "warehouse", "sprinkler", "quarterly", "record", "audit",
             "supplier", "policy", "review"]
    c = canvas.Canvas(str(path), pagesize=A4, invariant=True)
    width, height = A4
    for page in range(1, pages + 1):
        y = height - 72
        if page % 3 == 1:
            chapter = page // 3 + 1
            title = f"Chapter {chapter}: {words[chapter % len(words)].title()}"
            c.setFont("Helvetica-Bold", 16)
            c.drawString(72, y, title)
            c.bookmarkPage(f"c{chapter}")
            c.addOutlineEntry(title, f"c{chapter}", level=0)
            y -= 30
        c.setFont("Helvetica", 10)
        for line in range(48):
            text = " ".join(words[(page * 7 + line * 3 + k) % len(words)] for k in range(14))
            c.drawString(72, y, f"{text.capitalize()}.")
            y -= 13
            if y < 72:
                break
        c.setFont("Helvetica", 8)
        c.drawString(width / 2, 36, str(page))
        c.showPage()
    c.save()
    return path
