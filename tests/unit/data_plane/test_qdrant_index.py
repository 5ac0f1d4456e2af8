"""What the Qdrant adapter promises beyond the port."""

from __future__ import annotations

from pathlib import Path

import pytest
from qdrant_client import QdrantClient, models

from data_plane.adapters.qdrant_index import (
    QdrantVectorIndex,
    build_filter,
    model_from_metadata,
    model_metadata,
)
from data_plane.domain.ports import IndexFilter, ModelInfo
from data_plane.errors import IndexUnavailable, ModelMismatch

MODEL = ModelInfo(name="m", version="1", dimension=4)


def test_model_metadata_round_trips() -> None:
    assert model_from_metadata(model_metadata(MODEL)) == MODEL
    assert model_from_metadata(None) is None
    assert model_from_metadata({"embedding_model": {"name": "m"}}) is None


def test_build_filter() -> None:
    assert build_filter(None) is None
    assert build_filter(IndexFilter()) is None
    flt = build_filter(IndexFilter(must={"b": ["2"], "a": ["1", "3"]}))
    assert flt is not None
    assert flt.must == [
        models.FieldCondition(key="a", match=models.MatchAny(any=["1", "3"])),
        models.FieldCondition(key="b", match=models.MatchAny(any=["2"])),
    ]


def test_collection_records_its_model_in_metadata(tmp_path: Path) -> None:
    index = QdrantVectorIndex("c", path=tmp_path)
    index.ensure(MODEL)
    assert index.recorded_model() == MODEL
    index.close()
    client = QdrantClient(path=str(tmp_path))
    try:
        metadata = client.get_collection("c").config.metadata
    finally:
        client.close()
    assert metadata == {"embedding_model": {"name": "m", "version": "1", "dimension": 4}}


def test_a_collection_without_a_recorded_model_is_refused(tmp_path: Path) -> None:
    client = QdrantClient(path=str(tmp_path))
    client.create_collection(
        "foreign", vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE)
    )
    client.close()
    index = QdrantVectorIndex("foreign", path=tmp_path)
    try:
        with pytest.raises(ModelMismatch, match="records no embedding model"):
            index.ensure(MODEL)
    finally:
        index.close()


def test_second_client_on_a_local_folder_is_index_unavailable(tmp_path: Path) -> None:
    first = QdrantVectorIndex("c", path=tmp_path)
    try:
        with pytest.raises(IndexUnavailable):
            QdrantVectorIndex("c", path=tmp_path)
    finally:
        first.close()


def test_exactly_one_of_path_and_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        QdrantVectorIndex("c")
    with pytest.raises(ValueError):
        QdrantVectorIndex("c", path=tmp_path, url="http://127.0.0.1:6333")


@pytest.mark.filterwarnings("ignore:Failed to obtain server version")
def test_unreachable_server_is_index_unavailable() -> None:
    index = QdrantVectorIndex("c", url="http://127.0.0.1:9", timeout=1)
    try:
        with pytest.raises(IndexUnavailable):
            index.ensure(MODEL)
    finally:
        index.close()
