"""Batch status and the vendor's acceptance report (JSON, CSV, HTML).

The CSV opens in a spreadsheet, and names (and details quoting them) come from vendors: a
text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
prefixed with a single quote (OWASP, CSV injection), so it shows as text, never runs as a
formula."""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from data_plane.domain.canonical import attempts_in_detail
from data_plane.domain.intake import BatchStatus, DocStatus, batch_status
from data_plane.domain.intake_explanations import explain
from data_plane.domain.ports import AuditLog, Batches
from data_plane.domain.records import BatchRecord, DocumentRecord
from data_plane.errors import BatchNotFound
from data_plane.services.intake import receipt_document
from data_plane.services.intake_report_html import render_report_html

REPORT_COLUMNS = ("name", "document_id", "status", "reason", "detail", "sha256", "mime_type",
                  "parser", "parser_version", "parse_status", "pages", "chunks", "doc_type",
                  "sensitivity", "safety", "safety_detail", "explanation", "what_to_do",
                  "parent_document_id")
#: What a spreadsheet reads as the start of a formula (OWASP's CSV-injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ReportStore(Batches, AuditLog, Protocol):
    """What the reports read of the system of record."""


class ReportService:
    def __init__(self, db: ReportStore, *,
                 embedding_model: dict[str, Any] | Callable[[], dict[str, Any]]) -> None:
        """``embedding_model``: the index's model, or what reads it at each report (a
        re-embedding switches it)."""
        self._db = db
        self._embedding_model = embedding_model

    def _documents(self, batch_id: uuid.UUID) -> tuple[BatchRecord, list[DocumentRecord]]:
        batch = self._db.get_batch(batch_id)
        if batch is None:
            raise BatchNotFound(f"batch {batch_id} does not exist")
        return batch, self._db.batch_documents(batch_id)

    def batch(self, batch_id: uuid.UUID) -> dict[str, Any]:
        """``GET /v1/batches/{id}``: status and per-document outcome."""
        batch, docs = self._documents(batch_id)
        return {
            "batch_id": str(batch_id),
            "client_ref": batch.client_ref,
            "received_at": batch.received_at,
            "status": _status(docs).value,
            "documents": [receipt_document(d).model_dump() | {"stage": d.stage}
                          for d in docs],
        }

    def report(self, batch_id: uuid.UUID) -> dict[str, Any]:
        """The acceptance report as JSON."""
        batch, docs = self._documents(batch_id)
        seq, head = self._db.audit_head()
        checkpoint = self._db.latest_checkpoint()
        rows = [_report_row(d) for d in docs]
        return {
            "batch_id": str(batch_id),
            "client_ref": batch.client_ref,
            "received_at": batch.received_at,
            "generated_at": datetime.now(UTC),
            "status": _status(docs).value,
            "counts": {
                "files": len(docs),
                "by_status": dict(Counter(d.status.value for d in docs)),
                "by_reason": dict(Counter(d.reason.value for d in docs if d.reason)),
                "chunks": sum(d.chunk_count or 0 for d in docs),
                "pages": sum(d.page_count or 0 for d in docs),
                "pii": _pii_totals(docs),
                "by_safety": dict(Counter(d.safety_verdict for d in docs
                                          if d.safety_verdict)),
            },
            "seconds_by_stage": _stage_totals(docs),
            "embedding_model": (self._embedding_model() if callable(self._embedding_model)
                                else self._embedding_model),
            "audit": {"head_seq": seq, "head_hash": head,
                      "latest_checkpoint": checkpoint.to_json() if checkpoint else None},
            "documents": rows,
        }

    def report_csv(self, batch_id: uuid.UUID) -> str:
        buf = io.StringIO()
        # parse_attempts: on FAILED, why each parser failed ("parser: REASON: message | …")
        writer = csv.DictWriter(buf, fieldnames=(*REPORT_COLUMNS, "parse_attempts"),
                                extrasaction="ignore")
        writer.writeheader()
        for row in self.report(batch_id)["documents"]:
            row = row | {"parse_attempts": " | ".join(
                f"{a['parser'] or 'parse'}: {a['reason']}: {a['message']}"
                for a in row["parse_attempts"])}
            writer.writerow({k: csv_cell(v) for k, v in row.items()})
        return buf.getvalue()

    def report_html(self, batch_id: uuid.UUID) -> str:
        """A standalone, printable page (see ``intake_report_html``)."""
        return render_report_html(self.report(batch_id))


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as written: text that would start a formula gets a
    leading single quote; every other value (numbers included) is left as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _status(docs: list[DocumentRecord]) -> BatchStatus:
    return batch_status([(d.status, d.reason) for d in docs])


def _stage_totals(docs: list[DocumentRecord]) -> dict[str, float]:
    totals: Counter[str] = Counter()
    for d in docs:
        totals.update(d.timings or {})
    return {stage: round(seconds, 4) for stage, seconds in totals.items()}


def _pii_totals(docs: list[DocumentRecord]) -> dict[str, dict[str, int]]:
    """PII findings per entity type and action over the batch (counts, never values)."""
    totals: dict[str, Counter[str]] = {}
    for d in docs:
        for entity, by_action in (d.pii_counts or {}).items():
            totals.setdefault(entity, Counter()).update(by_action)
    return {k: dict(v) for k, v in sorted(totals.items())}


def _report_row(d: DocumentRecord) -> dict[str, Any]:
    receipt = receipt_document(d)
    status = d.status.value
    reason = d.reason.value if d.reason else None
    told = explain(status, reason)
    return {
        "explanation": told.explanation,
        "what_to_do": told.what_to_do,
        "name": receipt.name,
        "document_id": receipt.document_id,
        "parent_document_id": receipt.parent_document_id,
        "status": status,
        "reason": reason,
        "detail": d.detail,
        "sha256": d.sha256,
        "mime_type": d.mime_type,
        "parser": d.parser,
        "parser_version": d.parser_version,
        "parse_status": d.parse_status,
        # the parser that succeeded is ``parser``; on FAILED, every parser tried and why
        "parse_attempts": attempts_in_detail(d.detail) if d.status is DocStatus.FAILED else [],
        "pages": d.page_count,
        "chunks": d.chunk_count,
        "seconds": d.timings,
        "doc_type": d.doc_type,
        "sensitivity": d.sensitivity,
        "safety": d.safety_verdict,
        # why, in words: a FLAG for hidden residue says which kind and that it held no
        # instructions (SPEC §5.3)
        "safety_detail": d.safety_detail,
        "pii": d.pii_counts or {},
    }
