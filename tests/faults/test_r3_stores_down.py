"""R3: the stores fail in the middle of a batch, each in turn — the S3 server (SeaweedFS)
frozen with SIGSTOP, then killed with SIGKILL and restarted, then PostgreSQL restarted — and
the batch still completes once they are back; while a store is down, ``/readyz`` says which.

The round runs its own PostgreSQL cluster (``PgCluster``: a socket under /tmp, a free port)
and its own SeaweedFS (``SeaweedServer`` on 127.0.0.1, free ports) with the tenant's bucket,
key and data keys, so it stops nothing it did not start. A role that exits while a store is
down is restarted, as its supervisor would, and counted.

Sizes (environment): ``FROSTBYTE_FAULT_R3_DOCS`` (150), ``FROSTBYTE_FAULT_R3_DOWN_S`` (how long
each fault lasts, 20), ``FROSTBYTE_FAULT_ROUND_S`` (one fault and the recovery, 300),
``FROSTBYTE_FAULT_R3_DRAIN_S`` (the whole run, 1800), ``FROSTBYTE_FAULT_STALL_S`` (240).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from control_plane.adapters.seaweedfs import (
    AdminCredentials,
    SeaweedPorts,
    SeaweedServer,
    weed_binary,
)
from control_plane.errors import LocalRuntimeError
from control_plane.local_runtime.pg_cluster import PgCluster
from tests.e2e.harness import free_port
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

TENANT = "faults-r3"
PER_UPLOAD = 25

@pytest.fixture
def own_postgres() -> Iterator[PgCluster]:
    """A PostgreSQL cluster of this round's own (never the system's or the session's)."""
    if shutil.which("initdb") is None and not Path("/usr/lib/postgresql/15/bin/initdb").exists():
        pytest.skip("no PostgreSQL binaries")
    # Directly under /tmp: pytest's own tmp dirs (0700, root) are unreachable for `postgres`.
    root = Path(tempfile.mkdtemp(prefix="fb-fault-pg-"))
    os.chmod(root, 0o755)  # noqa: PTH101
    cluster = PgCluster(root=root / "pg", socket_dir=root / "run", port=free_port(),
                        settings={"fsync": "off", "full_page_writes": "off"})
    try:
        cluster.init()
        cluster.start()
        cluster.create_database("faults")
        yield cluster
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def own_seaweedfs(tmp_path: Path) -> Iterator[SeaweedServer]:
    """A SeaweedFS of this round's own on free 127.0.0.1 ports."""
    try:
        binary = weed_binary()
    except LocalRuntimeError as exc:
        pytest.skip(str(exc))
    server = SeaweedServer(
        tmp_path / "seaweedfs", SeaweedPorts.free(),
        AdminCredentials("AK" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)),
        binary=binary)
    server.start()
    try:
        yield server
    finally:
        _signal_server(server, signal.SIGCONT)
        server.stop()


def _signal_server(server: SeaweedServer, sig: signal.Signals) -> None:
    """Signal our server by the pid it recorded (not running: nothing of ours to signal)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        os.kill(int(server.pid_file.read_text(encoding="ascii").split()[0]), sig)


@dataclass
class Readiness:
    """What ``/readyz`` answered during one fault."""

    answers: Counter[str] = field(default_factory=Counter)
    slowest_s: float = 0.0
    first_down_after_s: float | None = None

    def summary(self) -> str:
        first = ("never" if self.first_down_after_s is None
                 else f"{self.first_down_after_s:.1f} s in")
        return (f"said the store was down {first}; answers {dict(self.answers)}; slowest "
                f"{self.slowest_s:.1f} s")


def _watch_readyz(url: str, check: str, seconds: float) -> Readiness:
    """Poll ``/readyz`` for ``seconds``: record each answer and when it first said that
    ``check`` is false."""
    seen = Readiness()
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        asked = time.monotonic()
        try:
            response = httpx.get(f"{url}/readyz", timeout=40)
            body = response.json()
            checks = body.get("checks", {})
            label = f"{response.status_code} {check}={checks.get(check)}"
            if response.status_code == 503 and checks.get(check) is False \
                    and seen.first_down_after_s is None:
                seen.first_down_after_s = time.monotonic() - started
        except httpx.HTTPError as exc:
            label = type(exc).__name__
        seen.answers[label] += 1
        seen.slowest_s = max(seen.slowest_s, time.monotonic() - asked)
        time.sleep(1.0)
    return seen


class Supervisor:
    """Restarts a role that exited, as a supervisor (systemd) would, and counts it: the
    round goes on to see whether the rest recovers, and fails at the end all the same (the
    local provider restarts nothing: an exit there leaves the tenant without that role)."""

    def __init__(self, plane: FaultPlane) -> None:
        self.plane = plane
        self.restarted: Counter[str] = Counter()

    def running(self) -> list[str]:
        return sorted(r for r, p in self.plane.procs.items() if p.poll() is None)

    def check(self) -> None:
        for role in ("serve", "worker"):
            proc = self.plane.procs.get(role)
            if proc is not None and proc.poll() is not None:
                self.plane.procs.pop(role)
                self.restarted[f"{role} (exit {proc.returncode})"] += 1
                self.plane.start(role)


def _outage(name: str, plane: FaultPlane, supervisor: Supervisor, figures: Figures, *,
            check: str, steps: list[tuple[str, Callable[[], object]]],
            restore: Callable[[], object]) -> None:
    """One fault round: each step (``/readyz`` watched after it, and it must say ``check``
    is down), then ``restore()`` and the wait until the data plane is ready again — all
    within the round's deadline."""
    deadline = Deadline(f"R3 {name}", env_number("FROSTBYTE_FAULT_ROUND_S", 300))
    for label, act in steps:
        before = pipeline_state(plane.database_url)
        act()
        seen = _watch_readyz(plane.url, check, env_number("FROSTBYTE_FAULT_R3_DOWN_S", 20))
        supervisor.check()
        figures.add(f"{name}: {label}", f"at {before}: /readyz {seen.summary()}")
        assert seen.first_down_after_s is not None, \
            f"{name}, {label}: /readyz never reported {check} down: {seen.summary()}"
    restore()
    back = time.monotonic()

    def ready() -> bool:
        supervisor.check()
        try:
            return httpx.get(f"{plane.url}/readyz", timeout=10).status_code == 200
        except httpx.HTTPError:
            return False

    deadline.wait_for(ready, lambda: f"readyz never 200 again; {plane.log_tail('serve')}")
    figures.add(f"{name}: restored", f"ready {time.monotonic() - back:.1f} s later")


def test_batch_completes_after_object_store_and_database_come_back(
        own_postgres: PgCluster, own_seaweedfs: SeaweedServer, tmp_path: Path,
        figures: Figures) -> None:
    cluster, server = own_postgres, own_seaweedfs
    docs = int(env_number("FROSTBYTE_FAULT_R3_DOCS", 150))
    bucket, access, secret = (f"t-{secrets.token_hex(6)}", "AK" + secrets.token_hex(8).upper(),
                              secrets.token_urlsafe(30))
    server.admin().ensure_tenant(bucket, access, secret)
    files = write_corpus(tmp_path / "files", docs, seed=3)
    groups = [files[i:i + PER_UPLOAD] for i in range(0, len(files), PER_UPLOAD)]
    keys = [f"r3-{n}" for n in range(len(groups))]
    plane = FaultPlane(TENANT, cluster.conninfo("faults"), tmp_path / "dp",
                       s3=S3Tenant(server.s3_endpoint, bucket, access, secret))
    supervisor = Supervisor(plane)
    run = Deadline("R3", env_number("FROSTBYTE_FAULT_R3_DRAIN_S", 1800))
    try:
        plane.setup()
        with ThreadPoolExecutor(1) as pool, plane.client() as client:
            uploads = pool.submit(
                lambda: [deliver(client, g, k, run) for g, k in zip(groups, keys, strict=True)])
            try:
                _wait_started(plane, run)
                _outage("S3 server", plane, supervisor, figures, check="object_store", steps=[
                    ("frozen (SIGSTOP)", lambda: _signal_server(server, signal.SIGSTOP)),
                    ("killed (SIGKILL)", lambda: _signal_server(server, signal.SIGKILL))],
                    restore=server.start)
                _outage("PostgreSQL", plane, supervisor, figures, check="database",
                        steps=[("stopped (pg_ctl stop -m fast)", cluster.stop)],
                        restore=cluster.start)
            except BaseException:
                run.cancel()
                raise
            deliveries: list[Delivery] = uploads.result()
        _settle(plane, supervisor, run)
        with plane.client() as client:
            verdict = client.get("/v1/audit/verify").json()
            ledger = read_ledger(plane.database_url)
            indexed = [str(d.document_id) for d in ledger.documents if d.status == "INDEXED"]
            unreadable = [d for d in indexed
                          if client.get(f"/v1/documents/{d}").status_code != 200]
    finally:
        plane.stop()
    points, total = index_points(plane.vector_index(), indexed)
    found = problems(ledger, {k: [p.name for p in g] for k, g in zip(keys, groups, strict=True)},
                     points, {p.name for p in files if not is_real(p)}, total)
    found["half_indexed"] += [f"{d}: canonical JSON unreadable" for d in unreadable]
    figures.add("uploads re-sent under their key",
                f"{sum(d.attempts > 1 for d in deliveries)} of {len(deliveries)} "
                f"({Counter(f for d in deliveries for f in d.failures)})")
    figures.add("roles restarted after exiting", dict(supervisor.restarted))
    figures.add("documents by status", ledger.by_status())
    figures.add("audit verify", {k: verdict.get(k) for k in ("ok", "events", "problem")})
    figures.add("problems", {k: len(v) for k, v in found.items()})
    assert verdict.get("ok") is True, verdict
    assert not any(found.values()), {k: v[:20] for k, v in found.items() if v}
    assert not supervisor.restarted, f"roles exited during the outages: " \
        f"{dict(supervisor.restarted)}"


def _wait_started(plane: FaultPlane, deadline: Deadline) -> None:
    """Until the worker has taken the first documents on (the faults hit a batch midway)."""
    deadline.wait_for(
        lambda: any(k != "ACCEPTED/RECEIVED" and not k.startswith("INDEXED")
                    for k in pipeline_state(plane.database_url)),
        lambda: str(pipeline_state(plane.database_url)), poll=0.5)


def _settle(plane: FaultPlane, supervisor: Supervisor, deadline: Deadline) -> None:
    """Until every document has ended, the supervisor restarting what exits."""
    def seen() -> str:
        stuck = problems(read_ledger(plane.database_url), {}, Counter(), set())["stuck"]
        return (f"{stuck[:20]}; roles restarted: {dict(supervisor.restarted)}; running: "
                f"{supervisor.running()}")

    wait_settled(plane.database_url, deadline,
                 stall_s=env_number("FROSTBYTE_FAULT_STALL_S", 240), seen=seen,
                 tick=supervisor.check)
