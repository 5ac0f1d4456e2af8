"""One retry policy, on tenacity, for every call that may succeed on a second try: the CLI's
GETs, the online embeddings API, a Pulumi stack that someone else is updating.

A :class:`RetryPolicy` says how often and how long: ``attempts`` tries in all (the first one
included); before each retry the wait that ``backoff`` gives (capped exponential with jitter,
:class:`ExponentialBackoff`) or, when the failure carries one, exactly the server's
``Retry-After`` — unless that is longer than ``max_retry_after``, which gives up at once; and
the ``sleep`` that waits (tests hand in a recorder, so nothing waits). *What* is retried is
the call site's knowledge and is given to :meth:`RetryPolicy.call` with the callback that logs
each retry. When the policy gives up, :class:`RetriesExhausted` says after how many tries and
holds (and chains) the last failure; a failure that is not retryable passes through untouched.

For HTTP: transport errors worth a second try (:data:`TRANSIENT_TRANSPORT_ERRORS`) and the
statuses 408, 429 and 5xx (:data:`RETRYABLE_STATUS`), which an attempt turns into a
:class:`RetryableStatus` (with the parsed ``Retry-After``) by
:func:`raise_for_retryable_status`; :data:`HTTP_RETRY_ON` is both.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import httpx
import tenacity

T = TypeVar("T")

#: seconds to wait before retry ``n`` (1 = the first retry)
Backoff = Callable[[int], float]
#: called before each retry with the failure, the number of the try that failed (1-based) and
#: the seconds about to be waited
OnRetry = Callable[[Exception, int, float], None]

RETRYABLE_STATUS: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})
TRANSIENT_TRANSPORT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


class RetryableStatus(Exception):
    """An HTTP answer that may succeed on a second try (408, 429, 5xx), raised inside an
    attempt so that the policy retries it; ``retry_after`` is the server's wish, if any."""

    def __init__(self, status_code: int, url: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status_code} from {url}")
        self.status_code = status_code
        self.url = url
        self.retry_after = retry_after


def raise_for_retryable_status(response: httpx.Response, url: str | None = None) -> None:
    """Raise :class:`RetryableStatus` when ``response`` has a retryable status (``url``:
    how to name the server in the message, default the request's URL)."""
    if response.status_code in RETRYABLE_STATUS:
        raise RetryableStatus(
            response.status_code, url if url is not None else str(response.request.url),
            retry_after=parse_retry_after(response.headers.get("Retry-After")))


HTTP_RETRY_ON: tuple[type[Exception], ...] = (*TRANSIENT_TRANSPORT_ERRORS, RetryableStatus)


@dataclass(frozen=True, slots=True)
class ExponentialBackoff:
    """Seconds before retry ``n``: ``d = min(cap, base * 2**(n-1))``, of which the ``jitter``
    share is random — 1: uniform in [0, d] ("full jitter"), 0.5: in [d/2, d], 0: exactly d.
    ``rand`` (uniform in [0, 1)) is injectable so tests can pin it."""

    base: float = 0.5
    cap: float = 8.0
    jitter: float = 1.0
    rand: Callable[[], float] = random.random

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < 0:
            raise ValueError("base and cap must not be negative")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be between 0 and 1")

    def __call__(self, retry: int) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** min(max(retry - 1, 0), 64))
        return ceiling * (1.0 - self.jitter + self.jitter * self.rand())


class RetriesExhausted(tenacity.RetryError):
    """The policy gave up: ``attempts`` tries were made, ``last_error`` is the last failure
    (also the ``__cause__``)."""

    @property
    def attempts(self) -> int:
        return self.last_attempt.attempt_number

    @property
    def last_error(self) -> Exception:
        error = self.last_attempt.exception()
        if not isinstance(error, Exception):  # pragma: no cover - only failures are retried
            raise AssertionError("the policy gave up on an attempt that did not fail")
        return error

    def __str__(self) -> str:
        return f"gave up after {self.attempts} attempt(s): {self.last_error}"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry (see the module's docstring)."""

    attempts: int = 4
    backoff: Backoff = field(default_factory=ExponentialBackoff)
    max_retry_after: float | None = None
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")

    def call(self, fn: Callable[[], T], *, retry_on: tuple[type[Exception], ...],
             on_retry: OnRetry | None = None) -> T:
        """``fn()``, tried again after a failure of a ``retry_on`` type until it returns
        (its value), fails otherwise (that error, untouched) or the policy gives up
        (:class:`RetriesExhausted`)."""

        def before_sleep(state: tenacity.RetryCallState) -> None:
            if on_retry is not None:
                on_retry(_failure(state), state.attempt_number, state.upcoming_sleep)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(retry_on),
            stop=(tenacity.stop_after_attempt(self.attempts)
                  | _StopOnLongRetryAfter(self.max_retry_after)),
            wait=self._wait,
            sleep=self.sleep,
            before_sleep=before_sleep,
            retry_error_cls=RetriesExhausted,
        )
        return retrying(fn)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        retry_after = _retry_after(state)
        return retry_after if retry_after is not None else self.backoff(state.attempt_number)



def _failure(state: tenacity.RetryCallState) -> Exception:
    error = state.outcome.exception() if state.outcome is not None else None
    if not isinstance(error, Exception):  # pragma: no cover - only failures are retried
        raise AssertionError("a retry without a failure")
    return error


def _retry_after(state: tenacity.RetryCallState) -> float | None:
    error = _failure(state)
    return error.retry_after if isinstance(error, RetryableStatus) else None


class _StopOnLongRetryAfter(tenacity.stop.stop_base):
    """Give up at once when the server asks to wait longer than ``limit`` (None: never)."""

    def __init__(self, limit: float | None) -> None:
        self.limit = limit

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        retry_after = _retry_after(retry_state)
        return self.limit is not None and retry_after is not None and retry_after > self.limit
