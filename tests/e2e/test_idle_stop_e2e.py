"""An idle tenant gives its memory back and still takes the next batch (issue 18, density),
on a real data plane (API and worker processes, PostgreSQL, the embedded index) with
``FROSTBYTE_DP_IDLE_STOP_S`` set as the local provider sets it:

* the worker starts light: no parser child, no model, until the first document;
* the first batch of the cold tenant is processed (the worker loads its pipeline then);
* once idle, the worker re-executes itself (same pid) without the pipeline: its parser
  child is gone and its memory falls, while ``/readyz`` stays green;
* the next batch is processed by the same worker, which loads its pipeline again;
* a search starts the API's query-embedding child on demand, which stops once idle.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.e2e.harness import DataPlaneHarness, search_hits, submit, wait_batch

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

IDLE_STOP_S = 4.0
MIB = 1024 * 1024


@dataclass
class IdleStoppingDataPlane(DataPlaneHarness):
    @property
    def env(self) -> dict[str, str]:
        return super().env | {"FROSTBYTE_DP_IDLE_STOP_S": str(IDLE_STOP_S)}


@pytest.fixture(scope="module")
def plane(module_database: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[IdleStoppingDataPlane]:
    with IdleStoppingDataPlane(tenant="idle", database_url=module_database,
                               state=tmp_path_factory.mktemp("idle")) as harness:
        yield harness


def eventually(condition: Callable[[], bool], what: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"never happened: {what}")


def embedders(api: psutil.Process) -> list[psutil.Process]:
    """The API's children but multiprocessing's resource tracker (started with the first
    spawned child, it stays)."""
    return [c for c in api.children() if "resource_tracker" not in " ".join(c.cmdline())]


def document(tmp_path: Path, words: str) -> Path:
    path = tmp_path / f"note-{uuid.uuid4().hex[:8]}.txt"
    path.write_text(f"Maintenance note {uuid.uuid4()}.\n\n{words}\n" * 3, encoding="utf-8")
    return path


def test_an_idle_worker_drops_its_pipeline_and_takes_the_next_batch(
    plane: IdleStoppingDataPlane, tmp_path: Path
) -> None:
    worker = psutil.Process(plane.procs["worker"].pid)
    api = psutil.Process(plane.procs["serve"].pid)
    time.sleep(IDLE_STOP_S)
    assert worker.children() == []  # light: no parser child was started
    light_rss = worker.memory_info().rss

    with plane.client() as client:
        first = submit(client, [document(tmp_path, "The glacier compressor was serviced.")],
                       client_ref="cold")
        batch = wait_batch(client, first["batch_id"])
        assert [d["status"] for d in batch["documents"]] == ["INDEXED"]
        loaded_rss = worker.memory_info().rss
        assert loaded_rss > light_rss + 100 * MIB  # the model and the parser libraries

        eventually(lambda: worker.children() == []
                   and worker.memory_info().rss < loaded_rss / 2,
                   "the idle worker re-executes without its pipeline")
        assert worker.is_running() and "data_plane" in " ".join(worker.cmdline())
        assert plane.procs["worker"].poll() is None  # the same process, not a new one
        assert client.get("/readyz").status_code == 200

        second = submit(client, [document(tmp_path, "The harbour crane hoist was oiled.")],
                        client_ref="warm-again")
        batch = wait_batch(client, second["batch_id"])
        assert [d["status"] for d in batch["documents"]] == ["INDEXED"]
        assert worker.pid == plane.procs["worker"].pid

        assert embedders(api) == []  # the API never loaded the model
        hits = search_hits(client, "crane hoist")
        assert hits and "crane hoist" in hits[0]["text"]
        assert len(embedders(api)) == 1  # the query embedder, started for the search
        eventually(lambda: embedders(api) == [], "the idle query embedder stops")
        assert search_hits(client, "glacier compressor")  # and starts again on demand
