"""IsolatedParser with real child processes: timeouts, memory ceiling, crashes and recycling
end in FAILED documents with a reason, and the next document still parses."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from data_plane.adapters.parsers.isolated import IsolatedParser, IsolationLimits
from data_plane.domain.canonical import ParseStatus
from data_plane.domain.ports import ParseRequest
from tests.parser_doubles import MisbehavingParser, SlowWarmUpParser, broken_factory


def request(tmp_path: Path, name: str, text: str = "hello world") -> ParseRequest:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return ParseRequest(document_id=f"doc-{name}", tenant="acme", path=path, name=name,
                        mime_type="text/plain",
                        sha256=hashlib.sha256(text.encode()).hexdigest())


@pytest.fixture
def parser() -> Iterator[IsolatedParser]:
    p = IsolatedParser(MisbehavingParser, IsolationLimits(
        timeout_s=3, memory_mb=400, max_docs_per_child=3))
    yield p
    p.close()


def error_text(doc: object) -> str:
    return "; ".join(e.message for e in doc.errors)  # type: ignore[attr-defined]


def test_a_good_document_parses_in_a_child_and_carries_lineage(
        parser: IsolatedParser, tmp_path: Path) -> None:
    doc = parser.parse(request(tmp_path, "a.txt", "quarterly report"))
    assert doc.status is ParseStatus.SUCCESS
    assert doc.elements[0].text == "quarterly report"
    assert int(doc.metadata["pid"]) != psutil.Process().pid
    assert doc.metadata["warmed"] == "True"  # warm_up() ran when the child started
    step = doc.lineage[-1]
    assert step.stage == "parse-isolation" and step.details["status"] == "SUCCESS"
    assert step.details["worker_pid"] == int(doc.metadata["pid"])


def test_a_hanging_parse_fails_within_the_timeout_and_the_next_one_parses(
        parser: IsolatedParser, tmp_path: Path) -> None:
    first = parser.parse(request(tmp_path, "a.txt"))
    started = time.monotonic()
    hung = parser.parse(request(tmp_path, "sleep.txt"))
    elapsed = time.monotonic() - started
    assert hung.status is ParseStatus.FAILED
    assert error_text(hung).startswith("PARSE_FAILED: timeout")
    assert 3 <= elapsed < 8
    assert not psutil.pid_exists(int(first.metadata["pid"])) or psutil.Process(
        int(first.metadata["pid"])).status() == psutil.STATUS_ZOMBIE
    after = parser.parse(request(tmp_path, "b.txt", "still here"))
    assert after.status is ParseStatus.SUCCESS and after.elements[0].text == "still here"
    assert after.metadata["pid"] != first.metadata["pid"]


def test_a_ballooning_parse_is_stopped_at_the_memory_ceiling(
        parser: IsolatedParser, tmp_path: Path) -> None:
    doc = parser.parse(request(tmp_path, "balloon.txt"))
    assert doc.status is ParseStatus.FAILED
    assert error_text(doc).startswith("PARSE_FAILED: memory")
    assert "ceiling of 400 MiB" in error_text(doc)
    assert parser.parse(request(tmp_path, "b.txt")).status is ParseStatus.SUCCESS


def test_a_crashing_parser_fails_only_its_document(parser: IsolatedParser,
                                                    tmp_path: Path) -> None:
    doc = parser.parse(request(tmp_path, "crash.txt"))
    assert doc.status is ParseStatus.FAILED
    assert "died" in error_text(doc) and "signal 9" in error_text(doc)
    raised = parser.parse(request(tmp_path, "raise.txt"))
    assert error_text(raised) == "PARSE_FAILED: MemoryError: cannot allocate"
    assert parser.parse(request(tmp_path, "b.txt")).status is ParseStatus.SUCCESS


def _wait_for_children(parser: IsolatedParser, started: int) -> None:
    deadline = time.monotonic() + 60
    while parser.children_started < started:
        assert time.monotonic() < deadline, "the replacement never started"
        time.sleep(0.05)


def _stopped(pid: str) -> bool:
    deadline = time.monotonic() + 15  # the replacement's thread stops it just after
    while psutil.pid_exists(int(pid)):
        with contextlib.suppress(psutil.Error):
            if psutil.Process(int(pid)).status() == psutil.STATUS_ZOMBIE:
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_children_are_recycled_after_n_documents(parser: IsolatedParser,
                                                 tmp_path: Path) -> None:
    first = [parser.parse(request(tmp_path, f"a{i}.txt")).metadata["pid"] for i in range(3)]
    assert len(set(first)) == 1
    _wait_for_children(parser, 2)  # the replacement starts (warm) in the background
    second = [parser.parse(request(tmp_path, f"b{i}.txt")).metadata["pid"] for i in range(3)]
    assert len(set(second)) == 1 and second[0] != first[0]
    assert _stopped(first[0])  # the retired child was stopped
    _wait_for_children(parser, 3)
    assert parser.parse(request(tmp_path, "c.txt")).metadata["pid"] not in (first[0],
                                                                           second[0])


def test_a_retired_child_serves_on_while_its_replacement_warms_up(tmp_path: Path) -> None:
    parser = IsolatedParser(SlowWarmUpParser, IsolationLimits(timeout_s=10,
                                                              max_docs_per_child=2))
    try:
        pids = [parser.parse(request(tmp_path, f"d{i}.txt")).metadata["pid"]
                for i in range(4)]
        # the replacement takes 3 s to warm up: documents 3 and 4 did not wait for it
        assert len(set(pids)) == 1
        assert parser.children_started == 1
        _wait_for_children(parser, 2)
        fresh = parser.parse(request(tmp_path, "e.txt")).metadata["pid"]
        assert fresh != pids[0]
        assert _stopped(pids[0])
    finally:
        parser.close()


def test_a_parser_that_cannot_be_built_fails_the_document(tmp_path: Path) -> None:
    parser = IsolatedParser(broken_factory, IsolationLimits(timeout_s=5))
    try:
        doc = parser.parse(request(tmp_path, "a.txt"))
    finally:
        parser.close()
    assert doc.status is ParseStatus.FAILED
    assert "failed to start: RuntimeError: no parser libraries here" in error_text(doc)


def test_a_prestarted_child_serves_the_first_document(tmp_path: Path) -> None:
    parser = IsolatedParser(MisbehavingParser, IsolationLimits(timeout_s=5))
    try:
        parser.prestart()
        doc = parser.parse(request(tmp_path, "a.txt"))
    finally:
        parser.close()
    assert doc.status is ParseStatus.SUCCESS
    assert parser.children_started == 1  # the parse waited for it instead of starting another
