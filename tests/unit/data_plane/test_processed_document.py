"""A sandbox result changes its parsed and its redacted document alike."""

from __future__ import annotations

from data_plane.domain.canonical import CanonicalDocument, ParseStatus
from data_plane.domain.policy.classification import Classification, DocType, Sensitivity
from data_plane.domain.policy.outcome import PolicyOutcome
from data_plane.domain.policy.pii import PiiOutcome
from data_plane.domain.policy.safety import SafetyAssessment, Verdict
from data_plane.domain.processing import ProcessedDocument


def doc(title: str) -> CanonicalDocument:
    return CanonicalDocument(
        document_id="d", tenant="t", source_sha256="", source_name="a.txt",
        mime_type="text/plain", parser="p", parser_version="1", status=ParseStatus.SUCCESS,
        title=title)


def test_map_documents_reaches_the_redacted_document_too() -> None:
    outcome = PolicyOutcome(
        document=doc("redacted"), pii=PiiOutcome(doc("redacted"), ()),
        safety=SafetyAssessment(Verdict.PASS, 0.0, None, ()),
        classification=Classification(DocType.OTHER, Sensitivity.INTERNAL, "rules"))
    result = ProcessedDocument(document=doc("parsed"), outcome=outcome)
    changed = result.map_documents(lambda d: d.model_copy(update={"metadata": {"k": "v"}}))
    assert changed.document.metadata == {"k": "v"} and changed.document.title == "parsed"
    assert changed.outcome is not None
    assert changed.outcome.document.metadata == {"k": "v"}
    assert changed.outcome.document.title == "redacted"
    assert result.document.metadata == {}  # the original is left as it was


def test_map_documents_without_an_outcome_changes_the_parsed_document_only() -> None:
    changed = ProcessedDocument(document=doc("parsed")).map_documents(
        lambda d: d.model_copy(update={"title": "new"}))
    assert changed.document.title == "new" and changed.outcome is None
