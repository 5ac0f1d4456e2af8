"""The standalone HTML acceptance report: every document listed, hostile names escaped,
no external assets."""

from __future__ import annotations

import re
from typing import Any

from data_plane.domain.intake_explanations import explain
from data_plane.services.intake_report_html import render_report_html


def _doc(name: str, status: str, reason: str | None) -> dict[str, Any]:
    told = explain(status, reason)
    return {"name": name, "document_id": None, "status": status, "reason": reason,
            "detail": None, "mime_type": "application/pdf", "parser": None,
            "parse_status": None, "chunks": None, "explanation": told.explanation,
            "what_to_do": told.what_to_do, "pii": {"EMAIL_ADDRESS": {"REDACT": 2}}}


def _report(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"batch_id": "b1", "client_ref": "ref <1>", "received_at": "2026-01-01",
            "generated_at": "2026-01-02", "status": "COMPLETED_WITH_ERRORS",
            "counts": {"files": len(docs), "chunks": 3, "by_status": {"REJECTED": 1},
                       "by_reason": {"CHECKSUM_MISMATCH": 1}},
            "embedding_model": {"model": "m", "dimension": 384},
            "audit": {"head_seq": 7, "head_hash": "ab" * 32}, "documents": docs}


def test_every_document_is_listed_with_what_to_do() -> None:
    docs = [_doc(f"file-{i}.pdf", "INDEXED", None) for i in range(30)]
    docs.append(_doc("bad.pdf", "REJECTED", "CHECKSUM_MISMATCH"))
    page = render_report_html(_report(docs))
    assert page.count("<tr><td>") == 31
    assert "re-export the file, rebuild the manifest" in page.lower()
    assert "EMAIL_ADDRESS 2" in page


def test_hostile_names_are_escaped_and_nothing_is_fetched() -> None:
    page = render_report_html(_report([_doc("<script>alert(1)</script>.pdf", "REJECTED",
                                            "UNSAFE_NAME")]))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "ref &lt;1&gt;" in page
    assert not re.search(r"(src|href)\s*=|<link|@import|url\(", page)
    assert "@media print" in page
