"""Intake benchmark: one large file through ``POST /v1/batches`` of a real data plane.

Starts a throwaway PostgreSQL cluster and one tenant data plane (API + worker, like the e2e
harness), generates the file on the fly (a PDF header, then zeros: never stored in the repo
and never held in memory), streams the multipart body, and prints the upload's MB/s and the
API process's peak RSS growth over its RSS before the upload (sampled every 20 ms).

    .venv/bin/python bench/intake.py [--gib 2] [--clamd]

``--clamd`` also runs the malware scan (a real clamd with the shipped test signatures) on
the file, as production does. Goal (issue 3): >= 300 MB/s on loopback, RSS growth <= 64 MB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from control_plane.local_runtime.pg_cluster import PgCluster  # noqa: E402
from tests.conftest import create_database  # noqa: E402
from tests.e2e.harness import DataPlaneHarness  # noqa: E402

CHUNK = 1 << 20
HEADER = b"%PDF-1.4\n% frostbyte intake benchmark\n"


def content(size: int) -> Iterator[bytes]:
    yield HEADER
    left = size - len(HEADER)
    zeros = bytes(CHUNK)
    while left > 0:
        n = min(left, CHUNK)
        yield zeros[:n]
        left -= n


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class BenchHarness(DataPlaneHarness):
    """The harness's data plane without its worker: the bench measures intake, not the
    parse of a gigabyte of zeros."""

    def start(self, role: str) -> None:
        if role != "worker":
            super().start(role)

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        gib = 1 << 30
        env["FROSTBYTE_DP_TENANT_CONFIG"] = json.dumps({"intake": {
            "max_file_bytes": 8 * gib, "max_batch_bytes": 8 * gib}})
        return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0, help="file size in GiB")
    parser.add_argument("--clamd", action="store_true", help="scan with a real clamd")
    args = parser.parse_args(argv)
    size = int(args.gib * (1 << 30))

    root = Path(tempfile.mkdtemp(prefix="fb-bench-intake-"))
    os.chmod(root, 0o755)  # noqa: PTH101 - the postgres user must reach the socket dir
    cluster = PgCluster(root=root / "pg", socket_dir=root / "run", port=54333,
                        settings={"fsync": "off", "synchronous_commit": "off"})
    plane: BenchHarness | None = None
    try:
        cluster.init()
        cluster.start()
        _, conninfo = create_database(cluster.conninfo(), prefix="fbbench")
        plane = BenchHarness("bench", conninfo, root / "dp", clamd=args.clamd)
        plane.setup()

        digest = hashlib.sha256()
        for block in content(size):
            digest.update(block)
        manifest = {"client_ref": "bench-intake", "files": [
            {"name": "big.pdf", "sha256": digest.hexdigest(), "size": size}]}
        boundary = "frostbyte-bench-boundary"

        def body() -> Iterator[bytes]:
            yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"manifest\"\r\n\r\n"
                   f"{json.dumps(manifest)}\r\n--{boundary}\r\nContent-Disposition: form-data;"
                   f" name=\"files\"; filename=\"big.pdf\"\r\nContent-Type: application/pdf"
                   f"\r\n\r\n").encode()
            yield from content(size)
            yield f"\r\n--{boundary}--\r\n".encode()

        pid = plane.procs["serve"].pid
        before = rss_kib(pid)
        peak = before
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_kib(pid))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        with plane.client() as client:
            response = client.post(
                "/v1/batches", content=body(), timeout=3600,
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
        doc = response.json()["documents"][0] if response.status_code == 202 else response.text
        mb = size / 1e6
        print(f"file            {size / (1 << 30):.2f} GiB ({mb:.0f} MB)"
              f"{', scanned by clamd' if args.clamd else ''}")
        print(f"HTTP            {response.status_code}; verdict {doc}")
        print(f"upload+intake   {seconds:.1f} s  ->  {mb / seconds:.0f} MB/s")
        print(f"API RSS         {before / 1024:.0f} MiB before, peak {peak / 1024:.0f} MiB, "
              f"growth {(peak - before) / 1024:.1f} MiB")
        return 0 if response.status_code == 202 else 1
    finally:
        try:
            if plane is not None:
                plane.stop()
        finally:
            cluster.destroy()
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
