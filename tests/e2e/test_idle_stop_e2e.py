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

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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


@dataclass
class Peak:
    """The most memory a process held, and whether it had children, while it was sampled."""

    rss: int = 0
    had_children: bool = False
    samples: int = field(default=0)


@contextmanager
def sampled(process: psutil.Process, every_s: float = 0.2) -> Iterator[Peak]:
    """Sample ``process`` in a thread while the block runs: on a loaded machine the worker
    may go idle and drop its pipeline before the test gets to look, so its loaded state is
    read as it happens rather than after."""
    peak, done = Peak(), threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                peak.rss = max(peak.rss, process.memory_info().rss)
                peak.had_children = peak.had_children or bool(process.children())
                peak.samples += 1
            except psutil.Error:
                pass
            done.wait(every_s)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()


def embedders(api: psutil.Process) -> list[psutil.Process]:
    """The API's children but multiprocessing's resource tracker (started with the first
    spawned child, it stays). A child that exited and is not reaped yet (a zombie, whose
    command line cannot be read) still counts: the API must reap what it stops."""
    found = []
    for child in api.children():
        try:
            if "resource_tracker" in " ".join(child.cmdline()):
                continue
        except psutil.ZombieProcess:
            pass
        except psutil.NoSuchProcess:
            continue
        found.append(child)
    return found


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
        with sampled(worker) as peak:
            first = submit(client, [document(tmp_path, "The glacier compressor was serviced.")],
                           client_ref="cold")
            batch = wait_batch(client, first["batch_id"])
        assert [d["status"] for d in batch["documents"]] == ["INDEXED"]
        loaded_rss = peak.rss
        assert loaded_rss > light_rss + 100 * MIB  # the model and the parser libraries
        assert peak.had_children  # the parser child, started for the first document

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
