"""Content rules of intake: the real type of a file and zip bombs (pure, table-driven)."""

from __future__ import annotations

import pytest

from data_plane.domain.intake import Reason
from data_plane.domain.intake_content import (
    DOC,
    DOCX,
    EPUB,
    MSG,
    ODP,
    ODS,
    ODT,
    PPT,
    PPTX,
    XLS,
    XLSX,
    ZIP,
    ZIP_BASED,
    ArchiveLimits,
    ZipEntry,
    archive_bomb,
    check_type,
    office_type,
    resolve_type,
)
from frostbyte_common.tenant_config import DEFAULT_MIME_ALLOWLIST

ALLOW = DEFAULT_MIME_ALLOWLIST
GiB = 1 << 30
LIMITS = ArchiveLimits(max_uncompressed_bytes=GiB, max_ratio=200, max_entries=100)


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ({"[Content_Types].xml", "word/document.xml"}, DOCX),
        ({"[Content_Types].xml", "ppt/presentation.xml"}, PPTX),
        ({"[Content_Types].xml", "xl/workbook.xml"}, XLSX),
        ({"word/document.xml"}, None),  # no package manifest: a plain zip
        ({"[Content_Types].xml"}, None),
        (set(), None),
    ],
)
def test_office_containers_are_told_by_their_parts(members: set[str],
                                                   expected: str | None) -> None:
    assert office_type(members) == expected


@pytest.mark.parametrize(
    ("sniffed", "name", "members", "expected"),
    [
        ("application/zip", "a.docx", {"[Content_Types].xml", "word/document.xml"}, DOCX),
        ("application/zip", "a.docx", {"zeros.bin"}, ZIP),
        ("application/zip", "a.docx", None, ZIP),
        ("text/plain", "notes.md", None, "text/markdown"),
        ("text/plain", "table.csv", None, "text/csv"),
        ("text/html", "mail.eml", None, "message/rfc822"),  # .eml often sniffs as HTML
        ("text/xml", "page.html", None, "text/html"),
        ("text/plain; charset=us-ascii", "a.txt", None, "text/plain"),
        ("application/pdf", "a.txt", None, "application/pdf"),  # bytes beat the name
        ("application/x-sharedlib", "a.pdf", None, "application/x-sharedlib"),
        ("text/plain", "script", None, "text/plain"),
    ],
)
def test_the_real_type_comes_from_the_bytes(sniffed: str, name: str,
                                            members: set[str] | None, expected: str) -> None:
    assert resolve_type(sniffed, name, members) == expected


@pytest.mark.parametrize(
    ("real", "name", "declared", "reason"),
    [
        ("application/pdf", "report.pdf", None, None),
        ("application/pdf", "report.pdf", "application/pdf", None),
        (DOCX, "policy.docx", None, None),
        ("text/markdown", "notes.md", "text/plain", None),  # text family is compatible
        ("text/plain", "readme", None, None),  # no extension: nothing to contradict
        # An executable or a plain zip pretending to be an allowed type.
        ("application/x-sharedlib", "invoice.pdf", None, Reason.MIME_EXTENSION_MISMATCH),
        (ZIP, "bomb.docx", None, Reason.MIME_EXTENSION_MISMATCH),
        ("application/x-sharedlib", "tool", "application/pdf",
         Reason.MIME_EXTENSION_MISMATCH),
        # Not allowed, and not pretending.
        ("application/x-sharedlib", "tool.so", None, Reason.MIME_NOT_ALLOWED),
        (ZIP, "archive.zip", None, Reason.MIME_NOT_ALLOWED),
        ("application/x-sharedlib", "tool", None, Reason.MIME_NOT_ALLOWED),
        # Allowed content behind the wrong name or declaration.
        ("application/pdf", "report.docx", None, Reason.MIME_EXTENSION_MISMATCH),
        ("application/pdf", "report.pdf", DOCX, Reason.MIME_EXTENSION_MISMATCH),
        ("image/png", "scan.pdf", None, Reason.MIME_EXTENSION_MISMATCH),
        ("application/pdf", "report.bin", None, Reason.MIME_EXTENSION_MISMATCH),
    ],
)
def test_type_against_allowlist_extension_and_declaration(
        real: str, name: str, declared: str | None, reason: Reason | None) -> None:
    verdict = check_type(real=real, name=name, declared_type=declared, allowlist=ALLOW)
    assert verdict.reason is reason
    assert verdict.mime_type == real
    assert (verdict.detail is None) == (reason is None)


def test_a_tenant_allowlist_is_obeyed() -> None:
    only_pdf = ["application/pdf"]
    assert check_type(real=DOCX, name="a.docx", declared_type=None,
                      allowlist=only_pdf).reason is Reason.MIME_NOT_ALLOWED


def _entries(*sizes: tuple[int, int]) -> list[ZipEntry]:
    return [ZipEntry(f"m{i}", c, u) for i, (c, u) in enumerate(sizes)]


@pytest.mark.parametrize(
    ("declared_entries", "entries", "archive_size", "bomb"),
    [
        (3, _entries((1000, 5000), (2000, 9000), (10, 10)), 4000, False),
        # Declared total over the limit (a DOCX whose document.xml claims 4 GB).
        (2, _entries((500, 10), (700, 0xF000_0000)), 1500, True),
        # Many members adding up over the limit.
        (2, _entries((1 << 20, GiB // 2 + 1), (1 << 20, GiB // 2 + 1)), 3 << 20, True),
        # Ratio: 256 MiB from a 256 KiB file is 1000:1.
        (1, _entries((256 << 10, 256 << 20)), 256 << 10, True),
        # The same ratio on a small total is ordinary XML compression.
        (1, _entries((4 << 10, 4 << 20)), 4 << 10, False),
        # Entry count: judged from the end record even when the directory was not read.
        (101, None, 10_000, True),
        (100, _entries(*[(1, 1)] * 100), 10_000, False),
        (5, None, 10_000, False),
    ],
)
def test_archive_bombs_are_judged_from_the_directory(
        declared_entries: int, entries: list[ZipEntry] | None, archive_size: int,
        bomb: bool) -> None:
    why = archive_bomb(declared_entries=declared_entries, entries=entries,
                       archive_size=archive_size, limits=LIMITS)
    assert (why is not None) is bomb


# libmagic's answers below are what Debian 12's libmagic said for the real files of
# /shared/corpus (fake.odt, odf_table_with_title_01.ods, odf_presentation_01.odp,
# winter-sports.epub, msg_with_attachment.msg, legacy_sample.doc).
@pytest.mark.parametrize(
    ("sniffed", "name", "members", "expected"),
    [
        ("application/vnd.oasis.opendocument.text", "fake.odt", None, ODT),
        ("application/vnd.oasis.opendocument.spreadsheet", "t.ods", None, ODS),
        ("application/vnd.oasis.opendocument.presentation", "p.odp", None, ODP),
        ("application/epub+zip", "book.epub", None, EPUB),
        ("application/vnd.ms-outlook", "mail.msg", None, MSG),
        ("application/x-ole-storage", "legacy_sample.doc", None, DOC),  # only the container
        ("application/CDFV2", "mail.msg", None, MSG),
        ("application/x-ole-storage", "a.pdf", None, "application/x-ole-storage"),
        # a zip whose mimetype member is not first: the manifest part and the extension
        ("application/zip", "a.ods", {"mimetype", "META-INF/manifest.xml", "content.xml"}, ODS),
        ("application/zip", "a.epub", {"mimetype", "META-INF/container.xml"}, EPUB),
        ("application/zip", "a.epub", {"zeros.bin"}, ZIP),
        ("application/zip", "a.docx", {"META-INF/manifest.xml"}, ZIP),
    ],
)
def test_opendocument_epub_and_ole2_types(sniffed: str, name: str, members: set[str] | None,
                                          expected: str) -> None:
    assert resolve_type(sniffed, name, members) == expected


@pytest.mark.parametrize("real", [ODT, ODS, ODP, EPUB, MSG, DOC])
def test_the_new_formats_are_allowed_by_default(real: str) -> None:
    name = {ODT: "a.odt", ODS: "a.ods", ODP: "a.odp", EPUB: "a.epub", MSG: "a.msg",
            DOC: "a.doc"}[real]
    assert check_type(real=real, name=name, declared_type=None, allowlist=ALLOW).reason is None
    assert real in ZIP_BASED or real in (MSG, DOC)  # zips face the bomb rules


@pytest.mark.parametrize(("real", "name", "says"), [
    (XLS, "q1.xls", "legacy Excel 97-2003 .xls is not supported; save it as .xlsx"),
    (PPT, "deck.ppt", "legacy PowerPoint 97-2003 .ppt is not supported; save it as .pptx"),
    ("application/encrypted", "password_protected.xlsx",
     "a password-protected (encrypted) file is not supported; remove the password"),
])
def test_unsupported_legacy_office_is_refused_by_name(real: str, name: str, says: str) -> None:
    if real != "application/encrypted":  # what libmagic says for the real encrypted XLSX
        assert resolve_type("application/x-ole-storage", name, None) == real
    verdict = check_type(real=real, name=name, declared_type=None, allowlist=ALLOW)
    assert verdict.reason is Reason.MIME_NOT_ALLOWED
    assert verdict.detail is not None and verdict.detail.startswith(says)
