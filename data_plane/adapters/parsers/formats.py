"""Document formats the parsers know, and how a file's format is decided.

By file extension, then by the declared MIME type; libmagic-based sniffing happens at intake
(SPEC §5.1, ``data_plane.domain.intake_content``) and its verdict arrives here as the declared
MIME type. Outlook ``.msg`` and legacy ``.doc`` are OLE2 compound files, which libmagic may
name only generically (``application/vnd.ms-outlook``, ``application/CDFV2``…): intake settles
their type from the extension, and the extension decides here too.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import PurePath


class DocFormat(StrEnum):
    """A document format as the routing table knows it."""

    PDF = "pdf"
    DOCX = "docx"
    PPTX = "pptx"
    XLSX = "xlsx"
    HTML = "html"
    MARKDOWN = "md"
    CSV = "csv"
    EML = "eml"
    MSG = "msg"  # Outlook message (OLE2 compound file)
    ODT = "odt"
    ODS = "ods"
    ODP = "odp"
    EPUB = "epub"
    DOC = "doc"  # legacy Word 97-2003 (OLE2 compound file)
    TXT = "txt"
    PNG = "png"
    JPEG = "jpeg"
    TIFF = "tiff"
    UNKNOWN = "unknown"


#: Formats that are pictures of pages: OCR is their only parser.
IMAGE_FORMATS: frozenset[DocFormat] = frozenset({DocFormat.PNG, DocFormat.JPEG, DocFormat.TIFF})


EXTENSIONS: dict[str, DocFormat] = {
    ".pdf": DocFormat.PDF,
    ".docx": DocFormat.DOCX,
    ".pptx": DocFormat.PPTX,
    ".xlsx": DocFormat.XLSX,
    ".html": DocFormat.HTML,
    ".htm": DocFormat.HTML,
    ".xhtml": DocFormat.HTML,
    ".md": DocFormat.MARKDOWN,
    ".markdown": DocFormat.MARKDOWN,
    ".csv": DocFormat.CSV,
    ".eml": DocFormat.EML,
    ".msg": DocFormat.MSG,
    ".odt": DocFormat.ODT,
    ".ods": DocFormat.ODS,
    ".odp": DocFormat.ODP,
    ".epub": DocFormat.EPUB,
    ".doc": DocFormat.DOC,
    ".txt": DocFormat.TXT,
    ".text": DocFormat.TXT,
    ".png": DocFormat.PNG,
    ".jpg": DocFormat.JPEG,
    ".jpeg": DocFormat.JPEG,
    ".tif": DocFormat.TIFF,
    ".tiff": DocFormat.TIFF,
}

MIME_TYPES: dict[str, DocFormat] = {
    "application/pdf": DocFormat.PDF,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": DocFormat.DOCX,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": DocFormat.PPTX,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": DocFormat.XLSX,
    "text/html": DocFormat.HTML,
    "application/xhtml+xml": DocFormat.HTML,
    "text/markdown": DocFormat.MARKDOWN,
    "text/x-markdown": DocFormat.MARKDOWN,
    "text/csv": DocFormat.CSV,
    "message/rfc822": DocFormat.EML,
    "application/vnd.ms-outlook": DocFormat.MSG,
    "application/vnd.oasis.opendocument.text": DocFormat.ODT,
    "application/vnd.oasis.opendocument.spreadsheet": DocFormat.ODS,
    "application/vnd.oasis.opendocument.presentation": DocFormat.ODP,
    "application/epub+zip": DocFormat.EPUB,
    "application/msword": DocFormat.DOC,
    "text/plain": DocFormat.TXT,
    "image/png": DocFormat.PNG,
    "image/jpeg": DocFormat.JPEG,
    "image/tiff": DocFormat.TIFF,
}

#: The canonical extension of each format (used to name in-memory streams).
CANONICAL_EXTENSION: dict[DocFormat, str] = {
    fmt: ext for ext, fmt in reversed(list(EXTENSIONS.items()))
}


def detect_format(name: str, mime: str | None = None) -> DocFormat:
    """The format of a file named ``name`` with declared MIME type ``mime``.

    The extension wins when it is known; otherwise the MIME type (parameters such as
    ``; charset=utf-8`` ignored); otherwise ``DocFormat.UNKNOWN``.
    """
    fmt = EXTENSIONS.get(PurePath(name).suffix.lower())
    if fmt is not None:
        return fmt
    if mime:
        return MIME_TYPES.get(mime.split(";", 1)[0].strip().lower(), DocFormat.UNKNOWN)
    return DocFormat.UNKNOWN


#: The canonical MIME type of each format (the first listed in ``MIME_TYPES``).
CANONICAL_MIME: dict[DocFormat, str] = {
    fmt: mime for mime, fmt in reversed(list(MIME_TYPES.items()))
}


def mime_type_of(name: str, declared: str | None = None) -> str | None:
    """The canonical MIME type of a file by its name (then its declared type); None if the
    format is unknown."""
    return CANONICAL_MIME.get(detect_format(name, declared))
