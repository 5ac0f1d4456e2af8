"""``frostbyte batch submit`` of a folder of 1,200 small files in sub-folders against a real
served data plane (API process, PostgreSQL, encrypted object store): more files than the
tenant's ``max_batch_files`` (1,000), so 2 batches; every file is accounted for in the
receipts; running the same command again replays both batches (``Idempotent-Replayed``)
instead of creating new ones. Intake only: no worker, so documents stay ACCEPTED and the
command runs with ``--no-wait``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import ROOT, DataPlaneHarness

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FILES = 1200


@pytest.fixture(scope="module")
def plane(module_database: str, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[DataPlaneHarness]:
    with DataPlaneHarness("clifolder", module_database, tmp_path_factory.mktemp("dp"),
                          worker=False) as harness:
        yield harness


def cli(plane: DataPlaneHarness, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FROSTBYTE_")}
    env |= {"FROSTBYTE_ENDPOINT": plane.url, "FROSTBYTE_KEY": plane.key, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "frostbyte_cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)


def test_a_folder_of_1200_files_goes_in_two_batches_and_a_rerun_replays(
        plane: DataPlaneHarness, tmp_path: Path) -> None:
    root = tmp_path / "outgoing"
    expected: set[str] = set()
    for i in range(FILES):
        rel = f"region-{i % 4}/month-{i % 12:02d}/note-{i:04d}.txt"
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"note {i}\n")
        expected.add(rel)

    first = cli(plane, "batch", "submit", str(root), "--no-wait", "--json")
    assert first.returncode == 0, first.stderr[-3000:]
    body: dict[str, Any] = json.loads(first.stdout)
    batches = body["batches"]
    assert len(batches) >= 2
    assert [len(b["documents"]) for b in batches] == [1000, 200]
    assert not any(b["replayed"] for b in batches)
    documents = body["documents"]
    assert len(documents) == FILES and {d["path"] for d in documents} == expected
    assert {d["status"] for d in documents} == {"ACCEPTED"}
    assert len({d["document_id"] for d in documents}) == FILES

    again = cli(plane, "batch", "submit", str(root), "--no-wait", "--json")
    assert again.returncode == 0, again.stderr[-3000:]
    replay = json.loads(again.stdout)
    assert [b["replayed"] for b in replay["batches"]] == [True, True]
    assert [b["batch_id"] for b in replay["batches"]] == [b["batch_id"] for b in batches]
    assert {d["document_id"] for d in replay["documents"]} == {
        d["document_id"] for d in documents}

    # The server holds the two batches only, with every file once.
    with plane.client() as client:
        listed = client.get("/v1/batches", params={"limit": 10}).json()["batches"]
        assert sorted(b["batch_id"] for b in listed) == sorted(b["batch_id"] for b in batches)
        stored = sum(len(client.get(f"/v1/batches/{b['batch_id']}").json()["documents"])
                     for b in batches)
    assert stored == FILES

    shown = cli(plane, "batch", "list")
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert all(b["batch_id"] in shown.stdout for b in batches)
