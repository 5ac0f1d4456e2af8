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
