"""R2: ``kill -9`` of the API and of the worker at random moments while a batch of small,
varied files is uploaded and processed (objects on SeaweedFS, encrypted); each killed process
is restarted. Afterwards nothing is lost, nothing is there twice, nothing is half-indexed or
stuck, and the audit chain verifies.

Sizes (environment): ``FROSTBYTE_FAULT_R2_DOCS`` (500), ``FROSTBYTE_FAULT_R2_ROUNDS`` (20),
``FROSTBYTE_FAULT_R2_BATCH`` (files per upload, 25), ``FROSTBYTE_FAULT_R2_GAP_S`` (longest
pause before a kill, 10), ``FROSTBYTE_FAULT_ROUND_S`` (one kill and restart, 300),
``FROSTBYTE_FAULT_R2_DRAIN_S`` (the whole run, 3600), ``FROSTBYTE_FAULT_STALL_S`` (nothing
moving, 240), ``FROSTBYTE_FAULT_SEED`` (printed; set it to repeat a run).
"""

from __future__ import annotations

import random
import statistics
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.faults.checks import index_points, problems, read_ledger
from tests.faults.corpus import is_real, write_corpus
from tests.faults.plane import (
    Deadline,
    Delivery,
    FaultPlane,
    Figures,
    deliver,
    env_number,
    pipeline_state,
    wait_settled,
)
from tests.seaweedfs_fixture import S3Tenant

pytestmark = [pytest.mark.fault, pytest.mark.e2e]

TENANT = "faults-r2"
ROLES: tuple[tuple[str, ...], ...] = (("serve",), ("worker",), ("serve", "worker"))


def _upload_all(client: httpx.Client, groups: list[list[Path]], keys: list[str],
                deadline: Deadline, rng: random.Random) -> tuple[list[Delivery], float]:
    """Send the uploads one after the other, a random pause apart, so that the kills fall
    before, during and after them; the deliveries and the seconds until the last receipt."""
    gap = env_number("FROSTBYTE_FAULT_R2_GAP_S", 10)
    started = time.monotonic()
    deliveries = []
    for group, key in zip(groups, keys, strict=True):
        deliveries.append(deliver(client, group, key, deadline))
        time.sleep(rng.uniform(0, gap))
    return deliveries, time.monotonic() - started


def _kill_rounds(plane: FaultPlane, rng: random.Random, rounds: int, figures: Figures
                 ) -> tuple[Counter[str], list[float]]:
    """``rounds`` times: a random pause, SIGKILL of the API, the worker or both, restart
    (the API until it is ready again). Each round has its own deadline."""
    gap = env_number("FROSTBYTE_FAULT_R2_GAP_S", 10)
    round_s = env_number("FROSTBYTE_FAULT_ROUND_S", 300)
    killed: Counter[str] = Counter()
    restarts: list[float] = []
    for number in range(1, rounds + 1):
        time.sleep(rng.uniform(0.5, gap))
        roles = rng.choice(ROLES)
        deadline = Deadline(f"R2 round {number} (kill -9 of {'+'.join(roles)})", round_s)
        before = pipeline_state(plane.database_url)
        for role in roles:
            plane.sigkill(role)
            killed[role] += 1
        started = time.monotonic()
        for role in roles:
            try:
                plane.restart(role, ready_timeout=max(deadline.left, 1.0))
            except AssertionError as exc:
                deadline.fail(f"the {role} did not come back: {exc}")
        restarts.append(time.monotonic() - started)
        figures.add(f"round {number}", f"killed {'+'.join(roles)} at {before}; back in "
                    f"{restarts[-1]:.1f} s")
    return killed, restarts


def _canonical_missing(client: httpx.Client, document_ids: list[str]) -> list[str]:
    """INDEXED documents whose canonical JSON the API cannot serve."""
    missing = []
    for doc in document_ids:
        response = client.get(f"/v1/documents/{doc}")
        if response.status_code != 200 or response.json().get("document_id") != doc:
            missing.append(f"{doc}: canonical JSON answers {response.status_code}")
    return missing


def test_kill_9_of_api_and_worker_loses_duplicates_and_half_indexes_nothing(
        fault_database: str, s3_tenant: S3Tenant, tmp_path: Path, figures: Figures) -> None:
    docs = int(env_number("FROSTBYTE_FAULT_R2_DOCS", 500))
    rounds = int(env_number("FROSTBYTE_FAULT_R2_ROUNDS", 20))
    per_batch = int(env_number("FROSTBYTE_FAULT_R2_BATCH", 25))
    seed = int(env_number("FROSTBYTE_FAULT_SEED", time.time()))
    figures.add("parameters", f"{docs} documents in uploads of {per_batch}, {rounds} kill "
                f"rounds, seed {seed}")
    rng = random.Random(seed)
    files = write_corpus(tmp_path / "files", docs, seed=seed)
    groups = [files[i:i + per_batch] for i in range(0, len(files), per_batch)]
    keys = [f"r2-{seed}-{n}" for n in range(len(groups))]
    must_index = {p.name for p in files if not is_real(p)}
    run = Deadline("R2", env_number("FROSTBYTE_FAULT_R2_DRAIN_S", 3600))

    plane = FaultPlane(TENANT, fault_database, tmp_path / "dp", s3=s3_tenant)
    try:
        plane.setup()
        started = time.monotonic()
        with ThreadPoolExecutor(1) as pool, plane.client() as client:
            uploads = pool.submit(_upload_all, client, groups, keys, run,
                                  random.Random(seed + 1))
            try:
                killed, restarts = _kill_rounds(plane, rng, rounds, figures)
            except BaseException:
                run.cancel()  # the uploader stops at its next attempt
                raise
            deliveries, uploaded = uploads.result()
        wait_settled(plane.database_url, run, stall_s=env_number("FROSTBYTE_FAULT_STALL_S", 240),
                     seen=lambda: str(problems(read_ledger(plane.database_url), {},
                                               Counter(), set())["stuck"][:20]))
        settled = time.monotonic() - started
        with plane.client() as client:
            verdict = client.get("/v1/audit/verify").json()
            ledger = read_ledger(plane.database_url)
            indexed = [str(d.document_id) for d in ledger.documents if d.status == "INDEXED"]
            missing = _canonical_missing(client, indexed)
    finally:
        plane.stop()  # releases the embedded index, read below
    points, total = index_points(plane.vector_index(), indexed)
    found = problems(ledger, {k: [p.name for p in g] for k, g in zip(keys, groups, strict=True)},
                     points, must_index, total)
    found["half_indexed"] += missing

    resent = [d for d in deliveries if d.attempts > 1]
    figures.add("kills", dict(killed))
    figures.add("restart to ready (s)", f"median {statistics.median(restarts):.1f}, "
                f"max {max(restarts):.1f}" if restarts else "no rounds")
    figures.add("uploads re-sent under their key", f"{len(resent)} of {len(deliveries)} "
                f"({Counter(f for d in resent for f in d.failures)})")
    figures.add("documents by status", ledger.by_status())
    figures.add("chunks / index points", f"{sum(ledger.chunks.values())} / {total}")
    figures.add("audit verify", {k: verdict.get(k) for k in ("ok", "events", "problem")})
    figures.add("processes left in a killed role's session 3 s after",
                dict(plane.leftovers))
    figures.add("upload scratch folders left behind",
                len(list((plane.state / "work" / "uploads").glob("batch-*"))))
    figures.add("seconds", f"uploads {uploaded:.0f}, all settled {settled:.0f}")
    figures.add("problems", {k: len(v) for k, v in found.items()})
    assert verdict.get("ok") is True, verdict
    assert not any(found.values()), {k: v[:20] for k, v in found.items() if v}
