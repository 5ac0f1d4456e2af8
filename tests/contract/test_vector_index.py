"""The VectorIndex contract: every adapter passes the same tests.

Adding an adapter (a Qdrant server) is one entry in ``ADAPTERS``: a factory that, called
twice with the same folder, opens the same collection again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from data_plane.adapters.qdrant_index import QdrantVectorIndex
from data_plane.domain.object_keys import point_id_for
from data_plane.domain.ports import IndexFilter, IndexPoint, ModelInfo, VectorIndex
from data_plane.errors import ModelMismatch

ADAPTERS: dict[str, Callable[[Path], VectorIndex]] = {
    "qdrant-local": lambda tmp: QdrantVectorIndex("chunks", path=tmp / "qdrant"),
}

MODEL = ModelInfo(name="test-model", version="1", dimension=4)
OTHER_NAME = ModelInfo(name="other-model", version="1", dimension=4)
OTHER_VERSION = ModelInfo(name="test-model", version="2", dimension=4)
OTHER_DIMENSION = ModelInfo(name="test-model", version="1", dimension=8)


@pytest.fixture(params=sorted(ADAPTERS))
def open_index(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], VectorIndex]]:
    opened: list[VectorIndex] = []

    def factory() -> VectorIndex:
        index = ADAPTERS[request.param](tmp_path)
        opened.append(index)
        return index

    yield factory
    for index in opened:
        index.close()


@pytest.fixture
def index(open_index: Callable[[], VectorIndex]) -> VectorIndex:
    idx = open_index()
    idx.ensure(MODEL)
    return idx


def point(chunk: str, document: str, vector: list[float], **extra: object) -> IndexPoint:
    payload: dict[str, object] = {"document_id": document, "chunk_id": chunk, **extra}
    return IndexPoint(point_id=point_id_for(chunk), vector=vector, payload=payload)


DOCS = [
    point("a1", "doc-a", [1.0, 0.0, 0.0, 0.0], kind="paragraph", lang="en"),
    point("a2", "doc-a", [0.9, 0.1, 0.0, 0.0], kind="table", lang="en"),
    point("b1", "doc-b", [0.0, 1.0, 0.0, 0.0], kind="paragraph", lang="de"),
    point("c1", "doc-c", [0.0, 0.0, 1.0, 0.0], kind="heading", lang="en"),
]


def test_fresh_index_is_empty(open_index: Callable[[], VectorIndex]) -> None:
    idx = open_index()
    assert idx.count() == 0
    assert idx.search(MODEL, [1.0, 0.0, 0.0, 0.0], top_k=3) == []
    idx.delete_document("nothing")  # no collection yet: not an error
    idx.ensure(MODEL)
    idx.ensure(MODEL)  # idempotent
    assert idx.count() == 0


def test_upsert_and_count(index: VectorIndex) -> None:
    index.upsert(MODEL, DOCS)
    assert index.count() == 4
    assert index.count(document_id="doc-a") == 2
    assert index.count(document_id="doc-z") == 0


def test_upsert_is_idempotent_by_point_id(index: VectorIndex) -> None:
    index.upsert(MODEL, DOCS)
    index.upsert(MODEL, DOCS)
    assert index.count() == 4
    moved = point("a1", "doc-a", [0.0, 0.0, 0.0, 1.0], kind="paragraph", lang="en")
    index.upsert(MODEL, [moved])
    assert index.count() == 4
    hits = index.search(MODEL, [0.0, 0.0, 0.0, 1.0], top_k=1)
    assert hits[0].point_id == point_id_for("a1")


def test_upsert_nothing(index: VectorIndex) -> None:
    index.upsert(MODEL, [])
    assert index.count() == 0


def test_search_ranks_by_cosine_and_returns_payload(index: VectorIndex) -> None:
    index.upsert(MODEL, DOCS)
    hits = index.search(MODEL, [1.0, 0.05, 0.0, 0.0], top_k=3)
    assert [h.point_id for h in hits] == [point_id_for(c) for c in ("a1", "a2", "b1")]
    assert hits[0].score >= hits[1].score >= hits[2].score
    assert hits[0].score == pytest.approx(0.99875, abs=1e-3)
    assert hits[0].payload == {
        "document_id": "doc-a",
        "chunk_id": "a1",
        "kind": "paragraph",
        "lang": "en",
    }


def test_search_top_k_bounds_the_hits(index: VectorIndex) -> None:
    index.upsert(MODEL, DOCS)
    assert len(index.search(MODEL, [1.0, 1.0, 1.0, 1.0], top_k=2)) == 2
    assert len(index.search(MODEL, [1.0, 1.0, 1.0, 1.0], top_k=100)) == 4
    with pytest.raises(ValueError):
        index.search(MODEL, [1.0, 1.0, 1.0, 1.0], top_k=0)


@pytest.mark.parametrize(
    ("must", "expected"),
    [
        ({"document_id": ["doc-b"]}, {"b1"}),
        ({"document_id": ["doc-a", "doc-c"]}, {"a1", "a2", "c1"}),
        ({"lang": ["en"], "kind": ["paragraph", "heading"]}, {"a1", "c1"}),
        ({"lang": ["fr"]}, set()),
        ({"document_id": []}, set()),
        ({}, {"a1", "a2", "b1", "c1"}),
    ],
)
def test_search_filters(index: VectorIndex, must: dict[str, list[str]], expected: set[str]) -> None:
    index.upsert(MODEL, DOCS)
    hits = index.search(MODEL, [0.5, 0.5, 0.5, 0.5], top_k=10, flt=IndexFilter(must=must))
    assert {h.payload["chunk_id"] for h in hits} == expected


def test_delete_document(index: VectorIndex) -> None:
    index.upsert(MODEL, DOCS)
    assert index.delete_document("doc-a") == 2  # erasure reports how many points went
    assert index.count() == 2
    assert index.count(document_id="doc-a") == 0
    hits = index.search(MODEL, [1.0, 0.0, 0.0, 0.0], top_k=10)
    assert {h.payload["document_id"] for h in hits} == {"doc-b", "doc-c"}
    assert index.delete_document("doc-a") == 0  # again: not an error
    assert index.delete_document("never-indexed") == 0
    assert index.count() == 2


def test_delete_document_before_the_collection_exists(
        open_index: Callable[[], VectorIndex]) -> None:
    assert open_index().delete_document("doc-a") == 0


def test_delete_document_survives_reopening(open_index: Callable[[], VectorIndex]) -> None:
    first = open_index()
    first.ensure(MODEL)
    first.upsert(MODEL, DOCS)
    assert first.delete_document("doc-b") == 1
    first.close()
    again = open_index()
    assert again.count(document_id="doc-b") == 0
    assert again.count() == 3


@pytest.mark.parametrize("other", [OTHER_NAME, OTHER_VERSION, OTHER_DIMENSION])
def test_ensure_refuses_another_model(index: VectorIndex, other: ModelInfo) -> None:
    with pytest.raises(ModelMismatch) as caught:
        index.ensure(other)
    assert caught.value.code == "EMBEDDING_MODEL_MISMATCH"


@pytest.mark.parametrize("other", [OTHER_NAME, OTHER_VERSION, OTHER_DIMENSION])
def test_upsert_and_search_refuse_another_model(index: VectorIndex, other: ModelInfo) -> None:
    index.upsert(MODEL, DOCS)
    foreign = [point("x1", "doc-x", [0.5] * other.dimension)]
    with pytest.raises(ModelMismatch):
        index.upsert(other, foreign)
    with pytest.raises(ModelMismatch):
        index.search(other, [0.5] * other.dimension, top_k=1)
    assert index.count() == 4


def test_upsert_refuses_vectors_of_the_wrong_length(index: VectorIndex) -> None:
    with pytest.raises(ModelMismatch):
        index.upsert(MODEL, [DOCS[0], point("bad", "doc-x", [1.0, 0.0])])
    assert index.count() == 0
    with pytest.raises(ModelMismatch):
        index.search(MODEL, [1.0, 0.0], top_k=1)


def test_upsert_creates_the_collection_for_its_model(
    open_index: Callable[[], VectorIndex],
) -> None:
    idx = open_index()
    idx.upsert(MODEL, DOCS[:1])
    assert idx.count() == 1
    with pytest.raises(ModelMismatch):
        idx.ensure(OTHER_NAME)


def test_reopening_keeps_data_and_model(open_index: Callable[[], VectorIndex]) -> None:
    first = open_index()
    first.upsert(MODEL, DOCS)
    first.close()
    second = open_index()
    assert second.count() == 4
    assert second.search(MODEL, [0.0, 1.0, 0.0, 0.0], top_k=1)[0].payload["chunk_id"] == "b1"
    with pytest.raises(ModelMismatch):
        second.ensure(OTHER_DIMENSION)
    with pytest.raises(ModelMismatch):
        second.upsert(OTHER_NAME, [point("x1", "doc-x", [0.5] * 4)])
    second.ensure(MODEL)
