"""Retries, errors and parsing of the OpenAI-compatible provider, against
``httpx.MockTransport`` with an injected sleep (so nothing waits)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from data_plane.adapters.embedding_openai import OpenAICompatibleEmbeddingProvider
from data_plane.domain.ports import ModelInfo
from data_plane.errors import EmbeddingUnavailable, ModelMismatch
from frostbyte_common.errors import ValidationFailed
from frostbyte_common.retry import ExponentialBackoff, parse_retry_after

MODEL = ModelInfo(name="nomic-ai/nomic-embed-text-v1.5", version="1.5", dimension=3)
KEY = "sk-secret-value-1234"

Handler = Callable[[httpx.Request], httpx.Response]


def ok(request: httpx.Request, dimension: int = 3) -> httpx.Response:
    texts = json.loads(request.content)["input"]
    data = [
        {"index": i, "embedding": [float(len(t) + 1)] + [float(i)] * (dimension - 1)}
        for i, t in enumerate(texts)
    ]
    return httpx.Response(200, json={"data": data[::-1]})


class Recorder:
    """A scripted API: answers with ``script`` in turn and records requests and sleeps."""

    def __init__(self, *script: Handler | int | httpx.Response | Exception) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, int):
            return httpx.Response(step, json={"error": {"message": f"status {step}"}})
        if isinstance(step, httpx.Response):
            return step
        return step(request)

    def provider(self, **kwargs: object) -> OpenAICompatibleEmbeddingProvider:
        options: dict[str, object] = {
            "transport": httpx.MockTransport(self.handle),
            "sleep": self.sleeps.append,
            "rand": lambda: 1.0,
        }
        options.update(kwargs)
        return OpenAICompatibleEmbeddingProvider(
            "https://api.example/v1/",
            SecretStr(KEY),
            MODEL,
            **options,  # type: ignore[arg-type]
        )


def test_request_shape_and_order_by_index() -> None:
    api = Recorder(ok)
    provider = api.provider(document_prefix="search_document: ", query_prefix="search_query: ")
    vectors = provider.embed_documents(["a", "bbb"])
    request = api.requests[0]
    assert request.method == "POST"
    assert str(request.url) == "https://api.example/v1/embeddings"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {
        "model": MODEL.name,
        "input": ["search_document: a", "search_document: bbb"],
    }
    # the fake puts each item's index in the trailing components, and answers reversed
    assert vectors[0][1] == 0.0
    assert vectors[1][1] > 0.0
    assert sum(x * x for x in vectors[0]) == pytest.approx(1.0)
    provider.embed_query("q")
    assert json.loads(api.requests[1].content)["input"] == ["search_query: q"]


def test_batches_requests() -> None:
    api = Recorder(ok)
    vectors = api.provider(batch_size=2).embed_documents(["a", "b", "c", "d", "e"])
    assert len(vectors) == 5
    assert [len(json.loads(r.content)["input"]) for r in api.requests] == [2, 2, 1]


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(status: int) -> None:
    busy = httpx.Response(status, headers={"Retry-After": "2"}, json={"error": "busy"})
    api = Recorder(busy, busy, ok)
    assert len(api.provider().embed_documents(["x"])) == 1
    assert len(api.requests) == 3
    assert api.sleeps == [2.0, 2.0]


def test_retry_after_as_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:05 GMT", now=now) == 5.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after(" 7 ") == 7.0


def test_5xx_and_timeouts_back_off_exponentially_with_a_cap() -> None:
    api = Recorder(500, 502, httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), 504, ok)
    provider = api.provider(backoff_base=1.0, backoff_cap=4.0, max_retries=5)
    assert len(provider.embed_documents(["x"])) == 1
    assert api.sleeps == [1.0, 2.0, 4.0, 4.0, 4.0]  # rand() pinned to its maximum


def backoff_delay(attempt: int, *, base: float, cap: float, rand: Callable[[], float]) -> float:
    """The adapter's backoff (full jitter) after failed try ``attempt`` (0-based)."""
    return ExponentialBackoff(base=base, cap=cap, jitter=1.0, rand=rand)(attempt + 1)


def test_backoff_has_full_jitter() -> None:
    assert backoff_delay(3, base=0.5, cap=8.0, rand=lambda: 0.5) == 2.0
    assert backoff_delay(10, base=0.5, cap=8.0, rand=lambda: 0.999) == pytest.approx(7.992)
    assert backoff_delay(0, base=0.5, cap=8.0, rand=lambda: 0.0) == 0.0


def test_gives_up_after_max_retries() -> None:
    api = Recorder(503)
    with pytest.raises(EmbeddingUnavailable, match="after 4 attempts: HTTP 503"):
        api.provider(max_retries=3).embed_documents(["x"])
    assert len(api.requests) == 4
    assert len(api.sleeps) == 3


def test_too_long_retry_after_fails_without_waiting() -> None:
    api = Recorder(httpx.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(EmbeddingUnavailable, match="3600s"):
        api.provider().embed_documents(["x"])
    assert api.sleeps == []


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (400, ValidationFailed, "EMBEDDING_INPUT_REJECTED"),
        (413, ValidationFailed, "EMBEDDING_INPUT_REJECTED"),
        (422, ValidationFailed, "EMBEDDING_INPUT_REJECTED"),
        (401, EmbeddingUnavailable, "EMBEDDING_UNAVAILABLE"),
        (403, EmbeddingUnavailable, "EMBEDDING_UNAVAILABLE"),
        (404, EmbeddingUnavailable, "EMBEDDING_UNAVAILABLE"),
    ],
)
def test_other_4xx_are_not_retried(status: int, error: type[Exception], code: str) -> None:
    api = Recorder(status)
    with pytest.raises(error) as caught:
        api.provider().embed_documents(["x"])
    assert len(api.requests) == 1
    assert api.sleeps == []
    assert getattr(caught.value, "code", None) == code
    assert f"HTTP {status}" in str(caught.value)
    assert f"status {status}" in str(caught.value)  # the API's own message is passed on


def test_wrong_dimension_is_a_model_mismatch() -> None:
    api = Recorder(lambda request: ok(request, dimension=5))
    with pytest.raises(ModelMismatch, match="5-d") as caught:
        api.provider().embed_documents(["x"])
    assert caught.value.code == "EMBEDDING_MODEL_MISMATCH"


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"nodata": []}),
        httpx.Response(200, json={"data": [{"index": 0}]}),
        httpx.Response(200, json={"data": [{"index": 0, "embedding": [1, 0, 0]}] * 2}),
        httpx.Response(200, json={"data": []}),
        httpx.Response(200, json={"data": [{"index": 0, "embedding": [0, 0, 0]}]}),
    ],
)
def test_malformed_responses_are_unavailable(response: httpx.Response) -> None:
    with pytest.raises(EmbeddingUnavailable):
        Recorder(response).provider().embed_documents(["x"])


def test_rate_limit_spaces_requests() -> None:
    now = [100.0]
    api = Recorder(ok)

    def sleep(seconds: float) -> None:
        api.sleeps.append(seconds)
        now[0] += seconds

    provider = api.provider(requests_per_second=4.0, sleep=sleep, clock=lambda: now[0])
    provider.embed_documents(["a", "b", "c"])  # three requests at batch_size 1 below
    assert api.sleeps == []
    batched = api.provider(requests_per_second=4.0, sleep=sleep, clock=lambda: now[0], batch_size=1)
    batched.embed_documents(["a", "b", "c"])
    assert api.sleeps == [0.25, 0.25]


def test_the_key_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    api = Recorder(503, 401)
    provider = api.provider()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(EmbeddingUnavailable) as caught:
        provider.embed_documents(["x"])
    assert KEY not in repr(provider)
    assert KEY not in str(caught.value)
    assert KEY not in caplog.text
    for record in caplog.records:
        assert KEY not in str(record.__dict__)
