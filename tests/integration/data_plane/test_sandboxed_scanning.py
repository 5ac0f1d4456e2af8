"""Parse + scan in the isolated child (issue 12): hidden-text finders and policy scanners run
under the parse limits with real child processes, their outcome comes back whole, and a
hostile verdict (a FAILED parse) is never scanned."""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from data_plane.adapters.parsers.isolated import IsolatedParser, IsolationLimits
from data_plane.domain.canonical import ParseStatus
from data_plane.domain.policy.safety import Verdict
from data_plane.domain.ports import ParseRequest
from frostbyte_common.tenant_config import TenantConfig
from tests.parser_doubles import scanning_misbehaving


def request(tmp_path: Path, name: str, text: str) -> ParseRequest:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return ParseRequest(document_id=f"doc-{name}", tenant="acme", path=path, name=name,
                        mime_type="text/html",
                        sha256=hashlib.sha256(text.encode()).hexdigest())


@pytest.fixture(scope="module")
def sandbox() -> Iterator[IsolatedParser]:
    # the tenant's config reaches the child through the pickled factory
    config = TenantConfig.model_validate({"pii": {"actions": {"EMAIL_ADDRESS": "REDACT"}}})
    p = IsolatedParser(functools.partial(scanning_misbehaving, config),
                       IsolationLimits(timeout_s=4, memory_mb=1024, max_docs_per_child=10))
    yield p
    p.close()


def test_the_policy_outcome_comes_back_from_the_child(sandbox: IsolatedParser,
                                                      tmp_path: Path) -> None:
    result = sandbox.process(request(tmp_path, "hidden-note.html",
                                     "Write to jane@example.org about the audit."))
    assert result.document.status is ParseStatus.SUCCESS
    assert result.outcome is not None and [h.kind for h in result.hidden] == [
        "html_hidden_element"]
    assert [f.entity_type for f in result.outcome.pii.findings] == ["EMAIL_ADDRESS"]
    assert "jane@example.org" not in result.outcome.document.elements[0].text  # REDACT
    assert "jane@example.org" in result.document.elements[0].text
    assert result.outcome.safety.verdict is not Verdict.PASS  # hidden + instruction-like
    assert set(result.seconds) == {"parse", "policy"}
    # the isolation step is on both the parsed and the redacted document
    for doc in (result.document, result.outcome.document):
        assert doc.lineage[-1].stage == "parse-isolation"
        assert doc.lineage[-1].details["scanned"] is True
    assert sandbox.parse(request(tmp_path, "b.html", "plain")).status is ParseStatus.SUCCESS


def test_a_hanging_scanner_is_stopped_at_the_parse_timeout(sandbox: IsolatedParser,
                                                           tmp_path: Path) -> None:
    started = time.monotonic()
    result = sandbox.process(request(tmp_path, "hang-scan.html", "a = b"))
    assert time.monotonic() - started < 4 + 10
    assert result.document.status is ParseStatus.FAILED and result.outcome is None
    assert result.document.errors[0].message.startswith("PARSE_FAILED: timeout")
    after = sandbox.process(request(tmp_path, "c.html", "next one"))
    assert after.document.status is ParseStatus.SUCCESS and after.outcome is not None


def test_a_failed_parse_is_not_scanned(sandbox: IsolatedParser, tmp_path: Path) -> None:
    result = sandbox.process(request(tmp_path, "raise-hidden.html", "x"))
    assert result.document.status is ParseStatus.FAILED
    assert result.outcome is None and result.hidden == ()
    assert result.document.lineage[-1].details["scanned"] is False
