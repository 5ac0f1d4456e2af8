"""A PDF crafted to hang the parser, in one batch with a normal document, through a real data
plane: the bad one ends FAILED (PARSE_FAILED, timeout) within the configured limit, the other
is INDEXED, and the worker process survives."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.harness import ROOT, DataPlaneHarness, submit, wait_batch
from tests.pathological_pdf import blank_pages_pdf

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # about 45 s

TIMEOUT_S = 20


class BoundedHarness(DataPlaneHarness):
    @property
    def env(self) -> dict[str, str]:
        return super().env | {"FROSTBYTE_DP_PARSE_TIMEOUT_S": str(TIMEOUT_S),
                              "FROSTBYTE_DP_PARSE_MAX_DOCS_PER_CHILD": "5"}


def test_a_hanging_pdf_fails_within_the_timeout_and_its_neighbour_is_indexed(
        module_database: str, tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    # 150,000 blank pages: the router's parsers need minutes for it on this machine
    bad = blank_pages_pdf(files / "endless-blank-pages.pdf", 150_000)
    good = files / "annual-safety-report.pdf"
    shutil.copy(ROOT / "samples" / good.name, good)
    plane = BoundedHarness("bounded", module_database, tmp_path / "dp")
    try:
        plane.setup()
        worker_pid = plane.procs["worker"].pid
        with plane.client() as client:
            receipt = submit(client, [bad, good])
            final = wait_batch(client, receipt["batch_id"], timeout=300)
            report = client.get(f"/v1/batches/{receipt['batch_id']}/report").json()
        assert plane.procs["worker"].poll() is None, "the worker died"
        assert plane.procs["worker"].pid == worker_pid
    finally:
        plane.stop()
    docs = {d["name"]: d for d in final["documents"]}
    assert docs[good.name]["status"] == "INDEXED", docs[good.name]
    assert (docs[bad.name]["status"], docs[bad.name]["reason"]) == ("FAILED", "PARSE_FAILED")
    rows = {r["name"]: r for r in report["documents"]}
    detail = rows[bad.name]["detail"]
    assert detail.startswith(f"PARSE_FAILED: timeout: parsing took longer than {TIMEOUT_S} s")
    assert rows[bad.name]["parser"] == "isolated-parser"
    # the parse stage's seconds also cover waiting for the worker's first parser process to
    # warm up (started at boot; 10-25 s of imports on two shared cores)
    assert TIMEOUT_S <= rows[bad.name]["seconds"]["parse"] < TIMEOUT_S + 45
    assert rows[good.name]["parser"] == "pdfplumber" and rows[good.name]["chunks"] > 0
