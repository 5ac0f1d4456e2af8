"""The VectorIndex contract: every adapter passes the same tests.

Adding an adapter (a Qdrant server) is one entry in ``ADAPTERS``: a factory that, called
twice with the same folder, opens the same collection again.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from data_plane.adapters.qdrant_edge_index import QdrantEdgeVectorIndex
from data_plane.adapters.qdrant_index import QdrantVectorIndex
from data_plane.domain.object_keys import point_id_for
from data_plane.domain.ports import IndexFilter, IndexPoint, ModelInfo, VectorIndex
from data_plane.errors import IndexUnavailable, ModelMismatch

ADAPTERS: dict[str, Callable[[Path], VectorIndex]] = {
    "qdrant-local": lambda tmp: QdrantVectorIndex("chunks", path=tmp / "qdrant"),
    "qdrant-edge": lambda tmp: QdrantEdgeVectorIndex(tmp / "edge"),
}

MODEL = ModelInfo(name="test-model", version="1", dimension=4)
OTHER_NAME = ModelInfo(name="other-model", version="1", dimension=4)
OTHER_VERSION = ModelInfo(name="test-model", version="2", dimension=4)
OTHER_DIMENSION = ModelInfo(name="test-model", version="1", dimension=8)


@pytest.fixture(params=sorted(ADAPTERS))
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_index(adapter: str, tmp_path: Path) -> Iterator[Callable[[], VectorIndex]]:
    opened: list[VectorIndex] = []

    def factory() -> VectorIndex:
        index = ADAPTERS[adapter](tmp_path)
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


def test_point_ids_lists_every_point(open_index: Callable[[], VectorIndex]) -> None:
    idx = open_index()
    assert list(idx.point_ids()) == []  # no collection yet
    idx.upsert(MODEL, DOCS)
    assert sorted(idx.point_ids()) == sorted(p.point_id for p in DOCS)
    idx.delete_document("doc-a")
    assert sorted(idx.point_ids()) == sorted(point_id_for(c) for c in ("b1", "c1"))


def test_point_ids_pages_through_a_large_collection(index: VectorIndex) -> None:
    many = [point(f"m{i}", f"doc-{i % 7}", [1.0, float(i), 0.5, 0.0]) for i in range(2500)]
    index.upsert(MODEL, many)
    listed = list(index.point_ids())
    assert len(listed) == 2500
    assert set(listed) == {p.point_id for p in many}


def test_delete_points_reports_what_was_there(open_index: Callable[[], VectorIndex]) -> None:
    idx = open_index()
    assert idx.delete_points([DOCS[0].point_id]) == 0  # no collection yet: not an error
    idx.upsert(MODEL, DOCS)
    stray = point_id_for("never-indexed")
    wanted = [DOCS[0].point_id, DOCS[2].point_id, DOCS[0].point_id, stray]
    assert idx.delete_points(wanted) == 2
    assert idx.count() == 2
    assert {h.payload["chunk_id"] for h in idx.search(MODEL, [1.0, 1.0, 1.0, 1.0], 10)} == {
        "a2", "c1"}
    assert idx.delete_points(wanted) == 0
    assert idx.delete_points([]) == 0
    idx.close()
    assert open_index().count() == 2  # the deletion is durable


def test_a_second_opener_of_the_folder_is_refused(
        open_index: Callable[[], VectorIndex]) -> None:
    first = open_index()
    first.upsert(MODEL, DOCS)
    with pytest.raises(IndexUnavailable):
        open_index()
    assert first.count() == 4  # the refused opener changed nothing
    first.close()
    assert open_index().count() == 4  # released on close


def _in_child(adapter: str, tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    """Run ``body`` in a fresh interpreter with ``index`` opened on the same folder."""
    code = textwrap.dedent(f"""
        import os, signal, sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_vector_index import ADAPTERS, DOCS, MODEL
        index = ADAPTERS[{adapter!r}](Path({str(tmp_path)!r}))
    """) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)


def test_another_process_is_refused_while_the_index_is_open(
        adapter: str, open_index: Callable[[], VectorIndex], tmp_path: Path) -> None:
    open_index().ensure(MODEL)
    child = _in_child(adapter, tmp_path, "")
    assert child.returncode != 0
    assert "IndexUnavailable" in child.stderr


def test_points_survive_a_process_killed_right_after_upsert(
        adapter: str, open_index: Callable[[], VectorIndex], tmp_path: Path) -> None:
    child = _in_child(adapter, tmp_path, """
        index.upsert(MODEL, DOCS)
        index.delete_document("doc-c")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert child.returncode == -9, child.stderr
    again = open_index()
    assert again.count() == 3
    assert again.search(MODEL, [0.0, 1.0, 0.0, 0.0], top_k=1)[0].payload["chunk_id"] == "b1"
    again.upsert(MODEL, DOCS)  # the folder is still writable
    assert again.count() == 4


def test_searches_from_threads_while_another_thread_writes(index: VectorIndex) -> None:
    index.upsert(MODEL, DOCS)
    failures: list[BaseException] = []

    def search_repeatedly() -> None:
        try:
            for _ in range(50):
                hits = index.search(MODEL, [0.0, 1.0, 0.0, 0.0], top_k=1)
                assert hits[0].payload["chunk_id"] == "b1"
        except BaseException as exc:
            failures.append(exc)

    readers = [threading.Thread(target=search_repeatedly) for _ in range(4)]
    for reader in readers:
        reader.start()
    for i in range(50):
        index.upsert(MODEL, [point(f"w{i}", "doc-w", [0.0, 0.0, 0.2, 1.0])])
    for reader in readers:
        reader.join()
    assert failures == []
    assert index.count() == 54


def test_edge_builds_hnsw_once_a_collection_outgrows_exact_search(tmp_path: Path) -> None:
    model = ModelInfo(name="test-model", version="1", dimension=384)
    rows = np.random.default_rng(7).standard_normal((8000, 384)).tolist()
    idx = QdrantEdgeVectorIndex(tmp_path / "edge")
    try:
        assert idx.indexed_share() == 1.0  # nothing to index yet
        idx.upsert(model, [point(f"h{i}", f"doc-{i // 40}", row) for i, row in enumerate(rows)])
        assert idx.indexed_share() > 0.5
        hits = idx.search(model, rows[1234], top_k=3)
        assert hits[0].payload["chunk_id"] == "h1234"
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    finally:
        idx.close()


def test_drop_deletes_the_collection_and_its_model(
        open_index: Callable[[], VectorIndex]) -> None:
    """What a re-embedding does with the collection it switched away from: nothing of it
    is left, so the place holds a collection of any model again."""
    first = open_index()
    first.ensure(MODEL)
    first.upsert(MODEL, DOCS)
    first.drop()
    again = open_index()
    assert again.count() == 0 and list(again.point_ids()) == []
    again.ensure(OTHER_DIMENSION)  # no model recorded any more: another one is taken
    again.upsert(OTHER_DIMENSION, [point("x1", "doc-x", [0.5] * 8)])
    assert again.count() == 1
