"""Content checks of intake (SPEC §5.1): what a file *is*, judged from its bytes.

Pure rules, fed by the sniffing adapter (``data_plane.adapters.sniff``): the MIME type
libmagic reports, the member names and declared sizes of a zip's central directory. Nothing
here reads a file or unpacks an archive.

    resolve_type     libmagic's answer (+ zip member names) → the file's real MIME type
    check_type       real type vs the tenant's allowlist, the extension and the declared type
    archive_bomb     a zip's central directory vs the tenant's archive limits
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from data_plane.domain.intake import Reason

ZIP = "application/zip"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"
EPUB = "application/epub+zip"
MSG = "application/vnd.ms-outlook"
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
PPT = "application/vnd.ms-powerpoint"

#: The MIME type a file name's extension promises.
EXTENSION_TYPES: dict[str, str] = {
    ".pdf": "application/pdf",
    ".docx": DOCX,
    ".pptx": PPTX,
    ".xlsx": XLSX,
    ".csv": "text/csv",
    ".html": "text/html",
    ".htm": "text/html",
    ".xhtml": "text/html",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".text": "text/plain",
    ".eml": "message/rfc822",
    ".msg": MSG,
    ".odt": ODT,
    ".ods": ODS,
    ".odp": ODP,
    ".epub": EPUB,
    ".doc": DOC,
    ".xls": XLS,
    ".ppt": PPT,
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".zip": ZIP,
}

#: Types that libmagic cannot tell apart reliably: plain text, CSV, Markdown, HTML and
#: e-mail all look like "some text" to it (an .eml often sniffs as text/html, an HTML page
#: as text/xml). Within this family the extension decides the type.
TEXT_FAMILY = frozenset({"message/rfc822", "application/xml", "application/xhtml+xml"})

#: Office Open XML containers, recognised by a part only that kind of package has.
_OFFICE_PARTS: tuple[tuple[str, str], ...] = (
    ("word/document.xml", DOCX),
    ("ppt/presentation.xml", PPTX),
    ("xl/workbook.xml", XLSX),
)
#: Zip containers that are not Office Open XML, recognised by their manifest part; which
#: kind (text, spreadsheet, presentation) only the ``mimetype`` member's bytes say, and
#: nothing is decompressed here, so the extension names the kind.
_ZIP_MANIFESTS: tuple[tuple[str, frozenset[str]], ...] = (
    ("META-INF/manifest.xml", frozenset({ODT, ODS, ODP})),  # OpenDocument
    ("META-INF/container.xml", frozenset({EPUB})),
)
#: Everything whose central directory the bomb rules judge (libmagic names ODF and EPUB
#: by the ``mimetype`` member stored first; they are zips all the same).
ZIP_BASED = frozenset({ZIP, DOCX, PPTX, XLSX, ODT, ODS, ODP, EPUB})

#: OLE2 compound files (Outlook .msg, Word/Excel/PowerPoint 97-2003): libmagic often names
#: only the container (``legacy_sample.doc`` here: ``application/x-ole-storage``), so the
#: extension names the kind when it is one of these.
OLE2_GENERIC = frozenset({"application/x-ole-storage", "application/cdfv2",
                          "application/vnd.ms-office"})
OLE2_BASED = frozenset({MSG, DOC, XLS, PPT})

#: Types refused with a message that says what the vendor can do: legacy formats we do
#: not parse, and a password-protected Office file (libmagic: ``application/encrypted``,
#: e.g. ``password_protected.xlsx``: the package is encrypted inside an OLE2 file).
NAMED_REFUSALS: dict[str, str] = {
    XLS: "legacy Excel 97-2003 .xls is not supported; save it as .xlsx and send it again",
    PPT: "legacy PowerPoint 97-2003 .ppt is not supported; save it as .pptx and send it again",
    "application/encrypted": "a password-protected (encrypted) file is not supported; "
    "remove the password and send it again",
}

#: Below this declared uncompressed total the ratio is not held against an archive (small
#: XML parts legitimately compress 50-100x).
RATIO_FLOOR_BYTES = 8 * 1024 * 1024


def _is_text(mime: str) -> bool:
    return mime.startswith("text/") or mime in TEXT_FAMILY


def base_type(mime: str | None) -> str | None:
    """``text/html; charset=utf-8`` → ``text/html``."""
    if not mime:
        return None
    return mime.split(";", 1)[0].strip().lower() or None


def office_type(member_names: Collection[str]) -> str | None:
    """The Office Open XML type of a zip with these members, or None for a plain zip."""
    if "[Content_Types].xml" not in member_names:
        return None
    for part, mime in _OFFICE_PARTS:
        if part in member_names:
            return mime
    return None


def resolve_type(sniffed: str, name: str, zip_members: Collection[str] | None) -> str:
    """The file's real MIME type: libmagic's answer, made precise for zip containers (by
    their members), for OLE2 compound files and text (by the extension, since libmagic's
    answer cannot tell)."""
    mime = base_type(sniffed) or "application/octet-stream"
    expected = EXTENSION_TYPES.get(PurePath(name).suffix.lower())
    if mime == ZIP and zip_members is not None:
        mime = office_type(zip_members) or _manifest_type(zip_members, expected) or ZIP
    if mime in OLE2_GENERIC and expected in OLE2_BASED:
        return expected
    if _is_text(mime) and expected is not None and _is_text(expected):
        return expected
    return mime


def _manifest_type(member_names: Collection[str], expected: str | None) -> str | None:
    for part, kinds in _ZIP_MANIFESTS:
        if part in member_names and expected in kinds:
            return expected
    return None


@dataclass(frozen=True, slots=True)
class TypeVerdict:
    mime_type: str
    reason: Reason | None
    detail: str | None = None


def check_type(*, real: str, name: str, declared_type: str | None,
               allowlist: Collection[str]) -> TypeVerdict:
    """Judge the real type against the allowlist, the extension and the declared type.

    A type outside the allowlist is ``MIME_EXTENSION_MISMATCH`` when the name or declared
    type pretends to be an allowed type (an executable named ``.pdf``: the vendor should
    know the file is not what its name says), otherwise ``MIME_NOT_ALLOWED``."""
    suffix = PurePath(name).suffix.lower()
    expected = EXTENSION_TYPES.get(suffix)
    declared = base_type(declared_type)
    pretends = [t for t in (expected, declared) if t is not None and t in allowlist]
    if real in NAMED_REFUSALS and real not in allowlist:
        return TypeVerdict(real, Reason.MIME_NOT_ALLOWED, NAMED_REFUSALS[real])
    if real not in allowlist:
        if pretends and real not in pretends:
            return TypeVerdict(real, Reason.MIME_EXTENSION_MISMATCH,
                               f"the content is {real}, the name or manifest says "
                               f"{pretends[0]}")
        return TypeVerdict(real, Reason.MIME_NOT_ALLOWED,
                           f"{real} is not an allowed type for this tenant")
    if suffix and expected is None:
        return TypeVerdict(real, Reason.MIME_EXTENSION_MISMATCH,
                           f"the extension {suffix!r} is not one of an allowed type "
                           f"(the content is {real})")
    if expected is not None and not _compatible(real, expected):
        return TypeVerdict(real, Reason.MIME_EXTENSION_MISMATCH,
                           f"the content is {real}, the extension {suffix!r} says {expected}")
    if declared is not None and not _compatible(real, declared):
        return TypeVerdict(real, Reason.MIME_EXTENSION_MISMATCH,
                           f"the content is {real}, the manifest declares {declared}")
    return TypeVerdict(real, None)


def _compatible(real: str, claimed: str) -> bool:
    return real == claimed or (_is_text(real) and _is_text(claimed))


@dataclass(frozen=True, slots=True)
class ZipEntry:
    """One member as the central directory declares it (nothing is decompressed)."""

    name: str
    compressed_size: int
    file_size: int


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    max_uncompressed_bytes: int
    max_ratio: float
    max_entries: int


def archive_bomb(*, declared_entries: int, entries: Sequence[ZipEntry] | None,
                 archive_size: int, limits: ArchiveLimits) -> str | None:
    """Why a zip container is a bomb by its central directory, or None when it is not.

    ``entries`` is None when the directory was not read (then only the declared count of
    the end record is judged)."""
    count = max(declared_entries, len(entries or ()))
    if count > limits.max_entries:
        return f"{count} entries; the limit is {limits.max_entries}"
    if entries is None:
        return None
    return declared_totals_bomb(sum(e.file_size for e in entries), archive_size=archive_size,
                                limits=limits)


def declared_totals_bomb(uncompressed: int, *, archive_size: int,
                         limits: ArchiveLimits) -> str | None:
    """The size and ratio rules on the declared uncompressed total (the ratio is taken
    against the archive's own size, so overlapping members cannot hide it)."""
    if uncompressed > limits.max_uncompressed_bytes:
        return (f"declares {uncompressed} bytes uncompressed; the limit is "
                f"{limits.max_uncompressed_bytes}")
    if uncompressed > RATIO_FLOOR_BYTES:
        ratio = uncompressed / max(archive_size, 1)
        if ratio > limits.max_ratio:
            return f"compression ratio {ratio:.0f}:1; the limit is {limits.max_ratio:.0f}:1"
    return None


@dataclass(frozen=True, slots=True)
class ZipDirectory:
    """What a zip's end-of-central-directory record and central directory declare.

    ``entries`` is None when the directory was not read (too large, or unreadable)."""

    declared_entries: int
    directory_bytes: int
    entries: tuple[ZipEntry, ...] | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Sniffed:
    """What a received file is by its bytes: libmagic's type, and its zip directory if it
    is a zip container (``data_plane.adapters.intake_sniff`` reads both)."""

    magic_mime: str
    zip: ZipDirectory | None
