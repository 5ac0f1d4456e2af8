"""The EmbeddingProvider contract: every adapter passes the same tests.

The local provider runs the real all-MiniLM-L6-v2 (loaded once per session); the
OpenAI-compatible provider talks HTTP to a real local server (FastAPI under uvicorn on
127.0.0.1) that answers like an embeddings API with deterministic vectors. Adding an
adapter is one entry in ``ADAPTERS``.
"""

from __future__ import annotations

import hashlib
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel, SecretStr

from data_plane.adapters.embedding_local import LocalEmbeddingProvider
from data_plane.adapters.embedding_openai import OpenAICompatibleEmbeddingProvider
from data_plane.domain.ports import EmbeddingProvider, ModelInfo
from data_plane.errors import EmbeddingUnavailable

FAKE_MODEL = ModelInfo(name="fake/embedder", version="1", dimension=24)
FAKE_KEY = "sk-test-not-a-real-key"


# -- a fake OpenAI-compatible embeddings server, served for real -------------------------


class EmbeddingsRequest(BaseModel):
    model: str
    input: list[str]


def fake_vector(text: str, dimension: int) -> list[float]:
    """Deterministic pseudo-embedding of ``text`` (not normalised, like some real APIs)."""
    out: list[float] = []
    counter = 0
    while len(out) < dimension:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        out.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    return out[:dimension]


def fake_embeddings_app(model: ModelInfo, api_key: str) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/embeddings")
    def embeddings(
        body: EmbeddingsRequest, authorization: str | None = Header(default=None)
    ) -> dict[str, object]:
        if authorization != f"Bearer {api_key}":
            raise HTTPException(status_code=401, detail="bad key")
        if body.model != model.name:
            raise HTTPException(status_code=404, detail=f"unknown model {body.model}")
        data = [
            {"object": "embedding", "index": i, "embedding": fake_vector(t, model.dimension)}
            for i, t in enumerate(body.input)
        ]
        data.reverse()  # clients must order by "index", not by position
        return {"object": "list", "model": model.name, "data": data}

    return app


@dataclass
class FakeServer:
    base_url: str
    server: uvicorn.Server


@pytest.fixture(scope="session")
def fake_embeddings_server() -> Iterator[FakeServer]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        fake_embeddings_app(FAKE_MODEL, FAKE_KEY), log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake embeddings server did not start")
        time.sleep(0.01)
    yield FakeServer(base_url=f"http://127.0.0.1:{port}/v1", server=server)
    server.should_exit = True
    thread.join(timeout=5)
    sock.close()


# -- the adapters under test ---------------------------------------------------------------


@pytest.fixture(scope="session")
def local_provider() -> LocalEmbeddingProvider:
    return LocalEmbeddingProvider(batch_size=4)


@pytest.fixture(scope="session")
def openai_provider(
    fake_embeddings_server: FakeServer,
) -> Iterator[OpenAICompatibleEmbeddingProvider]:
    provider = OpenAICompatibleEmbeddingProvider(
        fake_embeddings_server.base_url,
        SecretStr(FAKE_KEY),
        FAKE_MODEL,
        batch_size=3,
        max_retries=0,
    )
    yield provider
    provider.close()


ADAPTERS: dict[str, Callable[[pytest.FixtureRequest], EmbeddingProvider]] = {
    "local": lambda request: request.getfixturevalue("local_provider"),
    "openai-compatible": lambda request: request.getfixturevalue("openai_provider"),
}


@pytest.fixture(params=sorted(ADAPTERS))
def provider(request: pytest.FixtureRequest) -> EmbeddingProvider:
    return ADAPTERS[request.param](request)


TEXTS = [
    "Invoices are due thirty days after receipt.",
    "The cat sat on the mat.",
    "Quarterly revenue rose by eight percent.",
    "Der Vertrag endet am 31. Dezember.",
    "",
    "Patients must fast for twelve hours before the test.",
    "A table of contents lists the chapters.",
]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# -- the contract ----------------------------------------------------------------------------


def test_model_is_identified(provider: EmbeddingProvider) -> None:
    model = provider.model
    assert model.name
    assert model.version
    assert model.dimension > 0


def test_vectors_have_the_model_dimension_and_unit_length(provider: EmbeddingProvider) -> None:
    vectors = provider.embed_documents(TEXTS)
    assert len(vectors) == len(TEXTS)
    for vector in [*vectors, provider.embed_query("when are invoices due?")]:
        assert len(vector) == provider.model.dimension
        assert all(isinstance(x, float) for x in vector)
        assert math.sqrt(sum(x * x for x in vector)) == pytest.approx(1.0, abs=1e-5)


def test_batch_order_is_preserved(provider: EmbeddingProvider) -> None:
    # More texts than one batch, so batching and reassembly are exercised.
    batch = provider.embed_documents(TEXTS)
    one_by_one = [provider.embed_documents([t])[0] for t in TEXTS]
    for together, alone in zip(batch, one_by_one, strict=True):
        assert cosine(together, alone) > 0.999
    reversed_batch = provider.embed_documents(TEXTS[::-1])
    for forward, backward in zip(batch, reversed_batch[::-1], strict=True):
        assert cosine(forward, backward) > 0.999


def test_same_text_same_vector(provider: EmbeddingProvider) -> None:
    first = provider.embed_documents(["The same sentence, twice."])[0]
    second = provider.embed_documents(["The same sentence, twice."])[0]
    assert cosine(first, second) > 0.9999
    assert first == pytest.approx(second, abs=1e-4)


def test_different_texts_differ(provider: EmbeddingProvider) -> None:
    a, b = provider.embed_documents(["Invoices are due in thirty days.", "The cat sat."])
    assert cosine(a, b) < 0.95


def test_no_texts_no_vectors(provider: EmbeddingProvider) -> None:
    assert provider.embed_documents([]) == []


# -- what only a real model can promise ----------------------------------------------------


def test_local_model_ranks_related_texts_higher(local_provider: LocalEmbeddingProvider) -> None:
    cat, kitten, revenue = local_provider.embed_documents(
        [
            "The cat is sleeping on the sofa.",
            "A kitten naps on the couch.",
            "Quarterly revenue rose by eight percent.",
        ]
    )
    assert cosine(cat, kitten) > cosine(cat, revenue) + 0.3
    query = local_provider.embed_query("how did sales grow this quarter?")
    assert cosine(query, revenue) > cosine(query, cat)


def test_local_model_identity(local_provider: LocalEmbeddingProvider) -> None:
    model = local_provider.model
    assert model.name == "all-MiniLM-L6-v2"
    assert model.dimension == 384


def test_openai_provider_with_a_wrong_key_fails_clearly(
    fake_embeddings_server: FakeServer,
) -> None:
    bad_key = "sk-wrong-key-0123456789"
    with (
        OpenAICompatibleEmbeddingProvider(
            fake_embeddings_server.base_url, SecretStr(bad_key), FAKE_MODEL, max_retries=0
        ) as provider,
        pytest.raises(EmbeddingUnavailable, match="HTTP 401") as caught,
    ):
        provider.embed_documents(["x"])
    assert bad_key not in str(caught.value)
