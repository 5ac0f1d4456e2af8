"""Builders of hostile files for the intake tests (unit and end-to-end). Nothing here is
stored in the repository; every file is made in a test's temporary folder."""

from __future__ import annotations

import io
import os
import struct
import zipfile
from pathlib import Path

EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>')
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>')
_DOCUMENT = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    '<w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>')


def docx_bytes(text: str = "A small, honest document.") -> bytes:
    """A minimal, well-formed DOCX package."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("word/document.xml", _DOCUMENT.format(text=text))
    return buf.getvalue()


def docx_bomb_bytes(declared: int = 0xF000_0000) -> bytes:
    """A well-formed DOCX whose ``word/document.xml`` declares ``declared`` bytes (about
    4 GB) uncompressed in both its local header and the central directory. The deflated
    data is small; nothing reading only the directory can tell until it unpacks."""
    data = bytearray(docx_bytes())
    target = b"word/document.xml"
    # Central directory header: signature PK\x01\x02, uncompressed size at offset 24,
    # name length at 28, name at 46. Local header: PK\x03\x04, size at 22, name at 30.
    for sig, size_at, name_at in ((b"PK\x01\x02", 24, 46), (b"PK\x03\x04", 22, 30)):
        pos = 0
        while (pos := data.find(sig, pos)) >= 0:
            if data[pos + name_at:pos + name_at + len(target)] == target:
                struct.pack_into("<L", data, pos + size_at, declared)
            pos += 4
    return bytes(data)


def zip_bomb_bytes(inflated: int = 256 * 1024 * 1024) -> bytes:
    """A plain zip with one member of ``inflated`` zero bytes, really deflated (~1000:1)."""
    buf = io.BytesIO()
    block = bytes(1 << 20)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z, z.open("zeros.bin", "w") as m:
        for _ in range(inflated >> 20):
            m.write(block)
    return buf.getvalue()


def many_entries_zip_bytes(entries: int) -> bytes:
    """A plain zip of ``entries`` empty members."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for i in range(entries):
            z.writestr(f"e{i}", b"")
    return buf.getvalue()


def elf_bytes() -> bytes:
    """A real ELF executable (this machine's ``true``)."""
    for candidate in ("/usr/bin/true", "/bin/true"):
        path = Path(candidate)
        if path.exists():
            return path.read_bytes()
    raise FileNotFoundError("no ELF executable found")


def pdf_bytes(text: str = "Hello") -> bytes:
    """A tiny one-page PDF with a text layer."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n"
            "%%EOF\n").encode()
    return bytes(out)


def inflating_docx(path: Path, *, inflated: int = 900 * 1024 * 1024,
                   padding: int = 6 * 1024 * 1024) -> Path:
    """A DOCX whose ``word/document.xml`` honestly declares and inflates to ``inflated``
    bytes of ordinary paragraphs. A stored member of ``padding`` random bytes keeps the
    archive's overall ratio (and its declared total) under the default intake archive
    rules (200:1, 1 GiB), so intake admits it: only whatever reads the XML finds out.
    Written streaming; memory stays small."""
    paragraph = b"<w:p><w:r><w:t>An ordinary sentence of a long report.</w:t></w:r></w:p>"
    block = paragraph * ((1 << 20) // len(paragraph))
    head, tail = _DOCUMENT.encode().split(b"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        with z.open("word/document.xml", "w", force_zip64=True) as member:
            member.write(head)
            written = len(head)
            while written + len(block) + len(tail) <= inflated:
                member.write(block)
                written += len(block)
            member.write(tail)
        z.writestr(zipfile.ZipInfo("word/media/image1.bin"), os.urandom(padding),
                   compress_type=zipfile.ZIP_STORED)
    return path


def long_run_html(path: Path, run: int = 300_000, char: str = "=") -> Path:
    """An HTML page whose one paragraph is ``run`` repetitions of ``char`` (a rule line
    gone wrong): cheap to parse, a trap for a regex that backtracks."""
    path.write_text(f"<html><body><h1>Ruler</h1><p>{char * run}</p></body></html>")
    return path
