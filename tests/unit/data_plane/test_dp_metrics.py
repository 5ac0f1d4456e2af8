"""The data plane's Prometheus figures: requests by route template, the queue read at the
scrape, the parser supervisor's kills and replacements, and the worker's figures showing on
the API's scrape (two processes, one folder). The served endpoint after a real run:
tests/e2e/test_metrics_scrape.py."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from data_plane.adapters.intake_sniff import sniff_file
from data_plane.adapters.metrics import PrometheusMetrics
from data_plane.adapters.objectstore_fs import FilesystemObjectStore
from data_plane.adapters.parsers.isolated import IsolatedParser, IsolationLimits
from data_plane.api.metrics import UNMATCHED, RequestMetrics
from data_plane.domain.ports import ParseRequest
from data_plane.services.intake import IntakeService, ReceivedFile
from data_plane.services.intake_pending import PendingScanService
from frostbyte_common.tenant_config import IntakeConfig
from tests.doubles.jobs import RecordingQueue
from tests.doubles.persistence import InMemoryTenantDatabase
from tests.parser_doubles import MisbehavingParser
from tests.unit.data_plane.test_intake_service import ScriptedScanner, manifest_of

ROOT = Path(__file__).resolve().parents[3]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def labelled(seen: dict[tuple[str, frozenset[tuple[str, str]]], float],
             name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: value for (n, labels), value in seen.items() if n == name}


def test_requests_are_counted_by_route_template_never_by_raw_path() -> None:
    metrics = PrometheusMetrics()
    app = FastAPI()

    @app.get("/v1/batches/{batch_id}")
    def batch(batch_id: str) -> dict[str, str]:
        return {"batch_id": batch_id}

    app.add_middleware(RequestMetrics, metrics=metrics, routes=app.router.routes)
    with TestClient(app) as client:
        for batch_id in ("b-1", "b-2", "b-3"):
            assert client.get(f"/v1/batches/{batch_id}").status_code == 200
        assert client.get("/no/such/path").status_code == 404
    seen = samples(metrics.exposition().decode())
    requests = labelled(seen, "frostbyte_http_requests_total")
    assert requests == {
        frozenset({("method", "GET"), ("route", "/v1/batches/{batch_id}"),
                   ("status", "200")}): 3,
        frozenset({("method", "GET"), ("route", UNMATCHED), ("status", "404")}): 1}
    assert seen[("frostbyte_http_request_duration_seconds_count",
                 frozenset({("method", "GET"), ("route", "/v1/batches/{batch_id}")}))] == 3


def test_the_queue_is_read_at_each_scrape_and_every_queue_shows() -> None:
    metrics = PrometheusMetrics()
    waiting = [("process", 4, 12.5)]
    metrics.watch_queue(lambda: list(waiting), ("process", "index"))
    seen = samples(metrics.exposition().decode())
    assert labelled(seen, "frostbyte_queue_depth") == {
        frozenset({("queue", "process")}): 4, frozenset({("queue", "index")}): 0}
    assert labelled(seen, "frostbyte_queue_oldest_job_age_seconds") == {
        frozenset({("queue", "process")}): 12.5, frozenset({("queue", "index")}): 0}
    waiting.clear()
    again = samples(metrics.exposition().decode())
    assert again[("frostbyte_queue_depth", frozenset({("queue", "process")}))] == 0


def test_a_database_that_does_not_answer_leaves_the_queue_out_of_that_scrape_only() -> None:
    metrics = PrometheusMetrics()

    def down() -> list[tuple[str, int, float]]:
        raise OSError("connection refused")

    metrics.watch_queue(down, ("process",))
    metrics.chunks_embedded(3, 0.5)
    seen = samples(metrics.exposition().decode())
    assert not labelled(seen, "frostbyte_queue_depth")
    assert seen[("frostbyte_embedding_chunks_total", frozenset())] == 3


@pytest.fixture
def parser() -> Iterator[tuple[IsolatedParser, PrometheusMetrics]]:
    metrics = PrometheusMetrics()
    p = IsolatedParser(MisbehavingParser, IsolationLimits(timeout_s=30, memory_mb=400,
                                                          max_docs_per_child=10),
                       events=metrics)
    yield p, metrics
    p.close()


def request(tmp_path: Path, name: str, text: str = "hello") -> ParseRequest:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return ParseRequest(document_id=f"doc-{name}", tenant="acme", path=path, name=name,
                        mime_type="text/plain",
                        sha256=hashlib.sha256(text.encode()).hexdigest())


def test_a_parser_child_that_dies_is_counted_and_so_is_its_replacement(
        parser: tuple[IsolatedParser, PrometheusMetrics], tmp_path: Path) -> None:
    isolated, metrics = parser
    isolated.parse(request(tmp_path, "a.txt"))  # the first child: no restart
    before = samples(metrics.exposition().decode())
    assert sum(labelled(before, "frostbyte_parser_child_restarts_total").values()) == 0
    isolated.parse(request(tmp_path, "crash.txt"))
    isolated.parse(request(tmp_path, "b.txt"))
    seen = samples(metrics.exposition().decode())
    assert labelled(seen, "frostbyte_parser_child_kills_total") == {
        frozenset({("reason", "died")}): 1, frozenset({("reason", "timeout")}): 0,
        frozenset({("reason", "memory")}): 0, frozenset({("reason", "startup")}): 0}
    assert seen[("frostbyte_parser_child_restarts_total",
                 frozenset({("reason", "replaced")}))] == 1


_PROCESS = textwrap.dedent("""
    import sys
    from pathlib import Path
    from data_plane.adapters.metrics import PrometheusMetrics, use_multiprocess_dir
    use_multiprocess_dir(Path(sys.argv[1]))
    metrics = PrometheusMetrics()
    if sys.argv[2] == "worker":
        metrics.chunks_embedded(7, 1.5)
        metrics.stage_seconds("parse", 0.2)
        metrics.document_final("INDEXED", None)
        print("recorded", flush=True)
        sys.stdin.readline()  # alive (its figures kept) until the test is done
    else:
        metrics.observe_request("GET", "/healthz", 200, 0.01)
        print(metrics.exposition().decode())
""")


def run_process(folder: Path, role: str) -> str:
    done = subprocess.run([sys.executable, "-c", _PROCESS, str(folder), role], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_workers_figures_show_on_the_apis_scrape(tmp_path: Path) -> None:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "counter_999999999.db").write_bytes(b"left by a process long gone")
    worker = subprocess.Popen([sys.executable, "-c", _PROCESS, str(folder), "worker"],
                              cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "recorded"
        seen = samples(run_process(folder, "api"))
    finally:
        worker.communicate("", timeout=60)
    assert seen[("frostbyte_embedding_chunks_total", frozenset())] == 7
    assert seen[("frostbyte_embedding_seconds_total", frozenset())] == 1.5
    assert seen[("frostbyte_stage_duration_seconds_count",
                 frozenset({("stage", "parse")}))] == 1
    assert seen[("frostbyte_documents_final_total",
                 frozenset({("status", "INDEXED"), ("reason", "")}))] == 1
    assert seen[("frostbyte_http_requests_total", frozenset(
        {("method", "GET"), ("route", "/healthz"), ("status", "200")}))] == 1
    # a dead process's file was removed when the first of them started
    assert not (folder / "counter_999999999.db").exists()


def test_switching_to_multiprocess_mode_leaves_a_live_processs_files(tmp_path: Path) -> None:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    mine = folder / f"counter_{os.getppid()}.db"  # a live process (pytest's parent)
    mine.write_bytes(b"")
    probe = ("import os, sys; from pathlib import Path; "
             "from data_plane.adapters.metrics import use_multiprocess_dir; "
             "use_multiprocess_dir(Path(sys.argv[1])); "
             "print(os.environ['PROMETHEUS_MULTIPROC_DIR'])")
    done = subprocess.run([sys.executable, "-c", probe, str(folder)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(folder) and mine.exists()


EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\n"


def test_intake_counts_each_verdict_its_final_ones_and_the_scans(tmp_path: Path) -> None:
    """At intake: every file's first status, the refusals as final, one scan per file that
    reached the scanner; a held file's later scan (the worker's rescan) ends it too."""
    metrics = PrometheusMetrics()
    db = InMemoryTenantDatabase()
    store = FilesystemObjectStore(tmp_path / "objects")
    queue = RecordingQueue()
    scanner = ScriptedScanner()
    intake = IntakeService(db, store, queue, IntakeConfig(max_batch_files=10),
                           scanner=scanner, sniff=sniff_file, metrics=metrics)
    files = {"notes.txt": b"minutes of the safety board\n", "virus.txt": EICAR,
             "empty.txt": b""}
    parts = tmp_path / "parts"
    parts.mkdir()

    def received(name: str, data: bytes) -> ReceivedFile:
        path = parts / f"part-{uuid.uuid4().hex}"
        path.write_bytes(data)
        return ReceivedFile(name=name, path=path, size=len(data),
                            sha256=hashlib.sha256(data).hexdigest())

    def send(named: dict[str, bytes]) -> None:
        intake.receive(manifest_of(named), [received(n, d) for n, d in named.items()],
                       key_id="k1", idempotency_key=None)

    send(files)
    scanner.down = True
    send({"held.txt": EICAR + b"again"})
    scanner.down = False
    pending = PendingScanService(db=db, store=store, queue=queue, scanner=scanner,
                                 work_dir=tmp_path / "rescan", metrics=metrics)
    assert pending.rescan_all() == 1
    seen = samples(metrics.exposition().decode())
    assert labelled(seen, "frostbyte_intake_documents_total") == {
        frozenset({("status", "ACCEPTED"), ("reason", "")}): 1,
        frozenset({("status", "QUARANTINED"), ("reason", "MALWARE_DETECTED")}): 1,
        frozenset({("status", "REJECTED"), ("reason", "EMPTY_FILE")}): 1,
        frozenset({("status", "PROCESSING"), ("reason", "SCAN_PENDING")}): 1}
    assert labelled(seen, "frostbyte_documents_final_total") == {
        frozenset({("status", "QUARANTINED"), ("reason", "MALWARE_DETECTED")}): 2,
        frozenset({("status", "REJECTED"), ("reason", "EMPTY_FILE")}): 1}
    # notes and virus at intake, the held file at its rescan (the scanner was down for it)
    assert seen[("frostbyte_stage_duration_seconds_count", frozenset({("stage", "scan")}))] == 3
