"""Everything that reads a file's bytes runs in the isolated parser child (SPEC §5.2, issue 12),
through a real data plane: a DOCX whose XML inflates to ~0.9 GiB (admitted by the intake
archive rules) and an HTML paragraph of 300,000 ``=`` (a trap for a backtracking regex) each
end in bounded time, the worker process survives with its memory bounded, and the next
document of the same batch is INDEXED.

Before the hidden-text finders and policy scanners moved into the child, the worker itself
read the DOCX's XML (gigabytes of element tree) and ran the safety regexes over the HTML for
hours; a watchdog here stops such a worker before it hurts the machine."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.e2e.harness import ROOT, DataPlaneHarness, submit
from tests.intake_hostile_files import inflating_docx, long_run_html

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # about 2-3 minutes on two cores

TIMEOUT_S = 40
MEMORY_MB = 3072
#: The worker holds the embedding model; it never holds a document's contents.
WORKER_RSS_CEILING = 2560 * 1024 * 1024


class SandboxHarness(DataPlaneHarness):
    @property
    def env(self) -> dict[str, str]:
        return super().env | {"FROSTBYTE_DP_PARSE_TIMEOUT_S": str(TIMEOUT_S),
                              "FROSTBYTE_DP_PARSE_MEMORY_MB": str(MEMORY_MB)}


class WorkerWatch:
    """Samples the worker's own resident memory (its parser children excluded); above the
    ceiling it stops the worker's whole session, so that a regression fails the test
    instead of exhausting the machine."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self.tripped = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> WorkerWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        proc = psutil.Process(self.pid)
        while not self._stop.wait(0.2):
            try:
                rss = int(proc.memory_info().rss)
            except psutil.Error:
                return
            self.peak = max(self.peak, rss)
            if rss > WORKER_RSS_CEILING:
                self.tripped = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)  # the harness's own session
                return


def _wait(client: httpx.Client, batch_id: str, worker: subprocess.Popen[bytes], *,
          timeout: float) -> dict[str, Any]:
    """The finished batch; fails at once when the worker is gone (e.g. stopped by the
    watchdog), and after ``timeout`` when it hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert worker.poll() is None, "the worker died"
        body: dict[str, Any] = client.get(f"/v1/batches/{batch_id}").json()
        if body["status"] in ("COMPLETED", "COMPLETED_WITH_ERRORS"):
            return body
        time.sleep(1)
    raise AssertionError(f"batch {batch_id} did not finish in {timeout:g} s")


def test_hostile_bytes_are_read_only_inside_the_bounded_child(
        module_database: str, tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    bomb = inflating_docx(files / "inflating-report.docx")
    ruler = long_run_html(files / "ruler.html")
    good = files / "annual-safety-report.pdf"
    shutil.copy(ROOT / "samples" / good.name, good)
    plane = SandboxHarness("sandbox", module_database, tmp_path / "dp")
    try:
        plane.setup()
        worker = plane.procs["worker"]
        with WorkerWatch(worker.pid) as watch, plane.client() as client:
            receipt = submit(client, [bomb, ruler, good])
            received = {d["name"]: d for d in receipt["documents"]}
            assert received[bomb.name]["status"] == "ACCEPTED", received[bomb.name]
            final = _wait(client, receipt["batch_id"], worker, timeout=420)
            report = client.get(f"/v1/batches/{receipt['batch_id']}/report").json()
        assert not watch.tripped, f"the worker grew to {watch.peak >> 20} MiB"
        assert worker.poll() is None, "the worker died"
        assert plane.procs["worker"].pid == worker.pid
    finally:
        worker_pid = plane.procs["worker"].pid if "worker" in plane.procs else None
        try:
            plane.stop()
        finally:
            if worker_pid is not None:  # a worker stuck in a regex ignores SIGTERM
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(worker_pid, signal.SIGKILL)
    docs = {d["name"]: d for d in final["documents"]}
    rows = {r["name"]: r for r in report["documents"]}
    assert docs[good.name]["status"] == "INDEXED", rows[good.name]
    assert rows[good.name]["chunks"] > 0
    # the DOCX: the child is stopped (memory or time) or the parser refuses it; never the
    # worker's problem
    assert (docs[bomb.name]["status"], docs[bomb.name]["reason"]) == (
        "FAILED", "PARSE_FAILED"), rows[bomb.name]
    # the HTML: either the scanners finish within the limit or the child is stopped
    status = docs[ruler.name]["status"]
    if status == "FAILED":
        assert docs[ruler.name]["reason"] == "PARSE_FAILED"
        assert rows[ruler.name]["detail"].startswith("PARSE_FAILED: timeout"), rows[ruler.name]
    else:
        assert status == "INDEXED", rows[ruler.name]
    for name in (bomb.name, ruler.name):
        assert rows[name]["seconds"]["parse"] < TIMEOUT_S + 45, rows[name]
