"""``up`` and ``down`` of the local stack (see the package docstring)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from control_plane.adapters import processes
from control_plane.adapters.seaweedfs import AdminCredentials, SeaweedPorts, SeaweedServer
from control_plane.api.auth import token_sha256
from control_plane.errors import LocalRuntimeError
from control_plane.local_runtime.pg_cluster import PgCluster
from control_plane.providers.local import TenantPaths, port_free, process_markers
from frostbyte_common import logs

PG_PORT = 54329  # never 5432: that is the system cluster's
CONTROL_DB = "frostbyte_control"
CP_MARKER = "control_plane"
READY_TIMEOUT_S = 60.0

_CP_INHERITED_ENV = ("PATH", "HOME", "LANG", "LANGUAGE", "LC_ALL", "TZ", "TMPDIR",
                     "VIRTUAL_ENV", "SSL_CERT_FILE", "SSL_CERT_DIR", "HF_HOME",
                     "XDG_CACHE_HOME", "TORCH_HOME",
                     "FROSTBYTE_CP_LOCAL_ENGINE",  # process (default) or podman
                     # no Unix account per tenant (not root; development only), and what
                     # the capacity check expects a tenant to take
                     "FROSTBYTE_CP_LOCAL_SHARED_ACCOUNT",
                     "FROSTBYTE_CP_LOCAL_TENANT_MEMORY_BYTES",
                     # when idle tenants drop their heavy parts, how many tenant jobs
                     # run at once (issue 18, density; bench/tenants.py sets them)
                     "FROSTBYTE_CP_LOCAL_IDLE_STOP_S", "FROSTBYTE_CP_JOB_CONCURRENCY",
                     # the tenants' ClamAV signature folder, and whether the project's
                     # test signatures alone may do (tests, `make demo`)
                     "FROSTBYTE_CP_CLAMD_SIGNATURES",
                     "FROSTBYTE_CP_CLAMD_ALLOW_TEST_SIGNATURES")


@dataclass(frozen=True)
class LocalStackInfo:
    """What ``frostbyte local up --json`` prints."""

    control_plane_url: str
    admin_token: str
    database: str  # "project cluster at <socketdir> port <n>" or "DATABASE_URL"
    object_store: str  # "SeaweedFS S3 at <url>": each tenant a bucket and key of its own
    state_dir: Path
    pids: dict[str, int]


def state_dir_for(project_root: Path) -> Path:
    """``$FROSTBYTE_STATE_DIR`` if set, else ``<project_root>/.local``."""
    override = os.environ.get("FROSTBYTE_STATE_DIR")
    return Path(override).resolve() if override else (project_root / ".local").resolve()


def _stack_file(state_dir: Path) -> Path:
    return state_dir / "stack.json"


def _cp_pid_file(state_dir: Path) -> Path:
    return state_dir / "pids" / "control_plane.pid"


def _read_stack(state_dir: Path) -> dict[str, object]:
    try:
        data = json.loads(_stack_file(state_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_stack(state_dir: Path, data: dict[str, object]) -> None:
    tmp = _stack_file(state_dir).with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(_stack_file(state_dir))


def _private_value(path: Path, make: Callable[[], str]) -> str:
    """A local credential: written once by ``make`` (mode 0600, like a kubeconfig), then read
    back; an empty file is refused with what to do."""
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(make() + "\n")
    os.chmod(path, 0o600)  # noqa: PTH101 - also repairs a file someone loosened
    value = path.read_text(encoding="ascii").strip()
    if not value:
        raise LocalRuntimeError(f"{path} is empty; delete it and run `frostbyte local up` again")
    return value


def admin_token(state_dir: Path) -> str:
    """The local admin token: created once (mode 0600), then read back."""
    return _private_value(state_dir / "admin_token", lambda: secrets.token_urlsafe(32))


def s3_admin_credentials(state_dir: Path) -> AdminCredentials:
    """The admin identity of the stack's S3 server: made once (mode 0600), then read back."""
    path = state_dir / "s3_admin"
    access_key, _, secret_key = _private_value(path, lambda: (
        f"FBADMIN{secrets.token_hex(8).upper()} {secrets.token_urlsafe(30)}")).partition(" ")
    if not secret_key:
        raise LocalRuntimeError(f"{path} is damaged; delete it and run `frostbyte local up` again")
    return AdminCredentials(access_key, secret_key)


def _s3_server(state_dir: Path, stack: dict[str, object]) -> SeaweedServer:
    """The stack's SeaweedFS: the ports it had, unless one of them is taken by now."""
    recorded = stack.get("s3")
    root = state_dir / "seaweedfs"
    admin = s3_admin_credentials(state_dir)
    if isinstance(recorded, dict):
        server = SeaweedServer(root, SeaweedPorts(**recorded["ports"]), admin)
        ports = dataclasses.astuple(server.ports)
        if server.is_running() or all(port_free("127.0.0.1", p) for p in ports):
            return server
    return SeaweedServer(root, SeaweedPorts.free(), admin)


def _cluster_from_stack(stack: dict[str, object]) -> PgCluster | None:
    pg = stack.get("pg")
    if not isinstance(pg, dict):
        return None
    return PgCluster(root=Path(pg["root"]), socket_dir=Path(pg["socket_dir"]),
                     port=int(pg["port"]))


def up(project_root: Path, *, database_url: str | None = None, port: int = 8000
       ) -> LocalStackInfo:
    """Start what is not running — the project cluster (unless ``database_url``), then the
    control plane — and return how to reach it. Idempotent."""
    state_dir = state_dir_for(project_root)
    # traversable by local tenants' accounts (their folders are below), listable by nobody
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o711)
    state_dir.chmod(0o711)
    for sub in ("logs", "pids", "tenants"):
        (state_dir / sub).mkdir(exist_ok=True, mode=0o700)
    stack = _read_stack(state_dir)
    notes: list[str] = []

    if database_url is None:
        cluster = _cluster_from_stack(stack) or PgCluster.for_state_dir(
            state_dir, port=PG_PORT, notes=notes
        )
        cluster.init()
        cluster.start()
        cluster.create_database(CONTROL_DB)
        cp_database_url = cluster.conninfo(CONTROL_DB)
        admin_database_url = cluster.conninfo("postgres")
        database = cluster.describe()
        stack["pg"] = {"root": str(cluster.root), "socket_dir": str(cluster.socket_dir),
                       "port": cluster.port}
    else:
        cp_database_url = admin_database_url = database_url
        database = "DATABASE_URL"
        stack.pop("pg", None)
    stack["notes"] = notes
    s3 = _s3_server(state_dir, stack)
    s3.root.mkdir(exist_ok=True, mode=0o700)
    s3.start()
    stack["s3"] = {"root": str(s3.root), "ports": dataclasses.asdict(s3.ports)}
    _write_stack(state_dir, stack)

    token = admin_token(state_dir)
    url = f"http://127.0.0.1:{port}"
    pid_file = _cp_pid_file(state_dir)
    pid = processes.running_pid(pid_file, CP_MARKER)
    if pid is None or not processes.http_ok(f"{url}/readyz"):
        if pid is not None:
            processes.stop_pid_file(pid_file, CP_MARKER)
        if not port_free("127.0.0.1", port):
            raise LocalRuntimeError(
                f"port {port} is taken by another program; pick another with --port"
            )
        env = {k: v for k, v in os.environ.items() if k in _CP_INHERITED_ENV}
        # the control plane runs from this interpreter's installed packages, as the CLI does
        env.update(
            PYTHONUNBUFFERED="1",
            FROSTBYTE_CP_DATABASE_URL=cp_database_url,
            FROSTBYTE_CP_ADMIN_DATABASE_URL=admin_database_url,
            FROSTBYTE_CP_ADMIN_TOKEN_SHA256=token_sha256(token),
            FROSTBYTE_CP_HOST="127.0.0.1",
            FROSTBYTE_CP_PORT=str(port),
            FROSTBYTE_CP_STATE_DIR=str(state_dir),
            FROSTBYTE_CP_DATA_PLANE_PYTHON=sys.executable,
            FROSTBYTE_CP_S3_ENDPOINT=s3.s3_endpoint,
            FROSTBYTE_CP_S3_MASTER=s3.master_address,
            FROSTBYTE_CP_S3_ADMIN_ACCESS_KEY=s3.admin_credentials.access_key,
            FROSTBYTE_CP_S3_ADMIN_SECRET_KEY=s3.admin_credentials.secret_key,
        )
        log_file = state_dir / "logs" / "control_plane.log"
        pid = processes.spawn_detached(
            [sys.executable, "-m", "control_plane", "serve"],
            env=env, cwd=state_dir, log_file=log_file, pid_file=pid_file,
            # its JSON lines as they are; anything else it writes (a crash before its
            # logging is set up) made one
            relay=logs.relay_argv(sys.executable, logger="control_plane", level="warning"),
        )
        why = processes.wait_until_ready(
            f"{url}/readyz", timeout_s=READY_TIMEOUT_S, pids={pid: CP_MARKER}
        )
        if why is not None:
            processes.stop_pid_file(pid_file, CP_MARKER)
            raise LocalRuntimeError(
                f"the control plane did not start: {why}. End of {log_file}:\n"
                f"{processes.tail(log_file, max_bytes=2000)}"
            )

    pids = {"control_plane": pid}
    if (s3_pid := processes.running_pid(s3.pid_file, f"-dir={s3.data_dir}")) is not None:
        pids["seaweedfs"] = s3_pid
    own_cluster = _cluster_from_stack(stack)
    if own_cluster is not None and (pg_pid := own_cluster.postmaster_pid()) is not None:
        pids["postgres"] = pg_pid
    for tenant_dir in sorted((state_dir / "tenants").glob("*/")):
        paths = TenantPaths(tenant_dir)
        for name, marker in process_markers(paths).items():
            tenant_pid = processes.running_pid(paths.pid_file(name), marker)
            if tenant_pid is not None:
                pids[f"{tenant_dir.name}/{name}"] = tenant_pid
    return LocalStackInfo(control_plane_url=url, admin_token=token, database=database,
                          object_store=f"SeaweedFS S3 at {s3.s3_endpoint}",
                          state_dir=state_dir, pids=pids)


def down(project_root: Path) -> list[str]:
    """Stop the control plane, every local data plane and the project cluster (if ``up``
    started one). Returns what it stopped; data and the admin token are kept."""
    state_dir = state_dir_for(project_root)
    stopped: list[str] = []
    # The control plane first, so that it cannot (re)start a data plane behind our back.
    pid = processes.stop_pid_file(_cp_pid_file(state_dir), CP_MARKER)
    if pid is not None:
        stopped.append(f"control plane (pid {pid})")
    for tenant_dir in sorted((state_dir / "tenants").glob("*/")):
        paths = TenantPaths(tenant_dir)
        # API and worker before their clamd (the order of process_markers)
        for name, marker in process_markers(paths).items():
            pid = processes.stop_pid_file(paths.pid_file(name), marker)
            if pid is not None:
                stopped.append(f"data plane {tenant_dir.name} {name} (pid {pid})")
    stack = _read_stack(state_dir)
    if isinstance(recorded := stack.get("s3"), dict):
        s3 = SeaweedServer(Path(recorded["root"]), SeaweedPorts(**recorded["ports"]),
                           s3_admin_credentials(state_dir))
        if s3.is_running():
            s3.stop()
            stopped.append(f"SeaweedFS (S3 on {s3.s3_endpoint})")
    cluster = _cluster_from_stack(stack)
    if cluster is not None and cluster.stop():
        stopped.append(f"PostgreSQL ({cluster.describe()})")
    return stopped
