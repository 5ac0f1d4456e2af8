"""Runs a real tenant data plane (API + worker processes) for end-to-end tests."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx
from pydantic import SecretStr

from data_plane.adapters.clamav.daemon import ClamdDaemon
from data_plane.domain.ports import ObjectStore, VectorIndex
from data_plane.settings import DataPlaneSettings
from data_plane.wiring import build_index, build_object_store
from frostbyte_common.data_keys import DataKeyring
from frostbyte_common.vendor_keys import generate_key
from tests.seaweedfs_fixture import S3Tenant

ROOT = Path(__file__).resolve().parents[2]
# base64 of 32 raw bytes: the Ed25519 key that signs the e2e data plane's audit checkpoints.
E2E_AUDIT_KEY = "ZTJlLWF1ZGl0LWtleS0wMTIzNDU2Nzg5YWJjZGVmMDE="


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DataPlaneHarness:
    tenant: str
    database_url: str
    state: Path
    port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    key: str = ""
    #: The control plane's credential (scope ``control``): suspension, quarantine actions.
    control_key: str = ""
    #: Start a real clamd (the project's test signatures) and scan every file with it.
    clamd: bool = False
    clamd_daemon: ClamdDaemon | None = None
    #: The tenant's bucket (SeaweedFS); None: the filesystem double under ``state/objects``.
    s3: S3Tenant | None = None
    #: The tenant's data keys: every object is encrypted with them, as in production.
    data_keys: str = field(default_factory=lambda: DataKeyring.generate().serialize())
    #: Start the worker too (False: intake only; accepted documents stay ACCEPTED).
    worker: bool = True

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FROSTBYTE_DP_")}
        env.update({
            "FROSTBYTE_DP_TENANT": self.tenant,
            "FROSTBYTE_DP_DATABASE_URL": self.database_url,
            "FROSTBYTE_DP_OBJECT_DATA_KEYS": self.data_keys,
            "FROSTBYTE_DP_QDRANT_PATH": str(self.state / "qdrant"),
            "FROSTBYTE_DP_PORT": str(self.port),
            "FROSTBYTE_DP_WORK_DIR": str(self.state / "work"),
            "FROSTBYTE_DP_LOG_LEVEL": "WARNING",
            # A fixed test key, so tests can check checkpoints against its public key.
            "FROSTBYTE_DP_AUDIT_SIGNING_KEY": E2E_AUDIT_KEY,
        })
        if self.s3 is None:
            env["FROSTBYTE_DP_OBJECT_STORE_ROOT"] = str(self.state / "objects")
        else:
            env.update(FROSTBYTE_DP_S3_ENDPOINT=self.s3.endpoint,
                       FROSTBYTE_DP_S3_BUCKET=self.s3.bucket,
                       FROSTBYTE_DP_S3_ACCESS_KEY=self.s3.access_key,
                       FROSTBYTE_DP_S3_SECRET_KEY=self.s3.secret_key)
        if self.clamd:
            env["FROSTBYTE_DP_CLAMD_SOCKET"] = str(self.clamd_dir / "clamd.sock")
            # its clamd has the project's test signatures only: ready all the same
            env["FROSTBYTE_DP_CLAMD_ALLOW_TEST_SIGNATURES"] = "true"
        return env

    def settings(self) -> DataPlaneSettings:
        """The data plane's settings, as its processes read them from :attr:`env`."""
        return DataPlaneSettings(
            tenant=self.tenant, database_url=SecretStr(self.database_url),
            work_dir=self.state / "work", qdrant_path=self.state / "qdrant",
            object_data_keys=SecretStr(self.data_keys),
            **({"object_store_root": self.state / "objects"} if self.s3 is None else {
                "s3_endpoint": self.s3.endpoint, "s3_bucket": self.s3.bucket,
                "s3_access_key": SecretStr(self.s3.access_key),
                "s3_secret_key": SecretStr(self.s3.secret_key)}))

    def object_store(self) -> ObjectStore:
        """The tenant's objects as its data plane reads them (decrypted with its keys)."""
        return build_object_store(self.settings())

    def vector_index(self) -> VectorIndex:
        """The tenant's vector index as the data plane opens it (stop the API first: the
        embedded index admits one opener)."""
        return build_index(self.settings())

    @property
    def clamd_dir(self) -> Path:
        return self.state / "clamd"

    def start_clamd(self) -> None:
        self.clamd_daemon = ClamdDaemon(self.clamd_dir)
        self.clamd_daemon.start()

    def stop_clamd(self) -> None:
        if self.clamd_daemon is not None:
            self.clamd_daemon.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, *args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "data_plane", *args], env=self.env,
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-3000:]
        return out.stdout

    def start(self, role: str) -> None:
        log = (self.state / f"{role}.log").open("ab")
        self.procs[role] = subprocess.Popen(
            [sys.executable, "-m", "data_plane", role], env=self.env, cwd=ROOT,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self, role: str) -> str:
        path = self.state / f"{role}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def setup(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        self.run("migrate")
        issued = generate_key()
        self.run("add-vendor-key", "--key-id", issued.key_id, "--sha256", issued.sha256,
                 "--scopes", "ingest,read,audit", "--label", "e2e")
        self.key = issued.key
        control = generate_key()
        self.run("add-vendor-key", "--key-id", control.key_id, "--sha256", control.sha256,
                 "--scopes", "control", "--label", "control-plane")
        self.control_key = control.key
        if self.clamd:
            self.start_clamd()
        self.start("serve")
        if self.worker:
            self.start("worker")
        self.wait_ready()

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs["serve"]
            assert proc.poll() is None, self.log_tail("serve")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"data plane not ready:\n{self.log_tail('serve')}")

    def kill(self, role: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(role, None)
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            proc.wait(timeout=60)

    def stop(self) -> None:
        for role in list(self.procs):
            self.kill(role, signal.SIGTERM)
        self.stop_clamd()

    def __enter__(self) -> Self:
        """``setup()``; whatever it started is stopped again if it fails."""
        try:
            self.setup()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60,
                            headers={"Authorization": f"Bearer {self.key}"})

    def control_client(self, actor: str = "e2e-admin") -> httpx.Client:
        """What the control plane sends: the control key and the admin's name."""
        return httpx.Client(base_url=self.url, timeout=60,
                            headers={"Authorization": f"Bearer {self.control_key}",
                                     "X-Frostbyte-Actor": actor})


def manifest_for(paths: list[Path], *, client_ref: str = "e2e",
                 wrong_sha: set[str] | None = None) -> dict[str, Any]:
    files = []
    for p in paths:
        data = p.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        if wrong_sha and p.name in wrong_sha:
            sha = hashlib.sha256(data + b"tampered").hexdigest()
        files.append({"name": p.name, "sha256": sha, "size": len(data)})
    return {"client_ref": client_ref, "files": files}


def submit(client: httpx.Client, paths: list[Path], **kwargs: Any) -> dict[str, Any]:
    manifest = manifest_for(paths, **kwargs)
    handles = [p.open("rb") for p in paths]
    try:
        response = client.post(
            "/v1/batches", data={"manifest": json.dumps(manifest)},
            files=[("files", (p.name, h)) for p, h in zip(paths, handles, strict=True)])
    finally:
        for h in handles:
            h.close()
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_batch(client: httpx.Client, batch_id: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/v1/batches/{batch_id}").json()
        if body["status"] in ("COMPLETED", "COMPLETED_WITH_ERRORS"):
            return body
        time.sleep(1)
    raise AssertionError(f"batch {batch_id} did not finish: {body}")


def search_hits(client: httpx.Client, query: str, **filters: Any) -> list[dict[str, Any]]:
    """``POST /v1/search`` (top 10, optional filters); the hits of a 200 answer."""
    body: dict[str, Any] = {"query": query, "top_k": 10}
    if filters:
        body["filters"] = filters
    response = client.post("/v1/search", json=body)
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["hits"]
    return hits
