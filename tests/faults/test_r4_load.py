"""R4: 50 concurrent uploaders against one tenant (objects on SeaweedFS, encrypted) for
``FROSTBYTE_FAULT_R4_SECONDS`` (600): every answer is a 202 receipt or a 429 with
``Retry-After`` (which the uploader honours), never a 5xx or a dropped connection; the API's
resident memory stays under ``FROSTBYTE_FAULT_R4_RSS_MIB`` (3072); the audit chain still
verifies. Prints the counts, the receipt time's p50/p99 and the API's memory."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from tests.faults.plane import Deadline, FaultPlane, Figures, env_number
from tests.seaweedfs_fixture import S3Tenant

pytestmark = [pytest.mark.fault, pytest.mark.e2e]

UPLOADERS = 50
MIB = 1 << 20


@dataclass
class Tally:
    """What the uploaders saw."""

    statuses: Counter[str] = field(default_factory=Counter)
    receipt_s: list[float] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


class RssSampler:
    """Samples a process's resident memory every ``every`` seconds in a thread."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        self._proc = psutil.Process(pid)
        self._every = every
        self._stop = threading.Event()
        self.samples: list[int] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.samples.append(int(self._proc.memory_info().rss))
            except psutil.Error:
                return


def _body(uploader: int, number: int, rng: random.Random) -> tuple[str, bytes, str]:
    """One small, unique text file: its name, bytes and manifest."""
    text = f"Uploader {uploader} file {number}. " + " ".join(
        rng.choice(("seal", "pallet", "probe", "courier", "lot", "reading"))
        for _ in range(rng.randint(100, 8000)))
    data = text.encode()
    name = f"load-{uploader:02d}-{number:05d}.txt"
    manifest = {"client_ref": f"r4-{uploader}", "files": [
        {"name": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}]}
    return name, data, json.dumps(manifest)


async def _uploader(client: httpx.AsyncClient, uploader: int, until: float,
                    tally: Tally) -> None:
    rng = random.Random(uploader)
    number = 0
    while time.monotonic() < until:
        name, data, manifest = _body(uploader, number, rng)
        started = time.perf_counter()
        try:
            response = await client.post("/v1/batches", data={"manifest": manifest},
                                         files=[("files", (name, data))])
        except httpx.TransportError as exc:
            tally.statuses["transport error"] += 1
            tally.unexpected.append(f"{name}: {type(exc).__name__}")
            await asyncio.sleep(1.0)
            continue
        elapsed = time.perf_counter() - started
        retry_after = response.headers.get("retry-after", "")
        if response.status_code == 202:
            tally.statuses["202"] += 1
            tally.receipt_s.append(elapsed)
            number += 1
        elif response.status_code == 429 and retry_after.isdigit():
            tally.statuses["429"] += 1
            await asyncio.sleep(int(retry_after) * rng.uniform(1.0, 1.2))
        else:
            tally.statuses[str(response.status_code)] += 1
            tally.unexpected.append(f"{name}: {response.status_code} "
                                    f"retry-after={retry_after!r} {response.text[:200]}")
            await asyncio.sleep(1.0)


async def _load(url: str, key: str, seconds: float, deadline: Deadline) -> Tally:
    tally = Tally()
    limits = httpx.Limits(max_connections=UPLOADERS, max_keepalive_connections=UPLOADERS)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits,
                                 headers={"Authorization": f"Bearer {key}"}) as client:
        until = time.monotonic() + seconds
        work = asyncio.gather(*(_uploader(client, n, until, tally) for n in range(UPLOADERS)))
        try:
            await asyncio.wait_for(work, timeout=max(deadline.left, 1.0))
        except TimeoutError:
            deadline.fail(f"{dict(tally.statuses)}; {tally.unexpected[:5]}")
    return tally


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 \
        else (values[0] if values else float("nan"))


def test_fifty_uploaders_get_receipts_or_retry_after_and_the_api_memory_stays_bounded(
        fault_database: str, s3_tenant: S3Tenant, tmp_path: Path, figures: Figures) -> None:
    seconds = env_number("FROSTBYTE_FAULT_R4_SECONDS", 600)
    ceiling = env_number("FROSTBYTE_FAULT_R4_RSS_MIB", 3072) * MIB
    deadline = Deadline("R4", seconds + env_number("FROSTBYTE_FAULT_ROUND_S", 300))
    plane = FaultPlane("faults-r4", fault_database, tmp_path / "dp", s3=s3_tenant)
    try:
        plane.setup()
        api = plane.procs["serve"].pid
        baseline = psutil.Process(api).memory_info().rss
        with RssSampler(api) as rss:
            tally = asyncio.run(_load(plane.url, plane.key, seconds, deadline))
        with plane.client() as client:
            verdict = client.get("/v1/audit/verify", timeout=300).json()
    finally:
        plane.stop()
    peak = max(rss.samples, default=baseline)
    figures.add("answers", dict(tally.statuses))
    figures.add("receipt time (s)", f"p50 {_percentile(tally.receipt_s, 50):.3f}, "
                f"p99 {_percentile(tally.receipt_s, 99):.3f} over {len(tally.receipt_s)}")
    figures.add("receipts per second", f"{len(tally.receipt_s) / seconds:.1f}")
    figures.add("API RSS (MiB)", f"at start {baseline / MIB:.0f}, max {peak / MIB:.0f}, "
                f"at end {(rss.samples or [baseline])[-1] / MIB:.0f}")
    figures.add("audit verify", {k: verdict.get(k) for k in ("ok", "events", "problem")})
    assert not tally.unexpected, tally.unexpected[:20]
    assert tally.statuses["202"] > 0
    assert peak < ceiling, f"the API grew to {peak / MIB:.0f} MiB"
    assert verdict.get("ok") is True, verdict
