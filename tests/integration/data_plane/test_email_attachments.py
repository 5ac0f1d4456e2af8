"""E-mail attachments, as the parser sandbox hands them to the worker (issue 12): extracted to
files and listed on the e-mail's canonical document, never parsed into it — each becomes a
child document through intake (see tests/e2e/test_email_attachments_e2e.py)."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from pathlib import Path

import pytest

from data_plane.adapters.parsers import ParserRouter
from data_plane.adapters.parsers.attachments import attachment_path, email_attachments
from data_plane.domain.canonical import CanonicalDocument, ElementType, ParseStatus, load_canonical
from data_plane.domain.ports import ParseRequest

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "samples" / "infusion-pump-recall.eml"
MP3_MAIL = ROOT.parent / "shared/corpus/real/mime-attach-mp3.eml"
SUBJECT = "Field safety notice: infusion pump battery packs LOT-7741/7742"


@pytest.fixture(scope="module")
def router() -> ParserRouter:
    return ParserRouter()


def parse(router: ParserRouter, path: Path, folder: Path | None = None) -> CanonicalDocument:
    return router.parse(ParseRequest(
        document_id=f"doc-{path.stem}", tenant="acme", path=path, name=path.name, mime_type="",
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(), attachments_dir=folder))


def test_the_sample_lists_both_attachments_and_keeps_only_the_body(
        router: ParserRouter, tmp_path: Path) -> None:
    folder = tmp_path / "attachments"
    doc = parse(router, SAMPLE, folder)
    assert doc.status is ParseStatus.SUCCESS and doc.parser == "docling"
    assert doc.metadata["subject"] == SUBJECT
    assert doc.metadata["from"] == "Quality Assurance <qa@medidevice-recalls.example>"
    sent = email_attachments(SAMPLE)
    assert [(a.name, a.mime_type, a.sha256, a.size) for a in doc.attachments] == [
        (a.name, a.mime_type, hashlib.sha256(a.data).hexdigest(), len(a.data)) for a in sent]
    assert [a.name for a in doc.attachments] == [
        "affected-serials.csv", "battery-replacement-procedure.md"]
    # the files the worker will put through intake, byte for byte
    assert [attachment_path(folder, n).read_bytes() for n in (1, 2)] == [a.data for a in sent]
    body = next(e for e in doc.elements if e.text.startswith("We are recalling"))
    assert body.heading_path == (SUBJECT,)
    # no attachment text joins the e-mail any more: it is a document of its own
    assert not any("attachment" in e.attributes for e in doc.elements)
    assert not any(e.text.startswith("Unscrew the battery cover") for e in doc.elements)
    assert all(a.status is None and a.elements == 0 for a in doc.attachments)
    assert load_canonical(doc.to_json()) == doc


def test_without_a_folder_attachments_are_listed_but_not_written(
        router: ParserRouter, tmp_path: Path) -> None:
    copy = tmp_path / SAMPLE.name
    copy.write_bytes(SAMPLE.read_bytes())
    doc = parse(router, copy)
    assert len(doc.attachments) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [SAMPLE.name]


def test_forwarded_files_are_found_and_sender_names_are_kept_for_intake_to_judge(
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
    doc = parse(router, path, tmp_path / "attachments")
    assert doc.status is ParseStatus.SUCCESS  # nothing of the attachments is parsed here
    # the sender's names as sent: intake rejects the one with a path as UNSAFE_NAME
    assert [a.name for a in doc.attachments] == [
        "../../etc/log-export.pdf", "voicemail.mp3", "freezer-temps.csv"]
    assert [a.mime_type for a in doc.attachments] == [
        "application/pdf", "audio/mpeg", "text/csv"]
    forwarded = [e for e in doc.elements if "freezer in room 12" in e.text]
    assert len(forwarded) == 1  # the forwarded text once, in the body
    assert not any(e.type is ElementType.TABLE for e in doc.elements)


@pytest.mark.skipif(not MP3_MAIL.exists(), reason="shared corpus not present")
def test_a_real_mail_with_an_audio_attachment_parses(router: ParserRouter) -> None:
    doc = parse(router, MP3_MAIL)
    assert doc.status is ParseStatus.SUCCESS and doc.text_chars > 0
    assert any(a.mime_type.startswith("audio/") for a in doc.attachments)


MSG_FILES = {
    ROOT.parent / "shared/corpus/docling/msg_with_attachment.msg": {"test.txt", "report.pdf"},
    ROOT.parent / "shared/corpus/real/fake-email-attachment.msg": {"fake-attachment.txt"},
}


@pytest.mark.parametrize("path", list(MSG_FILES), ids=lambda p: p.name)
def test_an_outlook_message_hands_over_its_attachments_too(
        router: ParserRouter, path: Path, tmp_path: Path) -> None:
    if not path.exists():
        pytest.skip("shared corpus not present")
    doc = parse(router, path, tmp_path / "attachments")
    assert doc.status is not ParseStatus.FAILED and doc.text_chars > 0
    assert {a.name for a in doc.attachments} == MSG_FILES[path]
    for number, info in enumerate(doc.attachments, start=1):
        written = attachment_path(tmp_path / "attachments", number).read_bytes()
        assert hashlib.sha256(written).hexdigest() == info.sha256 and info.size == len(written)
