"""Density benchmark (issue 18): N local tenants on this machine.

Starts a local stack of its own (``frostbyte local up`` with ``FROSTBYTE_STATE_DIR`` set to
a fresh folder: its own PostgreSQL cluster, SeaweedFS and control plane; real processes, one
Unix account per tenant, so it runs as root), then:

1. asks for N tenants at once (``POST /v1/tenants`` from N threads) and prints the time
   until every one is ACTIVE (and each tenant's own);
2. counts the connections each tenant's processes hold (``pg_stat_activity``) right then;
3. waits ``--idle-wait-s`` and prints each tenant's resident memory: the sum over every
   process of its Unix account (API, worker, parser and embedding children, clamd, the
   gateway's nginx workers) and of its log relays (root's, found by their command line) as
   RSS, PSS and USS (``psutil``: PSS shares a page among the processes that map it, so
   tenants' shared libraries are not counted N times);
4. sends one small file to the first tenant, whose worker is cold (it never loaded its
   pipeline, or dropped it after ``--idle-stop-s``): the first-batch latency, from the upload
   to the document's final state; then waits for the worker to go idle again and prints its
   RSS before, loaded and after;
5. cleans up: deprovisions every tenant, stops the stack, removes the ``fbt-*`` accounts
   it made and the state folder.

    sudo .venv/bin/python bench/tenants.py --tenants 20

Figures only, no thresholds (SPEC §8). Goal (issue 18): all ACTIVE in ≤ 60 s, idle RSS
≤ 300 MB a tenant, on the 2-core development box.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import psycopg  # noqa: E402

from control_plane.adapters import unix_accounts  # noqa: E402
from control_plane.local_runtime import stack  # noqa: E402
from control_plane.local_runtime.pg_cluster import PgCluster  # noqa: E402
from control_plane.providers.local import port_free, role_name  # noqa: E402
from frostbyte_cli.client import ControlPlaneClient, TenantClient  # noqa: E402
from frostbyte_common import tls  # noqa: E402

MIB = 1024 * 1024
SAMPLE = ROOT / "samples" / "parking-permit-faq.txt"


def free_port() -> int:
    for port in range(18000, 19000):
        if port_free("127.0.0.1", port):
            return port
    raise SystemExit("no free port in 18000-18999 for the control plane")


def provision_all(cp: ControlPlaneClient, slugs: list[str], timeout_s: float
                  ) -> tuple[float, dict[str, float], dict[str, str]]:
    """Ask for every tenant at once; seconds until all are ACTIVE, each one's seconds, and
    the tenants that ended otherwise (slug → state and reason)."""
    started = time.monotonic()
    errors: dict[str, str] = {}

    def create(slug: str) -> None:
        try:
            cp.create_tenant(slug, f"Density bench {slug}", "local")
        except Exception as exc:  # reported below, the others go on
            errors[slug] = f"create: {exc}"

    threads = [threading.Thread(target=create, args=(s,)) for s in slugs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    active: dict[str, float] = {}
    while time.monotonic() - started < timeout_s:
        for tenant in cp.list_tenants():
            slug = tenant["slug"]
            if slug not in slugs or slug in active or slug in errors:
                continue
            if tenant["state"] == "ACTIVE":
                active[slug] = time.monotonic() - started
            elif tenant["state"] == "FAILED":
                errors[slug] = f"FAILED: {tenant.get('failure_reason')}"
        if len(active) + len(errors) == len(slugs):
            break
        time.sleep(0.5)
    for slug in slugs:
        if slug not in active and slug not in errors:
            errors[slug] = "not ACTIVE in time"
    return time.monotonic() - started, active, errors


def connections(admin_conninfo: str, slugs: list[str]) -> dict[str, int]:
    """Connections to each tenant's database now."""
    with psycopg.connect(admin_conninfo) as conn:
        rows = conn.execute("SELECT datname, count(*) FROM pg_stat_activity "
                            "WHERE datname IS NOT NULL GROUP BY datname").fetchall()
    counts = {str(name): int(n) for name, n in rows}
    return {slug: counts.get(role_name(slug), 0) for slug in slugs}


def tenant_memory(slug: str) -> tuple[dict[str, int], dict[str, int]]:
    """RSS/PSS/USS (bytes) summed over the processes of the tenant's account, and RSS by
    process kind."""
    account = unix_accounts.lookup(slug)
    totals = {"rss": 0, "pss": 0, "uss": 0}
    kinds: dict[str, int] = defaultdict(int)
    if account is None:
        return totals, kinds
    relay_field = f"tenant={slug}"
    for proc in psutil.process_iter(["uids", "cmdline"]):
        try:
            cmdline = proc.info["cmdline"] or []
            # its log relays run as root (they write logs/, root's): found by their command
            # line, which names the tenant (--field tenant=SLUG)
            relay = "frostbyte_common.log_relay" in cmdline and relay_field in cmdline
            if not relay and (proc.info["uids"] is None or proc.info["uids"].real != account.uid):
                continue
            info = proc.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        totals["rss"] += info.rss
        totals["pss"] += info.pss
        totals["uss"] += info.uss
        kinds[_kind(cmdline)] += info.rss
    return totals, dict(kinds)


def _kind(cmdline: list[str]) -> str:
    text = " ".join(cmdline)
    for needle, kind in (("frostbyte_common.log_relay", "log relays"),
                         ("data_plane serve", "api"), ("data_plane worker", "worker"),
                         ("clamd", "clamd"), ("nginx", "gateway"),
                         ("multiprocessing", "child")):
        if needle in text:
            return kind
    return "other"


def process_rss(slug: str, kind: str) -> int:
    return tenant_memory(slug)[1].get(kind, 0)


def first_batch(cp: ControlPlaneClient, slug: str, timeout_s: float) -> dict[str, Any]:
    """Send one file to a cold tenant; seconds from the upload to its final state."""
    tenant = cp.get_tenant(slug)
    key = cp.create_vendor_key(slug, ["ingest", "read"], label="bench/tenants.py")
    client = TenantClient(str(tenant["endpoint"]), key["key"],
                          verify=tls.client_context(cp.ca_certificate()))
    with client:
        client.wait_until_ready(timeout=120)
        started = time.monotonic()
        receipt = client.submit_batch([SAMPLE], f"density-{secrets.token_hex(4)}")
        batch = client.wait_for_batch(receipt["batch_id"], timeout_s, poll_interval=0.25)
        seconds = time.monotonic() - started
    statuses = sorted({str(d.get("status")) for d in batch.get("documents", [])})
    return {"seconds": seconds, "statuses": statuses}


def wait_for_idle_worker(slug: str, loaded_rss: int, timeout_s: float) -> tuple[float, int]:
    """Seconds until the worker's RSS fell below half of ``loaded_rss`` (its re-exec), and
    that RSS."""
    started = time.monotonic()
    rss = loaded_rss
    while time.monotonic() - started < timeout_s:
        rss = process_rss(slug, "worker")
        if 0 < rss < loaded_rss / 2:
            break
        time.sleep(1)
    return time.monotonic() - started, rss


#: (command-line needle, step) in the order they are tried: what each process of a
#: provisioning is, for --profile's table
_STEPS = (
    ("frostbyte_common.log_relay", "log relays"), ("data_plane migrate", "migrate"),
    ("data_plane add-vendor-key", "add-vendor-key"), ("data_plane clamd-info", "clamd-info"),
    ("data_plane clamd-config", "clamd-config"), ("data_plane serve", "api (to ACTIVE)"),
    ("data_plane worker", "worker (to ACTIVE)"), ("multiprocessing", "worker children"),
    ("clamd", "clamd (to ACTIVE)"), ("nginx", "gateway"), ("sops", "sops"),
    ("weed", "weed shell"), ("useradd", "useradd/groupadd"), ("groupadd", "useradd/groupadd"),
    ("-c import os", "reachability probe"),
)


def _step(cmdline: list[str]) -> str:
    text = " ".join(cmdline)
    for needle, step in _STEPS:
        if needle in text:
            return step
    return "other: " + (" ".join(Path(a).name for a in cmdline[:3]))[:40]


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


class CpuSampler:
    """CPU seconds (user+sys) of every process the control plane starts while a tenant is
    provisioned, by step: its descendants are sampled every few ms (a one-shot's last
    sample is its figure), and the control plane's reaped-children totals give what the
    samples missed (processes shorter than the interval). The control plane's own
    CPU, PostgreSQL's (every backend of the stack's cluster) and SeaweedFS's are rows too."""

    def __init__(self, cp_pid: int, pg_pid: int | None, s3_pid: int | None) -> None:
        self._cp = psutil.Process(cp_pid)
        self._others = {name: psutil.Process(pid) for name, pid in
                        (("postgres (all backends)", pg_pid), ("seaweedfs", s3_pid))
                        if pid is not None}
        self._seen: dict[tuple[int, float], tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start: dict[str, float] = {}
        self._before: set[tuple[int, float]] = set()

    def _totals(self) -> dict[str, float]:
        cp = self._cp.cpu_times()
        totals = {"control plane itself": cp.user + cp.system,
                  "_reaped": cp.children_user + cp.children_system}
        for name, proc in self._others.items():
            times = proc.cpu_times()
            own = times.user + times.system + times.children_user + times.children_system
            for child in proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    own += _cpu(child)
            totals[name] = own
        return totals

    def _poll(self) -> None:
        while not self._stop.is_set():
            for proc in self._cp.children(recursive=True):
                try:
                    key = (proc.pid, proc.create_time())
                    # classified at every sample: a child's first may be from before its
                    # exec (the control plane's command line)
                    # (an exited child not yet reaped has none: it keeps its step)
                    cmdline = proc.cmdline()
                    step = _step(cmdline) if cmdline or key not in self._seen \
                        else self._seen[key][0]
                    self._seen[key] = (step, _cpu(proc))
                except psutil.Error:
                    continue
            time.sleep(0.01)

    def begin(self) -> None:
        self._seen = {}
        self._before = {key for key in self._pids()}
        self._start = self._totals()
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _pids(self) -> set[tuple[int, float]]:
        found = set()
        for proc in self._cp.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                found.add((proc.pid, proc.create_time()))
        return found

    def end(self) -> dict[str, float]:
        """CPU seconds by step since :meth:`begin` (processes from before it left out)."""
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        alive = self._pids()
        end = self._totals()
        steps: dict[str, float] = defaultdict(float)
        exited = 0.0
        for key, (step, cpu) in self._seen.items():
            if key in self._before:
                continue
            steps[step] += cpu
            if key not in alive:
                exited += cpu
        reaped = end.pop("_reaped") - self._start.pop("_reaped")
        if reaped - exited > 0.005:
            steps["unsampled short processes"] += reaped - exited
        for name, value in end.items():
            steps[name] += value - self._start[name]
        return dict(steps)


def profile(cp: ControlPlaneClient, info: Any, slugs: list[str], timeout_s: float) -> None:
    """Provision ``slugs`` one at a time, each alone on the stack, and print the CPU
    seconds (user+sys) each step of a provisioning costs, per tenant (mean), with the
    floor it sets on the time to provision them all at once on this machine's CPUs."""
    sampler = CpuSampler(info.pids["control_plane"], info.pids.get("postgres"),
                         info.pids.get("seaweedfs"))
    runs: list[dict[str, float]] = []
    for slug in slugs:
        sampler.begin()
        started = time.monotonic()
        cp.create_tenant(slug, f"Density bench {slug}", "local")
        cp.wait_for_state(slug, {"ACTIVE"}, timeout=timeout_s)
        runs.append(sampler.end())
        print(f"  {slug} ACTIVE in {time.monotonic() - started:.1f} s, "
              f"{sum(runs[-1].values()):.2f} CPU-s")
    steps = sorted({step for run in runs for step in run},
                   key=lambda s: -sum(run.get(s, 0.0) for run in runs))
    print(f"\nCPU seconds (user+sys) per tenant's provisioning, mean of {len(runs)}:")
    for step in steps:
        print(f"  {step:<32} {statistics.mean(run.get(step, 0.0) for run in runs):6.2f}")
    total = statistics.mean(sum(run.values()) for run in runs)
    cpus = os.cpu_count() or 1
    print(f"  {'total':<32} {total:6.2f}   (floor for 20 tenants on {cpus} CPUs: "
          f"{20 * total / cpus:.0f} s)")


def cleanup(cp: ControlPlaneClient | None, slugs: list[str], state_dir: Path) -> None:
    if cp is not None:
        for slug in slugs:
            try:
                cp.tenant_action(slug, "deprovision")
            except Exception as exc:
                print(f"  deprovision {slug}: {exc}")
        for slug in slugs:
            try:
                cp.wait_for_state(slug, {"DEPROVISIONED"}, timeout=300)
            except Exception as exc:
                print(f"  {slug} not deprovisioned: {exc}")
    for line in stack.down(ROOT):
        print(f"  stopped {line}")
    for slug in slugs:
        try:
            if unix_accounts.lookup(slug) is not None:
                unix_accounts.remove(slug)
                print(f"  removed account {unix_accounts.account_name(slug)}")
        except Exception as exc:
            print(f"  account of {slug}: {exc}")
    shutil.rmtree(state_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=5)
    parser.add_argument("--idle-stop-s", type=float, default=20.0,
                        help="the tenants' FROSTBYTE_CP_LOCAL_IDLE_STOP_S (default 20)")
    parser.add_argument("--idle-wait-s", type=float, default=30.0,
                        help="wait this long after all are ACTIVE before measuring memory")
    parser.add_argument("--job-concurrency", type=int, default=0,
                        help="the control plane's FROSTBYTE_CP_JOB_CONCURRENCY "
                             "(default: --tenants)")
    parser.add_argument("--timeout-s", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true", help="leave everything running")
    parser.add_argument("--profile", action="store_true",
                        help="provision the tenants one at a time and print the CPU seconds "
                             "each step of a provisioning costs instead")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("run as root: each local tenant gets a Unix account of its own")

    run = secrets.token_hex(2)
    slugs = [f"d{run}-{i:02d}" for i in range(args.tenants)]
    state_dir = Path(tempfile.mkdtemp(prefix="frostbyte-density-"))
    os.environ.update(
        FROSTBYTE_STATE_DIR=str(state_dir),
        FROSTBYTE_CP_CLAMD_ALLOW_TEST_SIGNATURES="true",
        FROSTBYTE_CP_LOCAL_IDLE_STOP_S=str(args.idle_stop_s),
        FROSTBYTE_CP_JOB_CONCURRENCY=str(args.job_concurrency or args.tenants))
    print(f"state {state_dir}; {args.tenants} tenants {slugs[0]}…; idle stop "
          f"{args.idle_stop_s:.0f} s; job concurrency {args.job_concurrency or args.tenants}; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    cp: ControlPlaneClient | None = None
    try:
        info = stack.up(ROOT, port=free_port())
        cp = ControlPlaneClient(info.control_plane_url, info.admin_token, timeout=60)
        cluster = stack._cluster_from_stack(stack._read_stack(state_dir))
        assert isinstance(cluster, PgCluster)
        admin = cluster.conninfo("postgres")
        if args.profile:
            profile(cp, info, slugs, args.timeout_s)
            return 0

        total, active, errors = provision_all(cp, slugs, args.timeout_s)
        load = os.getloadavg()[0]
        print(f"\nall ACTIVE: {'yes' if not errors else 'NO'} — {len(active)}/{len(slugs)} in "
              f"{total:.1f} s (load average then {load:.2f})")
        if active:
            times = sorted(active.values())
            print(f"  per tenant: first {times[0]:.1f} s, median "
                  f"{statistics.median(times):.1f} s, last {times[-1]:.1f} s")
        for slug, why in errors.items():
            print(f"  {slug}: {why[:300]}")
        counts = connections(admin, slugs)
        print(f"connections per tenant right after: max {max(counts.values())}, total "
              f"{sum(counts.values())}")

        print(f"\nidle wait {args.idle_wait_s:.0f} s…")
        time.sleep(args.idle_wait_s)
        memory = {slug: tenant_memory(slug) for slug in active}
        if memory:
            for measure in ("rss", "pss", "uss"):
                values = sorted(m[0][measure] / MIB for m in memory.values())
                print(f"idle {measure.upper()} per tenant: median {statistics.median(values):.0f} "
                      f"MB, max {values[-1]:.0f} MB, all tenants {sum(values):.0f} MB")
            kinds: dict[str, list[int]] = defaultdict(list)
            for _, by_kind in memory.values():
                for kind, rss in by_kind.items():
                    kinds[kind].append(rss)
            print("  RSS by process (median): " + ", ".join(
                f"{k} {statistics.median(v) / MIB:.0f} MB" for k, v in sorted(kinds.items())))
        counts = connections(admin, slugs)
        print(f"connections per tenant idle: max {max(counts.values())}, total "
              f"{sum(counts.values())}")

        if active:
            cold = sorted(active)[0]
            before = process_rss(cold, "worker")
            result = first_batch(cp, cold, args.timeout_s)
            loaded = process_rss(cold, "worker")
            print(f"\ncold tenant {cold}: first batch (1 file) {result['seconds']:.1f} s, "
                  f"document {', '.join(result['statuses'])}; worker RSS {before / MIB:.0f} "
                  f"MB before, {loaded / MIB:.0f} MB loaded")
            waited, after = wait_for_idle_worker(cold, loaded, args.idle_stop_s + 60)
            print(f"  worker dropped its pipeline after {waited:.0f} s more: RSS "
                  f"{after / MIB:.0f} MB")
        return 0 if not errors else 1
    finally:
        if args.keep:
            print(f"\nkept: FROSTBYTE_STATE_DIR={state_dir}")
        else:
            print("\ncleaning up…")
            cleanup(cp, slugs, state_dir)
            if cp is not None:
                cp.close()


if __name__ == "__main__":
    sys.exit(main())
