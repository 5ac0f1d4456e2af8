"""The sniffing adapter on real bytes: libmagic and zip central directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_plane.adapters.intake_sniff import read_zip_directory, sniff_file
from data_plane.domain.intake_content import DOCX, resolve_type
from tests.intake_hostile_files import (
    docx_bomb_bytes,
    docx_bytes,
    elf_bytes,
    many_entries_zip_bytes,
    pdf_bytes,
    zip_bomb_bytes,
)


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "make", "real"),
    [
        ("a.pdf", pdf_bytes, "application/pdf"),
        ("a.docx", docx_bytes, DOCX),
        ("a.md", lambda: b"# Title\n\nSome *text*.\n", "text/markdown"),
    ],
)
def test_real_types(tmp_path: Path, name: str, make, real: str) -> None:  # type: ignore[no-untyped-def]
    sniffed = sniff_file(_write(tmp_path, name, make()), max_entries=100)
    members = {e.name for e in sniffed.zip.entries or ()} if sniffed.zip else None
    assert resolve_type(sniffed.magic_mime, name, members) == real


def test_an_elf_named_pdf_is_an_executable(tmp_path: Path) -> None:
    sniffed = sniff_file(_write(tmp_path, "invoice.pdf", elf_bytes()), max_entries=100)
    assert sniffed.magic_mime.startswith("application/x-")
    assert sniffed.zip is None


def test_docx_bomb_declares_gigabytes_and_is_read_without_unpacking(tmp_path: Path) -> None:
    path = _write(tmp_path, "bomb.docx", docx_bomb_bytes())
    assert path.stat().st_size < 4096
    directory = read_zip_directory(path, max_entries=100)
    assert directory is not None and directory.entries is not None
    sizes = {e.name: e.file_size for e in directory.entries}
    assert sizes["word/document.xml"] == 0xF000_0000


def test_plain_zip_bomb_directory(tmp_path: Path) -> None:
    path = _write(tmp_path, "zeros.docx", zip_bomb_bytes(64 << 20))
    sniffed = sniff_file(path, max_entries=100)
    assert sniffed.magic_mime == "application/zip"
    assert sniffed.zip is not None and sniffed.zip.entries is not None
    assert sniffed.zip.entries[0].file_size == 64 << 20


def test_too_many_entries_stops_at_the_end_record(tmp_path: Path) -> None:
    path = _write(tmp_path, "many.zip", many_entries_zip_bytes(300))
    directory = read_zip_directory(path, max_entries=100)
    assert directory is not None
    assert directory.declared_entries == 300 and directory.entries is None


def test_not_a_zip(tmp_path: Path) -> None:
    assert read_zip_directory(_write(tmp_path, "x.bin", b"PK but no"), max_entries=9) is None
