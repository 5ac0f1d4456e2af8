"""Classification (issue 5): document type and sensitivity from rules, tenant rules and a
model slot; the search filters that use them."""

from __future__ import annotations

import pytest

from data_plane.domain.canonical import CanonicalDocument, Element, ElementType
from data_plane.domain.policy.classification import (
    ClassificationRule,
    DocType,
    Sensitivity,
    classify,
)
from data_plane.domain.retrieval import SearchFilters, SearchRequest
from data_plane.services.search import index_filter


def _doc(text: str, mime: str = "application/pdf") -> CanonicalDocument:
    elements = tuple(Element(index=i, type=ElementType.PARAGRAPH, text=line)
                     for i, line in enumerate(text.split("\n")))
    return CanonicalDocument(document_id="d", tenant="t", source_sha256="0" * 64,
                             source_name="f", mime_type=mime, parser="p", parser_version="1",
                             status="SUCCESS", elements=elements)


@pytest.mark.parametrize(("text", "mime", "expected"), [
    ("INVOICE 2024-117\nBill to: ACME\nSubtotal 100\nVAT 19\nAmount due 119",
     "application/pdf", DocType.INVOICE),
    ("SERVICE AGREEMENT\nWhereas the parties agree\nGoverning law: Germany\nTermination",
     "application/pdf", DocType.CONTRACT),
    ("Dear Ms Jones,\nThank you for your letter.\nKind regards,\nTom", "text/plain",
     DocType.CORRESPONDENCE),
    ("Travel policy\nScope: applies to all staff\nResponsibilities\nCompliance",
     "text/plain", DocType.POLICY),
    ("Annual report\nExecutive summary\nFindings and recommendations", "text/plain",
     DocType.REPORT),
    ("a,b\n1,2", "text/csv", DocType.SPREADSHEET),
    ("Slide one", "application/vnd.openxmlformats-officedocument.presentationml.presentation",
     DocType.PRESENTATION),
    ("Lorem ipsum dolor sit amet", "text/plain", DocType.OTHER),
])
def test_document_type_from_keywords_and_structure(text: str, mime: str,
                                                   expected: DocType) -> None:
    assert classify(_doc(text, mime), pii_counts={}).doc_type is expected


def test_sensitivity_from_markings_and_pii_density() -> None:
    assert classify(_doc("Note"), pii_counts={}).sensitivity is Sensitivity.INTERNAL
    assert classify(_doc("CONFIDENTIAL\nNote"), pii_counts={}).sensitivity is \
        Sensitivity.CONFIDENTIAL
    assert classify(_doc("Press release\nNews"), pii_counts={}).sensitivity is \
        Sensitivity.PUBLIC
    assert classify(_doc("Payroll"), pii_counts={"IBAN_CODE": 1}).sensitivity is \
        Sensitivity.RESTRICTED
    assert classify(_doc("a b c d"), pii_counts={"EMAIL_ADDRESS": 3}).sensitivity is \
        Sensitivity.CONFIDENTIAL


def test_tenant_rules_win_and_a_model_fills_the_slot() -> None:
    rules = [ClassificationRule(r"\bclaim form\b", DocType.OTHER, Sensitivity.RESTRICTED)]
    got = classify(_doc("Claim form\nInvoice\nAmount due"), pii_counts={}, rules=rules)
    assert (got.doc_type, got.sensitivity, got.source) == (
        DocType.OTHER, Sensitivity.RESTRICTED, "tenant_rule")

    class Model:
        name = "stub-model"

        def classify(self, text: str) -> DocType | None:
            return DocType.REPORT

    got = classify(_doc("Lorem ipsum"), pii_counts={}, model=Model())
    assert (got.doc_type, got.source) == (DocType.REPORT, "stub-model")


def test_search_filters_on_type_and_sensitivity() -> None:
    req = SearchRequest(query="q", filters=SearchFilters(doc_types=["Invoice"],
                                                         sensitivity=["internal", "PUBLIC"]))
    flt = index_filter(req)
    assert flt is not None
    assert flt.must == {"doc_type": ["invoice"], "sensitivity": ["INTERNAL", "PUBLIC"]}
