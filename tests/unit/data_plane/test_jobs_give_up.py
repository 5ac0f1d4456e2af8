"""A document whose processing raises on every attempt ends FAILED with a reason, instead of
staying PROCESSING for ever and keeping its batch from completing."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import procrastinate
import pytest
from procrastinate.testing import InMemoryConnector

from data_plane.adapters.jobs import PROCESS_TASK, OutageAwareRetry, register_tasks
from data_plane.errors import ObjectStoreUnavailable
from data_plane.services.pipeline import give_up_detail


def _task(given_up: list[tuple[str, str]]) -> procrastinate.tasks.Task[..., None, None]:
    app = procrastinate.App(connector=InMemoryConnector())

    def process(document_id: str) -> None:
        raise TypeError("TextEncodeInput must be Union[TextInputSequence, ...]")

    register_tasks(app, process=process, index=None,
                   give_up=lambda doc, exc: given_up.append((doc, str(exc))))
    return app.tasks[PROCESS_TASK]


@pytest.mark.parametrize(("attempts", "gives_up"), [(0, False), (4, False), (5, True)])
def test_only_the_last_attempt_gives_the_document_up(attempts: int, gives_up: bool) -> None:
    given_up: list[tuple[str, str]] = []
    task = _task(given_up)
    context = SimpleNamespace(job=SimpleNamespace(attempts=attempts))
    with pytest.raises(TypeError):  # the job itself still fails, for the operator to see
        task.func(context, "doc-1")
    assert bool(given_up) is gives_up
    if gives_up:
        assert given_up[0][0] == "doc-1"


def test_the_vendor_reads_a_reason_and_what_to_do() -> None:
    detail = give_up_detail(TypeError("TextEncodeInput must be Union"))
    assert detail.startswith("PARSE_FAILED: processing failed on every attempt (TypeError")
    assert "send the file again" in detail


def test_a_store_outage_keeps_the_document_waiting_instead_of_failing_it() -> None:
    """The object store down for minutes (R3 of the fault suite) is not the document's
    fault: the job is retried past the usual five attempts, with a capped wait."""
    strategy = OutageAwareRetry()
    outage, bad_file = ObjectStoreUnavailable("S3 refused the connection"), TypeError("bad")
    assert strategy.retries(outage, 5) and strategy.retries(outage, 100)
    assert not strategy.retries(bad_file, 5)
    assert not strategy.retries(outage, strategy.outage_attempts)
    job = SimpleNamespace(attempts=20)
    before = datetime.now(UTC)
    decision = strategy.get_retry_decision(exception=outage, job=job)  # type: ignore[arg-type]
    assert decision is not None and decision.retry_at is not None
    wait = (decision.retry_at - before).total_seconds()
    assert strategy.max_wait_s - 1 <= wait <= strategy.max_wait_s + 1  # capped, not 2**21
    assert strategy.get_retry_decision(exception=bad_file, job=job) is None  # type: ignore[arg-type]
