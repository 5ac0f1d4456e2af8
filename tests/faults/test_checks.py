"""The fault suite's judge (``problems``) on hand-made ledgers: each broken promise is named,
and a clean round has none. Fast and pure, so it runs with the ordinary suite."""

from __future__ import annotations

import uuid
from collections import Counter

from tests.faults.checks import DocRow, Ledger, problems


def _doc(name: str, batch: uuid.UUID, *, status: str = "INDEXED", stage: str = "INDEXED",
         chunks: int | None = 2, canonical: str | None = "canonical/x.json") -> DocRow:
    return DocRow(document_id=uuid.uuid4(), batch_id=batch, name=name, status=status,
                  reason=None, detail=None, stage=stage, chunk_count=chunks,
                  canonical_key=canonical, parent_document_id=None)


def _ledger(docs: list[DocRow], batches: dict[str, list[uuid.UUID]]) -> Ledger:
    chunks = Counter({d.document_id: d.chunk_count or 0 for d in docs
                      if d.status == "INDEXED" and d.chunk_count})
    events = Counter({str(d.document_id): 1 for d in docs if d.status == "INDEXED"})
    return Ledger(docs, batches, chunks, events)


def _points(docs: list[DocRow]) -> Counter[str]:
    return Counter({str(d.document_id): d.chunk_count or 0 for d in docs
                    if d.status == "INDEXED"})


def test_a_clean_round_has_no_problem() -> None:
    batch = uuid.uuid4()
    docs = [_doc("a.txt", batch), _doc("b.md", batch)]
    found = problems(_ledger(docs, {"k": [batch]}), {"k": ["a.txt", "b.md"]}, _points(docs),
                     {"a.txt", "b.md"})
    assert not any(found.values()), found


def test_a_missing_row_and_an_upload_recorded_twice_are_found() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    docs = [_doc("a.txt", first), _doc("a.txt", second)]
    found = problems(_ledger(docs, {"k": [first, second], "j": []}),
                     {"k": ["a.txt"], "j": ["b.txt"]}, _points(docs), {"a.txt"})
    assert found["lost"] == ["upload j: 0 batches recorded"]
    assert "upload k: 2 batches recorded" in found["duplicated"]
    assert "a.txt: 2 rows across batches" in found["duplicated"]


def test_indexed_without_points_or_canonical_object_is_half_indexed() -> None:
    batch = uuid.uuid4()
    no_points, no_canonical = _doc("a.txt", batch), _doc("b.txt", batch, canonical=None)
    docs = [no_points, no_canonical]
    points = _points(docs)
    del points[str(no_points.document_id)]
    found = problems(_ledger(docs, {"k": [batch]}), {"k": ["a.txt", "b.txt"]}, points, set())
    assert len(found["half_indexed"]) == 2, found


def test_a_document_left_accepted_is_stuck_and_a_generated_one_that_failed_is_lost() -> None:
    batch = uuid.uuid4()
    waiting = _doc("a.txt", batch, status="ACCEPTED", stage="RECEIVED", chunks=None)
    failed = _doc("b.txt", batch, status="FAILED", stage="RECEIVED", chunks=None)
    docs = [waiting, failed]
    found = problems(_ledger(docs, {"k": [batch]}), {"k": ["a.txt", "b.txt"]}, Counter(),
                     {"a.txt", "b.txt"})
    assert [s.split(":")[0] for s in found["stuck"]] == [f"a.txt ({waiting.document_id})"]
    assert [s.split(":")[0] for s in found["lost"]] == [f"b.txt ({failed.document_id})"]


def test_points_of_no_indexed_document_are_half_indexed() -> None:
    batch = uuid.uuid4()
    docs = [_doc("a.txt", batch), _doc("b.txt", batch, status="FAILED", stage="EMBEDDED")]
    found = problems(_ledger(docs, {"k": [batch]}), {"k": ["a.txt", "b.txt"]}, _points(docs),
                     set(), total_points=5)
    assert found["half_indexed"] == ["3 index points belong to no INDEXED document"]
