"""``EmbeddingProvider`` over an OpenAI-compatible ``POST {base_url}/embeddings`` API
(OpenRouter by default, any server speaking the same shape otherwise).

Only what can succeed on a second try is retried — connection failures and timeouts,
408, 429 and 5xx — with capped exponential backoff and full jitter, or exactly the
server's ``Retry-After`` when it sends one (the shared policy of
:mod:`frostbyte_common.retry`). Everything else fails at once with a message
that says what to fix. The API key is sent in one header and never logged or repr'd.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from pydantic import SecretStr

from data_plane.domain.ports import ModelInfo
from data_plane.errors import EmbeddingUnavailable, ModelMismatch
from frostbyte_common.errors import ValidationFailed
from frostbyte_common.retry import (
    HTTP_RETRY_ON,
    TRANSIENT_TRANSPORT_ERRORS,
    ExponentialBackoff,
    RetriesExhausted,
    RetryableStatus,
    RetryPolicy,
    raise_for_retryable_status,
)

log = logging.getLogger(__name__)

# Statuses that mean "this input is unacceptable", as opposed to "our setup is wrong".
_INPUT_STATUS = frozenset({400, 413, 422})


class OpenAICompatibleEmbeddingProvider:
    """Embeds texts through an OpenAI-compatible embeddings API; vectors are L2-normalised.

    ``model`` is what the collection will record: its ``name`` is sent as the API's model
    and every returned vector must have ``model.dimension`` components. ``transport``,
    ``sleep``, ``clock`` and ``rand`` are injectable so tests run against a fake without
    waiting. ``requests_per_second`` spaces requests out client-side.
    """

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr | None,
        model: ModelInfo,
        *,
        transport: httpx.BaseTransport | None = None,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        batch_size: int = 64,
        requests_per_second: float | None = None,
        document_prefix: str = "",
        query_prefix: str = "",
        timeout: float = 30.0,
        max_retry_after: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        api_model: str | None = None,
    ) -> None:
        """``api_model``: the model the API is asked for, when it calls it otherwise than
        the name the collection records (``model.name``)."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if max_retries < 0:
            raise ValueError("max_retries must not be negative")
        if requests_per_second is not None and requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        self._model = model
        self._api_model = api_model or model.name
        self._url = base_url.rstrip("/") + "/embeddings"
        self._retry = RetryPolicy(
            attempts=max_retries + 1,
            backoff=ExponentialBackoff(base=backoff_base, cap=backoff_cap, jitter=1.0, rand=rand),
            max_retry_after=max_retry_after,
            sleep=sleep,
        )
        self._sleep = sleep
        self._batch_size = batch_size
        self._interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self._document_prefix = document_prefix
        self._query_prefix = query_prefix
        self._clock = clock
        self._rate_lock = threading.Lock()
        self._next_slot = 0.0
        headers = {"Accept": "application/json"}
        if api_key is not None:
            headers["Authorization"] = f"Bearer {api_key.get_secret_value()}"
        self._client = httpx.Client(transport=transport, timeout=timeout, headers=headers)

    def __repr__(self) -> str:
        return f"OpenAICompatibleEmbeddingProvider(url={self._url!r}, model={self._model!r})"

    @property
    def model(self) -> ModelInfo:
        """The model this provider asks the API for, as configured."""
        return self._model

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """One normalised vector per text, in the order given (batched requests)."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            batch = [self._document_prefix + t for t in texts[start : start + self._batch_size]]
            vectors.extend(self._embed_batch(batch))
        return vectors

    def embed_query(self, text: str) -> list[float]:
        """The normalised vector of a search query."""
        return self._embed_batch([self._query_prefix + text])[0]

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def __enter__(self) -> OpenAICompatibleEmbeddingProvider:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- one request, with retries ---------------------------------------------------------

    def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        body = {"model": self._api_model, "input": batch}

        def attempt() -> httpx.Response:
            self._wait_for_rate_slot()
            try:
                response = self._client.post(self._url, json=body)
            except TRANSIENT_TRANSPORT_ERRORS:
                raise
            except httpx.HTTPError as exc:
                raise EmbeddingUnavailable(
                    f"embeddings request to {self._url} failed: {type(exc).__name__}"
                ) from exc
            raise_for_retryable_status(response, self._url)
            return response

        try:
            response = self._retry.call(attempt, retry_on=HTTP_RETRY_ON, on_retry=self._log_retry)
        except RetriesExhausted as gave_up:
            raise self._gave_up(gave_up) from gave_up.last_error
        if response.status_code >= 400:
            raise self._client_error(response)
        return self._parse(response, expected=len(batch))

    def _reason(self, error: Exception) -> str:
        if isinstance(error, RetryableStatus):
            return str(error)
        return f"{type(error).__name__} from {self._url}"

    def _log_retry(self, error: Exception, attempt: int, delay: float) -> None:
        log.warning(
            "embeddings request failed, retrying",
            extra={"reason": self._reason(error), "attempt": attempt, "delay_s": round(delay, 3)},
        )

    def _gave_up(self, gave_up: RetriesExhausted) -> EmbeddingUnavailable:
        error = gave_up.last_error
        retry_after = error.retry_after if isinstance(error, RetryableStatus) else None
        max_retry_after = self._retry.max_retry_after
        if (
            gave_up.attempts < self._retry.attempts
            and retry_after is not None
            and max_retry_after is not None
        ):
            return EmbeddingUnavailable(
                f"embeddings API asks to wait {retry_after:.0f}s (more than "
                f"{max_retry_after:.0f}s): {self._reason(error)}"
            )
        return EmbeddingUnavailable(
            f"embeddings API unavailable after {gave_up.attempts} attempts: {self._reason(error)}"
        )

    def _wait_for_rate_slot(self) -> None:
        if not self._interval:
            return
        with self._rate_lock:
            now = self._clock()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval
        if slot > now:
            self._sleep(slot - now)

    def _client_error(self, response: httpx.Response) -> Exception:
        status = response.status_code
        detail = _error_detail(response)
        if status in _INPUT_STATUS:
            return ValidationFailed(
                f"the embeddings API refused the input (HTTP {status}): {detail}",
                code="EMBEDDING_INPUT_REJECTED",
            )
        if status in (401, 403):
            hint = "check the online embedding API key"
        elif status == 404:
            hint = f"check the base URL and that model {self._model.name!r} exists"
        else:
            hint = "not retried"
        return EmbeddingUnavailable(f"the embeddings API answered HTTP {status} ({hint}): {detail}")

    def _parse(self, response: httpx.Response, *, expected: int) -> list[list[float]]:
        try:
            payload: Any = response.json()
            items = payload["data"]
            ordered = sorted(items, key=lambda item: int(item["index"]))
            indexes = [int(item["index"]) for item in ordered]
            vectors = [[float(x) for x in item["embedding"]] for item in ordered]
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingUnavailable(
                f"the embeddings API at {self._url} returned a malformed response"
            ) from exc
        if indexes != list(range(expected)):
            raise EmbeddingUnavailable(
                f"the embeddings API returned {len(indexes)} vectors for {expected} inputs"
            )
        for vector in vectors:
            if len(vector) != self._model.dimension:
                raise ModelMismatch(
                    f"the embeddings API returned {len(vector)}-d vectors but model "
                    f"{self._model.name!r} is configured as {self._model.dimension}-d"
                )
        return [_normalise(v) for v in vectors]


def _normalise(vector: list[float]) -> list[float]:
    norm = math.sqrt(math.fsum(x * x for x in vector))
    if norm == 0.0 or not math.isfinite(norm):
        raise EmbeddingUnavailable("the embeddings API returned a zero or non-finite vector")
    return [x / norm for x in vector]


def _error_detail(response: httpx.Response) -> str:
    """The API's own error message, shortened; never the request (which holds the key)."""
    try:
        payload = response.json()
    except ValueError:
        text = response.text
    else:
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict):
            text = str(error.get("message") or error)
        elif error is not None:
            text = str(error)
        else:
            text = str(payload.get("detail", payload) if isinstance(payload, dict) else payload)
    text = " ".join(text.split())
    return text[:300] or "(no detail)"
