"""Document type and sensitivity from rules (keywords, structure, PII density and the
tenant's own rules), with a slot for a model that may override the rules' guess."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from data_plane.domain.canonical import CanonicalDocument, ElementType


class DocType(StrEnum):
    INVOICE = "invoice"
    CONTRACT = "contract"
    POLICY = "policy"
    CORRESPONDENCE = "correspondence"
    REPORT = "report"
    SPREADSHEET = "spreadsheet"
    PRESENTATION = "presentation"
    OTHER = "other"


class Sensitivity(StrEnum):
    PUBLIC = "PUBLIC"
    INTERNAL = "INTERNAL"
    CONFIDENTIAL = "CONFIDENTIAL"
    RESTRICTED = "RESTRICTED"


_RANK = {s: i for i, s in enumerate(Sensitivity)}

_KEYWORDS: Mapping[DocType, tuple[str, ...]] = {
    DocType.INVOICE: ("invoice", "rechnung", "factura", "facture", "amount due", "bill to",
                      "vat", "subtotal", "payment terms", "invoice number", "due date"),
    DocType.CONTRACT: ("agreement", "contract", "hereinafter", "whereas", "the parties",
                       "governing law", "termination", "in witness whereof", "shall"),
    DocType.POLICY: ("policy", "procedure", "compliance", "must comply", "scope",
                     "responsibilities", "applies to all", "standard operating"),
    DocType.CORRESPONDENCE: ("dear ", "regards", "sincerely", "subject:", "from:", "to:",
                             "kind regards", "yours faithfully"),
    DocType.REPORT: ("report", "executive summary", "findings", "conclusion", "analysis",
                     "quarter", "results", "recommendations"),
}

_SPREADSHEET_MIMES = ("spreadsheetml", "text/csv", "ms-excel")
_PRESENTATION_MIMES = ("presentationml", "ms-powerpoint")
_EMAIL_MIMES = ("message/rfc822", "vnd.ms-outlook")

_MARKINGS: tuple[tuple[re.Pattern[str], Sensitivity], ...] = (
    (re.compile(r"\b(?:strictly confidential|restricted|top secret|secret)\b", re.I),
     Sensitivity.RESTRICTED),
    (re.compile(r"\b(?:confidential|vertraulich|privileged)\b", re.I), Sensitivity.CONFIDENTIAL),
    (re.compile(r"\b(?:internal use only|internal only|nur für den internen)\b", re.I),
     Sensitivity.INTERNAL),
    (re.compile(r"\b(?:public release|for publication|press release)\b", re.I),
     Sensitivity.PUBLIC),
)


@dataclass(frozen=True)
class ClassificationRule:
    """A tenant rule: if the text matches ``pattern``, the type and/or the minimum
    sensitivity it names apply (rules are tried in order; the first type wins)."""

    pattern: str
    doc_type: DocType | None = None
    sensitivity: Sensitivity | None = None


@dataclass(frozen=True)
class Classification:
    doc_type: DocType
    sensitivity: Sensitivity
    source: str  # "rules", "tenant_rule", or a model's name


class DocumentClassifier(Protocol):
    """The model slot: a classifier that may return a type, or None to keep the rules'."""

    name: str

    def classify(self, text: str) -> DocType | None:
        ...


def classify(doc: CanonicalDocument, *, pii_counts: Mapping[str, int],
             rules: Sequence[ClassificationRule] = (),
             model: DocumentClassifier | None = None) -> Classification:
    """Rules first (the tenant's, then ours), then the model if one is configured; the
    sensitivity is the highest of markings, PII density and tenant rules."""
    text = "\n".join(e.text for e in doc.elements[:400])
    head = "\n".join([doc.title or "", doc.source_name, text[:4000]])
    source = "rules"
    doc_type: DocType | None = None
    sensitivity = Sensitivity.INTERNAL
    for rule in rules:
        if re.search(rule.pattern, text, re.IGNORECASE):
            if rule.doc_type is not None and doc_type is None:
                doc_type, source = rule.doc_type, "tenant_rule"
            if rule.sensitivity is not None and _RANK[rule.sensitivity] > _RANK[sensitivity]:
                sensitivity = rule.sensitivity
    if doc_type is None and model is not None:
        guess = model.classify(text[:8000])
        if guess is not None:
            doc_type, source = guess, model.name
    if doc_type is None:
        doc_type = _rule_type(doc, head.lower())
    for rx, level in _MARKINGS:
        if rx.search(head):
            if level is Sensitivity.PUBLIC and not pii_counts:
                sensitivity = Sensitivity.PUBLIC
            elif _RANK[level] > _RANK[sensitivity]:
                sensitivity = level
            break
    return Classification(doc_type, max(sensitivity, _pii_sensitivity(pii_counts, text),
                                        key=_RANK.__getitem__), source)


def _rule_type(doc: CanonicalDocument, head: str) -> DocType:
    mime = doc.mime_type
    if any(m in mime for m in _SPREADSHEET_MIMES):
        return DocType.SPREADSHEET
    if any(m in mime for m in _PRESENTATION_MIMES):
        return DocType.PRESENTATION
    scores = {t: sum(head.count(k) for k in kws) for t, kws in _KEYWORDS.items()}
    if any(m in mime for m in _EMAIL_MIMES) or any(
            e.type is ElementType.EMAIL_HEADER for e in doc.elements[:20]):
        scores[DocType.CORRESPONDENCE] += 3
    best = max(scores, key=lambda t: scores[t])
    return best if scores[best] >= 2 else DocType.OTHER


_STRONG_PII = ("CREDIT_CARD", "IBAN_CODE", "US_SSN", "UK_NINO", "DE_TAX_ID", "ES_NIF",
               "NL_BSN")


def _pii_sensitivity(counts: Mapping[str, int], text: str) -> Sensitivity:
    """Payment data or national IDs make a document restricted; many contact details per
    thousand words make it confidential."""
    if any(counts.get(t, 0) for t in _STRONG_PII):
        return Sensitivity.RESTRICTED
    words = max(len(text.split()), 1)
    contacts = sum(counts.values())
    if contacts and contacts * 1000 / words >= 5:
        return Sensitivity.CONFIDENTIAL
    return Sensitivity.PUBLIC  # no floor from PII
