"""The shared retry policy, as an HTTP caller sees it: a scripted server behind
``httpx.MockTransport`` and a recorded ``sleep`` (nothing waits)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from frostbyte_common.retry import (
    HTTP_RETRY_ON,
    ExponentialBackoff,
    RetriesExhausted,
    RetryableStatus,
    RetryPolicy,
    parse_retry_after,
    raise_for_retryable_status,
)

URL = "https://api.example/v1/things"
Step = int | httpx.Response | Exception


class Server:
    """Answers with ``script`` in turn (the last step repeats) and counts requests."""

    def __init__(self, *script: Step) -> None:
        self.script = list(script)
        self.requests = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, int):
            return httpx.Response(step, json={"status": step})
        return step

    def get(self) -> Callable[[], httpx.Response]:
        client = httpx.Client(transport=httpx.MockTransport(self.handle))

        def attempt() -> httpx.Response:
            response = client.get(URL)
            raise_for_retryable_status(response)
            return response

        return attempt


def policy(slept: list[float], **kwargs: object) -> RetryPolicy:
    options: dict[str, object] = {
        "attempts": 4,
        "backoff": ExponentialBackoff(base=1.0, cap=4.0, rand=lambda: 1.0),
        "sleep": slept.append,
    }
    options.update(kwargs)
    return RetryPolicy(**options)  # type: ignore[arg-type]


def test_a_503_is_retried_then_the_answer_is_returned() -> None:
    server = Server(503, 503, 200)
    slept: list[float] = []
    response = policy(slept).call(server.get(), retry_on=HTTP_RETRY_ON)
    assert response.status_code == 200
    assert server.requests == 3
    assert slept == [1.0, 2.0]  # exponential (rand pinned to its maximum)


def test_transport_errors_are_retried() -> None:
    server = Server(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), 200)
    slept: list[float] = []
    assert policy(slept).call(server.get(), retry_on=HTTP_RETRY_ON).status_code == 200
    assert server.requests == 3


@pytest.mark.parametrize("status", [408, 429, 500, 502, 504])
def test_every_retryable_status_is_retried(status: int) -> None:
    server = Server(status, 200)
    slept: list[float] = []
    assert policy(slept).call(server.get(), retry_on=HTTP_RETRY_ON).status_code == 200
    assert server.requests == 2


def test_retry_after_is_honoured_exactly() -> None:
    busy = httpx.Response(429, headers={"Retry-After": "3"})
    server = Server(busy, busy, 200)
    slept: list[float] = []
    assert policy(slept).call(server.get(), retry_on=HTTP_RETRY_ON).status_code == 200
    assert slept == [3.0, 3.0]  # not the backoff's 1 s, 2 s


def test_a_too_long_retry_after_gives_up_without_waiting() -> None:
    server = Server(httpx.Response(503, headers={"Retry-After": "3600"}))
    slept: list[float] = []
    with pytest.raises(RetriesExhausted) as info:
        policy(slept, max_retry_after=60.0).call(server.get(), retry_on=HTTP_RETRY_ON)
    assert info.value.attempts == 1
    assert isinstance(info.value.last_error, RetryableStatus)
    assert info.value.last_error.retry_after == 3600.0
    assert slept == []
    assert server.requests == 1


def test_gives_up_after_the_last_attempt_with_the_last_error() -> None:
    server = Server(503)
    slept: list[float] = []
    with pytest.raises(RetriesExhausted) as info:
        policy(slept, attempts=3).call(server.get(), retry_on=HTTP_RETRY_ON)
    assert server.requests == 3
    assert len(slept) == 2
    assert info.value.attempts == 3
    error = info.value.last_error
    assert isinstance(error, RetryableStatus) and error.status_code == 503
    assert info.value.__cause__ is error
    assert str(info.value) == f"gave up after 3 attempt(s): HTTP 503 from {URL}"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_4xx_is_not_retried(status: int) -> None:
    server = Server(status, 200)
    slept: list[float] = []
    response = policy(slept).call(server.get(), retry_on=HTTP_RETRY_ON)
    assert response.status_code == status
    assert server.requests == 1
    assert slept == []


def test_a_failure_that_is_not_retryable_passes_through_untouched() -> None:
    calls: list[int] = []
    boom = ValueError("not for retrying")

    def attempt() -> None:
        calls.append(1)
        raise boom

    with pytest.raises(ValueError) as info:
        policy([]).call(attempt, retry_on=HTTP_RETRY_ON)
    assert info.value is boom
    assert calls == [1]


def test_only_the_given_exceptions_are_retried() -> None:
    server = Server(httpx.ConnectError("refused"), 200)
    slept: list[float] = []
    with pytest.raises(httpx.ConnectError):
        policy(slept).call(server.get(), retry_on=(RetryableStatus,))
    assert server.requests == 1


def test_each_retry_is_reported_before_the_wait() -> None:
    server = Server(502, httpx.Response(429, headers={"Retry-After": "7"}), 200)
    slept: list[float] = []
    seen: list[tuple[str, int, float]] = []
    policy(slept).call(server.get(), retry_on=HTTP_RETRY_ON,
                       on_retry=lambda error, attempt, delay: seen.append(
                           (str(error), attempt, delay)))
    assert seen == [(f"HTTP 502 from {URL}", 1, 1.0), (f"HTTP 429 from {URL}", 2, 7.0)]
    assert slept == [1.0, 7.0]


def test_the_backoff_is_exponential_capped_and_jittered() -> None:
    top = ExponentialBackoff(base=0.5, cap=8.0, rand=lambda: 1.0)
    assert [top(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert top(10_000) == 8.0
    assert ExponentialBackoff(base=0.5, cap=8.0, rand=lambda: 0.0)(3) == 0.0  # full jitter
    assert ExponentialBackoff(base=0.5, cap=8.0, rand=lambda: 0.25)(3) == 0.5
    half = ExponentialBackoff(base=10.0, cap=120.0, jitter=0.5, rand=lambda: 0.0)
    assert [half(n) for n in (1, 2, 5)] == [5.0, 10.0, 60.0]  # at least half of the step
    exact = ExponentialBackoff(base=1.0, cap=3.0, jitter=0.0, rand=lambda: 0.7)
    assert [exact(n) for n in (1, 2, 3)] == [1.0, 2.0, 3.0]


def test_default_backoff_stays_within_its_bounds() -> None:
    backoff = ExponentialBackoff()
    for n in range(1, 20):
        assert 0.0 <= backoff(n) <= min(8.0, 0.5 * 2 ** (n - 1))


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:05 GMT", now=now) == 5.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    "make",
    [
        lambda: RetryPolicy(attempts=0),
        lambda: ExponentialBackoff(jitter=1.5),
        lambda: ExponentialBackoff(base=-1.0),
    ],
)
def test_nonsense_settings_are_refused(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        make()
