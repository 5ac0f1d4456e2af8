"""Reads what a received file is, without trusting its name: libmagic on its first bytes
and, for zip containers, the central directory — never a decompressed byte.

The rules that judge these facts live in ``data_plane.domain.intake_content``.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import magic

from data_plane.domain.intake_content import (
    ZIP_BASED,
    Sniffed,
    ZipDirectory,
    ZipEntry,
    base_type,
)

__all__ = ["Sniffed", "ZipDirectory", "read_zip_directory", "sniff_file"]

#: libmagic needs more than the first block to tell an Office container from a plain zip.
SNIFF_BYTES = 64 * 1024
#: A central directory larger than this is not read (and judged a bomb by its entry count
#: or size); legitimate Office files have a few hundred entries.
MAX_CENTRAL_DIRECTORY_BYTES = 64 * 1024 * 1024

_EOCD = struct.Struct("<4s4H2LH")
_EOCD_SIG = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_LOCATOR_SIG = b"PK\x06\x07"
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_ZIP64_EOCD_SIG = b"PK\x06\x06"


def sniff_file(path: Path, *, max_entries: int) -> Sniffed:
    """libmagic's MIME type of the file's first bytes, and its zip directory if it is one
    (not read past the end record when it declares more than ``max_entries`` members)."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    mime = base_type(magic.from_buffer(head, mime=True)) or "application/octet-stream"
    directory = read_zip_directory(path, max_entries=max_entries) if mime in ZIP_BASED else None
    return Sniffed(magic_mime=mime, zip=directory)


def _end_record(path: Path) -> tuple[int, int] | None:
    """(entries, central directory bytes) from the end record, zip64 included."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        tail_len = min(size, _EOCD.size + 0xFFFF)
        fh.seek(size - tail_len)
        tail = fh.read(tail_len)
        at = tail.rfind(_EOCD_SIG)
        if at < 0 or at + _EOCD.size > len(tail):
            return None
        _, _, _, _, entries, cd_size, _, _ = _EOCD.unpack_from(tail, at)
        if entries != 0xFFFF and cd_size != 0xFFFFFFFF:
            return entries, cd_size
        loc_at = at - _ZIP64_LOCATOR.size
        if loc_at < 0:
            return entries, cd_size
        sig, _, eocd64_offset, _ = _ZIP64_LOCATOR.unpack_from(tail, loc_at)
        if sig != _ZIP64_LOCATOR_SIG or eocd64_offset + _ZIP64_EOCD.size > size:
            return entries, cd_size
        fh.seek(eocd64_offset)
        record = fh.read(_ZIP64_EOCD.size)
        fields = _ZIP64_EOCD.unpack(record)
        if fields[0] != _ZIP64_EOCD_SIG:
            return entries, cd_size
        return int(fields[7]), int(fields[8])


def read_zip_directory(path: Path, *, max_entries: int) -> ZipDirectory | None:
    """The zip's declared members; None when the file has no end-of-directory record."""
    end = _end_record(path)
    if end is None:
        return None
    entries, cd_size = end
    if entries > max_entries:
        return ZipDirectory(entries, cd_size, None, "too many entries to read")
    if cd_size > MAX_CENTRAL_DIRECTORY_BYTES:
        return ZipDirectory(entries, cd_size, None, "central directory too large to read")
    try:
        # ZipFile reads the central directory only; no member is opened.
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
        return ZipDirectory(entries, cd_size, None, f"unreadable zip: {exc}")
    return ZipDirectory(
        declared_entries=max(entries, len(infos)), directory_bytes=cd_size,
        entries=tuple(ZipEntry(i.filename, i.compress_size, i.file_size) for i in infos))
