"""E-mail attachments parsed as documents of their own and merged under "Attachment: <name>"."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from pathlib import Path

import pytest

from data_plane.adapters.parsers import ParserRouter
from data_plane.adapters.parsers.attachments import email_attachments
from data_plane.domain.canonical import CanonicalDocument, ElementType, ParseStatus, load_canonical
from data_plane.domain.ports import ParseRequest

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "samples" / "infusion-pump-recall.eml"
MP3_MAIL = ROOT.parent / "shared/corpus/real/mime-attach-mp3.eml"
SUBJECT = "Field safety notice: infusion pump battery packs LOT-7741/7742"


@pytest.fixture(scope="module")
def router() -> ParserRouter:
    return ParserRouter()


def parse(router: ParserRouter, path: Path) -> CanonicalDocument:
    return router.parse(ParseRequest(
        document_id=f"doc-{path.stem}", tenant="acme", path=path, name=path.name, mime_type="",
        sha256=hashlib.sha256(path.read_bytes()).hexdigest()))


def test_the_sample_keeps_body_headers_and_both_attachments(router: ParserRouter) -> None:
    doc = parse(router, SAMPLE)
    assert doc.status is ParseStatus.SUCCESS and doc.parser == "docling"
    assert doc.metadata["subject"] == SUBJECT
    assert doc.metadata["from"] == "Quality Assurance <qa@medidevice-recalls.example>"
    assert [(a.name, a.status, a.elements > 0) for a in doc.attachments] == [
        ("affected-serials.csv", ParseStatus.SUCCESS, True),
        ("battery-replacement-procedure.md", ParseStatus.SUCCESS, True)]
    serials = doc.attachments[0]
    assert serials.parser == "docling" and serials.mime_type == "text/csv"
    assert serials.sha256 == hashlib.sha256(
        email_attachments(SAMPLE)[0].data).hexdigest()
    body = next(e for e in doc.elements if e.text.startswith("We are recalling"))
    assert body.heading_path == (SUBJECT,) and "attachment" not in body.attributes
    table = next(e for e in doc.elements if e.type is ElementType.TABLE)
    assert table.heading_path == (SUBJECT, "Attachment: affected-serials.csv")
    assert table.attributes["attachment"] == "affected-serials.csv"
    assert {c.text for c in table.cells} >= {"serial_number", "IP-21007", "Paediatrics"}
    step = next(e for e in doc.elements if e.text.startswith("Unscrew the battery cover"))
    assert step.type is ElementType.LIST_ITEM
    assert step.heading_path == (SUBJECT, "Attachment: battery-replacement-procedure.md",
                                 "Battery Pack Replacement Procedure", "Replacing the Pack")
    assert [e.index for e in doc.elements] == list(range(len(doc.elements)))
    roles = [s.details.get("attachment") for s in doc.lineage if s.details.get("role")
             == "attachment"]
    assert roles == ["affected-serials.csv", "battery-replacement-procedure.md"]
    assert load_canonical(doc.to_json()) == doc


def test_a_broken_attachment_makes_the_mail_partial_and_forwarded_files_are_found(
        router: ParserRouter, tmp_path: Path) -> None:
    inner = EmailMessage()
    inner["Subject"] = "Original complaint"
    inner.set_content("The freezer in room 12 alarmed twice overnight and lost temperature.")
    inner.add_attachment(b"time,temp\n02:00,-12\n03:00,-9\n", maintype="text", subtype="csv",
                         filename="freezer-temps.csv")
    msg = EmailMessage()
    msg["Subject"] = "Fwd: freezer complaint"
    msg.set_content("Forwarding the complaint below, and the broken log export.")
    msg.add_attachment(b"%PDF-1.4 this is not really a pdf", maintype="application",
                       subtype="pdf", filename="../../etc/log-export.pdf")
    msg.add_attachment(b"ID3\x03\x00" + bytes(200), maintype="audio", subtype="mpeg",
                       filename="voicemail.mp3")
    msg.add_attachment(inner)
    path = tmp_path / "fwd.eml"
    path.write_bytes(msg.as_bytes())
    doc = parse(router, path)
    assert doc.status is ParseStatus.PARTIAL_SUCCESS
    by_name = {a.name: a for a in doc.attachments}
    assert list(by_name) == ["log-export.pdf", "voicemail.mp3", "freezer-temps.csv"]
    assert by_name["log-export.pdf"].status is ParseStatus.FAILED
    assert any(e.message.startswith("attachment 'log-export.pdf': PARSE_FAILED")
               for e in doc.errors)
    assert by_name["voicemail.mp3"].skipped == "UNSUPPORTED_FORMAT"
    assert by_name["voicemail.mp3"].status is None
    forwarded = [e for e in doc.elements if "freezer in room 12" in e.text]
    assert len(forwarded) == 1  # the forwarded text once, in the body
    table = next(e for e in doc.elements if e.type is ElementType.TABLE)
    assert table.heading_path == ("Fwd: freezer complaint", "Attachment: freezer-temps.csv")


@pytest.mark.skipif(not MP3_MAIL.exists(), reason="shared corpus not present")
def test_a_real_mail_with_an_audio_attachment_parses(router: ParserRouter) -> None:
    doc = parse(router, MP3_MAIL)
    assert doc.status is ParseStatus.SUCCESS and doc.text_chars > 0
    assert [a.skipped for a in doc.attachments if a.mime_type.startswith("audio/")] == [
        "UNSUPPORTED_FORMAT"]
