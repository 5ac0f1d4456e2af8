"""PII policy (issue 5): checksums, overlap resolution, redaction of a canonical document,
and the Presidio adapter in its model-free mode."""

from __future__ import annotations

import pytest

from data_plane.adapters.pii_presidio import PresidioPiiDetector
from data_plane.domain.canonical import CanonicalDocument, Element, ElementType, TableCell
from data_plane.domain.policy import checksums
from data_plane.domain.policy.pii import (
    Action,
    Detection,
    PiiPolicy,
    apply_pii_policy,
    resolve_overlaps,
)
from data_plane.services.policy import DEFAULT_ENTITY_THRESHOLDS


@pytest.mark.parametrize(("check", "valid", "invalid"), [
    (checksums.luhn_valid, "4111 1111 1111 1111", "4111 1111 1111 1112"),
    (checksums.luhn_valid, "5500-0000-0000-0004", "5500-0000-0000-0005"),
    (checksums.iban_valid, "DE89 3704 0044 0532 0130 00", "DE88 3704 0044 0532 0130 00"),
    (checksums.iban_valid, "GB82WEST12345698765432", "GB82WEST12345698765433"),
    (checksums.uk_nino_valid, "AB123456C", "BG123456C"),
    (checksums.uk_nino_valid, "JG 10 37 56 A", "AB123456E"),
    (checksums.de_tax_id_valid, "86095742719", "86095742718"),
    (checksums.de_tax_id_valid, "47036892816", "12345678901"),
    (checksums.es_nif_valid, "12345678Z", "12345678A"),
    (checksums.es_nif_valid, "X1234567L", "X1234567A"),
    (checksums.nl_bsn_valid, "111222333", "111222334"),
    (checksums.us_ssn_plausible, "536-22-1234", "666-22-1234"),
])
def test_checksums_accept_valid_and_refuse_look_alikes(check: object, valid: str,
                                                       invalid: str) -> None:
    assert callable(check)
    assert check(valid) is True
    assert check(invalid) is False


class _Fixed:
    """A detector double returning preset spans (the policy logic is what is tested)."""

    def __init__(self, spans: dict[str, list[Detection]]) -> None:
        self._spans = spans

    def detect(self, text: str) -> list[Detection]:
        return self._spans.get(text, [])


def _doc(*elements: Element, title: str | None = None) -> CanonicalDocument:
    return CanonicalDocument(document_id="d", tenant="t", source_sha256="0" * 64,
                             source_name="a.txt", mime_type="text/plain", title=title,
                             parser="test", parser_version="1", status="SUCCESS",
                             elements=elements)


def test_overlap_keeps_the_more_protective_action_then_the_higher_score() -> None:
    policy = PiiPolicy()
    dets = [Detection("PHONE_NUMBER", 0, 20, 0.9), Detection("IBAN_CODE", 5, 27, 0.6),
            Detection("EMAIL_ADDRESS", 30, 40, 0.5), Detection("IP_ADDRESS", 30, 40, 0.6)]
    kept = resolve_overlaps(dets, policy)
    assert [(d.entity_type, d.start) for d in kept] == [("IBAN_CODE", 5), ("IP_ADDRESS", 30)]


def test_detections_below_their_threshold_are_dropped() -> None:
    policy = PiiPolicy(score_threshold=0.5, entity_thresholds={"PHONE_NUMBER": 0.4})
    kept = resolve_overlaps([Detection("PHONE_NUMBER", 0, 5, 0.4),
                             Detection("US_SSN", 10, 21, 0.3)], policy)
    assert [d.entity_type for d in kept] == ["PHONE_NUMBER"]


def test_redaction_reaches_text_cells_heading_paths_and_title() -> None:
    iban = "DE89 3704 0044 0532 0130 00"
    heading = f"Account {iban}"
    body = f"Pay to {iban} or mail a@b.de"
    spans = {
        heading: [Detection("IBAN_CODE", 8, 8 + len(iban), 1.0)],
        body: [Detection("IBAN_CODE", 7, 7 + len(iban), 1.0),
               Detection("EMAIL_ADDRESS", len(body) - 6, len(body), 1.0)],
        iban: [Detection("IBAN_CODE", 0, len(iban), 1.0)],
    }
    doc = _doc(
        Element(index=0, type=ElementType.HEADING, text=heading, level=1),
        Element(index=1, type=ElementType.PARAGRAPH, text=body, heading_path=(heading,)),
        Element(index=2, type=ElementType.TABLE, text="| IBAN |\n|---|\n| x |",
                heading_path=(heading,),
                cells=(TableCell(row=0, col=0, text="IBAN"),
                       TableCell(row=1, col=0, text=iban))),
        title=heading)
    out = apply_pii_policy(doc, _Fixed(spans), PiiPolicy())
    dumped = out.document.to_json()
    assert iban not in dumped
    assert "a@b.de" in dumped  # FLAG keeps the value
    assert out.document.elements[1].text == "Pay to <IBAN_CODE> or mail a@b.de"
    assert out.document.elements[1].heading_path == ("Account <IBAN_CODE>",)
    assert out.document.elements[2].cells[1].text == "<IBAN_CODE>"
    assert out.counts() == {"EMAIL_ADDRESS": {"FLAG": 1}, "IBAN_CODE": {"REDACT": 4}}
    cell = [f for f in out.findings if f.location == "cell"]
    assert (cell[0].element_index, cell[0].cell_row, cell[0].cell_col) == (2, 1, 0)
    assert not out.blocked


def test_findings_never_carry_the_value() -> None:
    text = "card 4111 1111 1111 1111"
    doc = _doc(Element(index=0, type=ElementType.PARAGRAPH, text=text))
    out = apply_pii_policy(doc, _Fixed({text: [Detection("CREDIT_CARD", 5, 24, 1.0)]}),
                           PiiPolicy())
    assert "4111" not in repr(out.findings)
    assert (out.findings[0].start, out.findings[0].end) == (5, 24)


def test_tenant_override_blocks() -> None:
    policy = PiiPolicy.from_config({"email_address": "BLOCK"})
    assert policy.action_for("EMAIL_ADDRESS") is Action.BLOCK
    assert policy.action_for("CREDIT_CARD") is Action.REDACT
    assert policy.action_for("SOMETHING_NEW") is Action.FLAG
    text = "x a@b.de"
    doc = _doc(Element(index=0, type=ElementType.PARAGRAPH, text=text))
    out = apply_pii_policy(doc, _Fixed({text: [Detection("EMAIL_ADDRESS", 2, 8, 1.0)]}),
                           policy)
    assert out.blocked and "a@b.de" not in out.document.to_json()


@pytest.fixture(scope="module")
def presidio() -> PresidioPiiDetector:
    return PresidioPiiDetector()


@pytest.mark.parametrize(("text", "entity", "value"), [
    ("Contact jane.doe@example.org today", "EMAIL_ADDRESS", "jane.doe@example.org"),
    ("Call +44 20 7946 0958 now", "PHONE_NUMBER", "+44 20 7946 0958"),
    ("Card 4111 1111 1111 1111 expires", "CREDIT_CARD", "4111 1111 1111 1111"),
    ("IBAN DE89 3704 0044 0532 0130 00.", "IBAN_CODE", "DE89 3704 0044 0532 0130 00"),
    ("SSN 536-22-1234 on file", "US_SSN", "536-22-1234"),
    ("Host 192.168.10.24 answered", "IP_ADDRESS", "192.168.10.24"),
    ("NINO AB123456C", "UK_NINO", "AB123456C"),
    ("Steuer-IdNr 86095742719", "DE_TAX_ID", "86095742719"),
    ("DNI 12345678Z", "ES_NIF", "12345678Z"),
    ("BSN 111222333", "NL_BSN", "111222333"),
])
def test_presidio_finds_each_entity(presidio: PresidioPiiDetector, text: str, entity: str,
                                    value: str) -> None:
    policy = PiiPolicy(entity_thresholds=DEFAULT_ENTITY_THRESHOLDS)
    kept = resolve_overlaps(presidio.detect(text), policy)
    assert [(d.entity_type, text[d.start:d.end]) for d in kept] == [(entity, value)]


def test_presidio_ignores_checksum_invalid_look_alikes(presidio: PresidioPiiDetector) -> None:
    text = ("Order 4111 1111 1111 1112, ref DE88 3704 0044 0532 0130 00, id 86095742718, "
            "code 12345678A, no. 111222334")
    policy = PiiPolicy(entity_thresholds=DEFAULT_ENTITY_THRESHOLDS)
    assert resolve_overlaps(presidio.detect(text), policy) == []


@pytest.mark.parametrize("text", [
    "Invoice no. 2024-000123 dated 15.03.2024, order 4500012345",
    "EAN 4006381333931, UPC 036000291452",
    "Policy number 123456789012, claim 2024/556677",
])
def test_reference_numbers_are_not_phone_numbers(presidio: PresidioPiiDetector,
                                                 text: str) -> None:
    policy = PiiPolicy(entity_thresholds=DEFAULT_ENTITY_THRESHOLDS)
    assert resolve_overlaps(presidio.detect(text), policy) == []


def test_a_lower_case_iban_is_still_an_iban(presidio: PresidioPiiDetector) -> None:
    text = "paid from de89 3704 0044 0532 0130 00 yesterday"
    policy = PiiPolicy(entity_thresholds=DEFAULT_ENTITY_THRESHOLDS)
    assert [(d.entity_type, text[d.start:d.end]) for d in
            resolve_overlaps(presidio.detect(text), policy)] == [
        ("IBAN_CODE", "de89 3704 0044 0532 0130 00")]


def test_an_ip_address_is_not_also_a_phone_number(presidio: PresidioPiiDetector) -> None:
    text = "gateway 10.20.30.40"
    policy = PiiPolicy(entity_thresholds=DEFAULT_ENTITY_THRESHOLDS)
    assert [d.entity_type for d in resolve_overlaps(presidio.detect(text), policy)] == [
        "IP_ADDRESS"]


def test_a_document_without_pii_comes_back_unchanged(presidio: PresidioPiiDetector) -> None:
    doc = _doc(Element(index=0, type=ElementType.PARAGRAPH, text="Quarterly totals rose 4%."))
    out = apply_pii_policy(doc, presidio, PiiPolicy())
    assert out.document == doc and out.findings == ()


def test_optional_ner_finds_people_and_places_offline() -> None:
    detector = PresidioPiiDetector(ner=True)
    text = "Angela Merkel met John Smith in Berlin."
    found = {(d.entity_type, text[d.start:d.end]) for d in detector.detect(text)}
    assert {("PERSON", "Angela Merkel"), ("PERSON", "John Smith"),
            ("LOCATION", "Berlin")} <= found


def test_windowed_phone_search_finds_what_presidio_finds() -> None:
    import json
    from pathlib import Path

    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    from data_plane.adapters.pii_presidio import _WindowedPhoneRecognizer

    regions = ["US", "GB", "DE", "FR", "NL", "ES"]
    full, windowed = (PhoneRecognizer(supported_regions=regions),
                      _WindowedPhoneRecognizer(supported_regions=regions))
    data = Path(__file__).resolve().parents[2] / "data" / "policy" / "pii.jsonl"
    for line in data.read_text().splitlines():
        text = json.loads(line)["text"]

        def phones(rec: PhoneRecognizer, text: str = text) -> set[str]:
            return {text[r.start:r.end] for r in rec.analyze(text, ["PHONE_NUMBER"])
                    if sum(ch.isdigit() for ch in text[r.start:r.end]) >= 7}

        assert phones(windowed) == phones(full), text
