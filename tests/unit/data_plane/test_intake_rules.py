"""Per-file verdicts and batch status rules of SPEC §5.1 and §9."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from data_plane.domain.intake import (
    BatchStatus,
    DocStatus,
    Manifest,
    ManifestFile,
    Reason,
    batch_status,
    check_received_file,
    escape_name,
    unsafe_name,
)

SHA = "a" * 64
OTHER = "b" * 64


def _entry(size: int = 10, sha: str = SHA) -> ManifestFile:
    return ManifestFile(name="x.pdf", sha256=sha, size=size)


@pytest.mark.parametrize(
    ("size", "sha", "limit", "expected"),
    [
        (10, SHA, 100, None),
        (0, SHA, 100, Reason.EMPTY_FILE),
        (200, SHA, 100, Reason.SIZE_LIMIT),
        (11, SHA, 100, Reason.SIZE_MISMATCH),
        (10, OTHER, 100, Reason.CHECKSUM_MISMATCH),
        (11, OTHER, 100, Reason.SIZE_MISMATCH),  # size is checked before the checksum
    ],
)
def test_byte_checks_in_spec_order(size: int, sha: str, limit: int,
                                   expected: Reason | None) -> None:
    assert check_received_file(_entry(), size=size, sha256=sha, max_file_bytes=limit) == expected


@pytest.mark.parametrize(
    ("name", "unsafe"),
    [("report.pdf", False), ("a/b.pdf", True), ("..", True), ("a\\b", True),
     ("nul\x00.pdf", True), ("bidi\u202egpj.exe", True), ("x" * 300, True),
     ("été 2026.docx", False)],
)
def test_unsafe_names(name: str, unsafe: bool) -> None:
    assert unsafe_name(name) is unsafe


def test_escaped_names_are_printable() -> None:
    assert escape_name("nul\x00.pdf") == "nul\\x00.pdf"


def test_manifest_validation() -> None:
    m = Manifest.model_validate({"client_ref": "r1", "files": [
        {"name": "a.pdf", "sha256": SHA.upper(), "size": 3}]})
    assert m.files[0].sha256 == SHA
    with pytest.raises(ValidationError):
        Manifest.model_validate({"client_ref": "r1", "files": []})
    with pytest.raises(ValidationError):
        Manifest.model_validate({"client_ref": "r1", "files": [
            {"name": "a.pdf", "sha256": "xyz", "size": 3}]})
    dup = Manifest.model_validate({"client_ref": "r", "files": [
        {"name": "a", "sha256": SHA, "size": 1}, {"name": "a", "sha256": SHA, "size": 1}]})
    assert dup.duplicate_names() == ["a"]


@pytest.mark.parametrize(
    ("docs", "expected"),
    [
        ([], BatchStatus.COMPLETED),  # every document erased
        ([(DocStatus.INDEXED, None), (DocStatus.PROCESSING, None)], BatchStatus.PROCESSING),
        ([(DocStatus.INDEXED, None), (DocStatus.REJECTED, Reason.DUPLICATE)],
         BatchStatus.COMPLETED),
        ([(DocStatus.INDEXED, None), (DocStatus.REJECTED, Reason.CHECKSUM_MISMATCH)],
         BatchStatus.COMPLETED_WITH_ERRORS),
        ([(DocStatus.FAILED, Reason.NO_TEXT_EXTRACTED)], BatchStatus.COMPLETED_WITH_ERRORS),
    ],
)
def test_batch_status(docs: list[tuple[DocStatus, Reason | None]],
                      expected: BatchStatus) -> None:
    assert batch_status(docs) is expected
