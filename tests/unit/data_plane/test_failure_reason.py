"""Why a FAILED document failed, as the vendor reads it."""

from __future__ import annotations

import pytest

from data_plane.domain.canonical import CanonicalDocument, ErrorItem, ParseStatus
from data_plane.domain.intake import Reason
from data_plane.services.pipeline import failure_reason


def failed(*messages: str) -> CanonicalDocument:
    return CanonicalDocument(
        document_id="d", tenant="t", source_sha256="", source_name="x.pdf",
        mime_type="application/pdf", parser="p", parser_version="1",
        status=ParseStatus.FAILED,
        errors=tuple(ErrorItem(component="p", message=m) for m in messages))


@pytest.mark.parametrize(("messages", "reason"), [
    # every parser read it and found nothing: a blank scan, a logo
    (("NO_TEXT_EXTRACTED: pdfplumber: no text", "NO_TEXT_EXTRACTED: ocr: OCR found no text"),
     Reason.NO_TEXT_EXTRACTED),
    # a damaged file that later parsers "found no text in" is still a damaged file
    (("PARSE_FAILED: pdfplumber: PdfiumError: Failed to load document",
      "NO_TEXT_EXTRACTED: unstructured: no text", "NO_TEXT_EXTRACTED: ocr: no text"),
     Reason.PARSE_FAILED),
    (("ENCRYPTED: pdfplumber: the PDF is password-protected",), Reason.PARSE_FAILED),
    ((), Reason.PARSE_FAILED),
])
def test_no_text_only_when_every_parser_read_the_file_and_found_none(
        messages: tuple[str, ...], reason: Reason) -> None:
    assert failure_reason(failed(*messages)) is reason
