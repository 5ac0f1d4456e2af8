"""Local tenants are isolated from each other and from the control plane (SPEC §4, issue 16
finding 1): two tenants provisioned by the real local provider (process engine, with the
stand-in data plane), then code run as tenant A's worker — its Unix account, its very
environment, read from the running worker — tries to reach tenant B's database, files and
sockets, the cluster's superuser and the control plane's keys. Every attempt fails; the
same code reaches A's own database and key, so the refusals are not a broken probe."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import pwd
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from psycopg.conninfo import conninfo_to_dict

from control_plane.adapters import processes, unix_accounts
from control_plane.adapters.certificate_authority import FileCertificateAuthority
from control_plane.adapters.data_plane_control import DataPlaneControl, unix_socket_of
from control_plane.adapters.secret_store import SopsAgeSecretStore
from control_plane.domain.tenant_secrets import generate_tenant_secrets
from control_plane.providers.local import LocalProvider, TenantPaths, process_markers, role_name
from frostbyte_common import tls
from frostbyte_common.tenant_config import TenantConfig

from .test_local_provider import FAKE_CODE, _free_range, tenant

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="tenant accounts need root")

# Run as tenant A: each probe prints "ok" or the name of the exception it met.
PROBE = r"""
import json, os, socket, sys
import psycopg
from psycopg.conninfo import make_conninfo

targets = json.loads(sys.argv[1])
own = os.environ["FROSTBYTE_DP_DATABASE_URL"]
results = {}

def attempt(name, action):
    try:
        action()
        results[name] = "ok"
    except Exception as exc:
        results[name] = type(exc).__name__

def connect(conninfo):
    psycopg.connect(conninfo, connect_timeout=5).close()

def read(path):
    with open(path, "rb") as fh:
        fh.read(1)

def unix_connect(path):
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(path)

attempt("own_database", lambda: connect(own))
attempt("own_audit_key", lambda: read(os.environ["FROSTBYTE_DP_AUDIT_SIGNING_KEY_FILE"]))
attempt("peer_database", lambda: connect(make_conninfo(own, dbname=targets["peer_db"])))
attempt("control_database", lambda: connect(make_conninfo(own, dbname="postgres")))
attempt("superuser_without_password", lambda: connect(
    make_conninfo(own, user="postgres", dbname="postgres", password="")))
attempt("superuser_password_file", lambda: read(targets["superuser_password"]))
attempt("peer_folder", lambda: os.listdir(targets["peer_root"]))
attempt("peer_objects", lambda: os.listdir(targets["peer_objects"]))
attempt("peer_audit_key", lambda: read(targets["peer_audit_key"]))
attempt("peer_api_socket", lambda: unix_connect(targets["peer_api_socket"]))
attempt("peer_clamd_socket", lambda: unix_connect(targets["peer_clamd_socket"]))
attempt("control_plane_age_key", lambda: read(targets["age_key"]))
attempt("peer_age_key", lambda: read(targets["peer_age_key"]))
attempt("ca_key", lambda: read(targets["ca_key"]))
attempt("tenants_listing", lambda: os.listdir(targets["tenants"]))
attempt("state_listing", lambda: os.listdir(targets["state"]))
attempt("own_gateway_key", lambda: read(targets["own_gateway_key"]))
print(json.dumps(results))
"""


@pytest.fixture
def provider(pg_admin_url: str, tmp_path: Path) -> Iterator[LocalProvider]:
    secrets = SopsAgeSecretStore(tmp_path / "state" / "secrets")
    yield LocalProvider(
        admin_conninfo=pg_admin_url, state_dir=tmp_path / "state", python=Path(sys.executable),
        port_range=_free_range(), ready_timeout_s=30, stop_grace_s=3, code_paths=[FAKE_CODE],
        secrets=secrets, authority=FileCertificateAuthority(tmp_path / "state" / "ca"))
    for tenant_dir in (tmp_path / "state" / "tenants").glob("*/"):
        paths = TenantPaths(tenant_dir)
        for name, marker in process_markers(paths).items():
            processes.stop_pid_file(paths.pid_file(name), marker, grace_s=3)
        for slug in (tenant_dir.name,):
            account = unix_accounts.lookup(slug)
            if account is not None:
                processes.stop_owned_by(account.uid, grace_s=3)
                unix_accounts.remove(slug)


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_a_tenant_reaches_nothing_of_another_tenant_nor_of_the_control_plane(
    provider: LocalProvider, pg_admin_url: str, tmp_path: Path
) -> None:
    prefix = "i" + os.urandom(3).hex()
    a, b = tenant(f"{prefix}-a"), tenant(f"{prefix}-b")
    store = SopsAgeSecretStore(tmp_path / "state" / "secrets")
    for t in (a, b):
        store.put(t.slug, generate_tenant_secrets())
    try:
        endpoint_a = provider.provision(a, TenantConfig())
        provider.provision(b, TenantConfig())
        pa, pb = provider.paths(a.slug), provider.paths(b.slug)
        account = unix_accounts.lookup(a.slug)
        assert account is not None and account.name == unix_accounts.account_name(a.slug)
        assert pwd.getpwnam(account.name).pw_shell == unix_accounts.NOLOGIN

        # A's processes run as A's account, its data is A's alone
        worker = processes.running_pid(pa.pid_file("worker"), "data_plane")
        api = processes.running_pid(pa.pid_file("api"), "data_plane")
        clamd = processes.running_pid(pa.pid_file("clamd"), str(pa.clamd_config))
        assert worker and api and clamd
        for pid in (worker, api, clamd):
            assert psutil.Process(pid).uids().real == account.uid
            assert psutil.Process(pid).gids().real == account.gid
        gateway = processes.running_pid(pa.pid_file("gateway"), str(pa.gateway.config))
        assert gateway is not None
        assert {p.uids().real for p in psutil.Process(gateway).children()} == {account.uid}
        for folder in (pa.objects, pa.qdrant, pa.work, pa.run):
            assert (folder.stat().st_uid, folder.stat().st_mode & 0o777) == (account.uid, 0o700)
        assert pa.root.stat().st_gid == account.gid and pa.root.stat().st_mode & 0o777 == 0o710
        assert pa.audit_key.stat().st_gid == account.gid
        # nginx's temporary folders: root's parent, the workers' own children
        assert (pa.gateway.temp.stat().st_uid, pa.gateway.temp.stat().st_mode & 0o777) == (
            0, 0o710)
        assert (pa.gateway.temp / "body").stat().st_uid == account.uid
        assert pa.audit_key.stat().st_mode & 0o777 == 0o440

        env = _environ(worker)  # A's worker's own environment
        targets = {
            "peer_db": role_name(b.slug),
            "superuser_password": str(_superuser_password_file(pg_admin_url)),
            "peer_root": str(pb.root), "peer_objects": str(pb.objects),
            "peer_audit_key": str(pb.audit_key), "peer_api_socket": str(pb.api_socket),
            "peer_clamd_socket": str(pb.clamd_socket),
            "age_key": str(store.control_plane_key_file),
            "peer_age_key": str(store.tenant_key_file(b.slug)),
            "ca_key": str(tmp_path / "state" / "ca" / "ca.key"),
            "tenants": str(tmp_path / "state" / "tenants"), "state": str(tmp_path / "state"),
            "own_gateway_key": str(pa.gateway.key),
        }
        for path in (targets["age_key"], targets["peer_age_key"], targets["ca_key"],
                     targets["peer_audit_key"], targets["superuser_password"]):
            assert Path(path).is_file(), path  # each probe aims at something real
        probe = subprocess.run(
            [sys.executable, "-c", PROBE, json.dumps(targets)], env=env, cwd=pa.work,
            capture_output=True, text=True, timeout=60, check=False,
            **processes.user_kwargs((account.uid, account.gid)))
        assert probe.returncode == 0, probe.stderr
        results = json.loads(probe.stdout)
        assert results.pop("own_database") == "ok"
        assert results.pop("own_audit_key") == "ok"
        for name in ("peer_database", "control_database", "superuser_without_password"):
            assert results.pop(name) == "OperationalError", name
        assert results == dict.fromkeys(results, "PermissionError"), results
    finally:
        for t in (a, b):
            provider.deprovision(t)

    # deprovisioning removes the accounts, and says so
    for t in (a, b):
        assert unix_accounts.lookup(t.slug) is None
        verdict = provider.verify_deprovisioned(dataclasses.replace(t, endpoint=endpoint_a))
        assert verdict["unix_account"] is True, verdict


def test_the_control_channel_is_the_api_socket_and_the_gateway_hides_control_routes(
    provider: LocalProvider, tmp_path: Path
) -> None:
    t = tenant("c" + os.urandom(3).hex())
    try:
        endpoint = provider.provision(t, TenantConfig())
        trust = tls.client_context(provider._authority.certificate_pem())
        # vendors' listener: no control route, no metrics
        for method, path in (("PUT", "/control/v1/suspension"), ("GET", "/control/v1/audit/key"),
                             ("GET", "/metrics")):
            answer = httpx.request(method, f"{endpoint}{path}", verify=trust, timeout=10)
            assert answer.status_code == 404, (path, answer.status_code)
        assert httpx.get(f"{endpoint}/readyz", verify=trust, timeout=10).status_code == 200
        with provider.control_channel(dataclasses.replace(t, endpoint=endpoint)) as base_url:
            assert unix_socket_of(base_url) == provider.paths(t.slug).api_socket
            control = DataPlaneControl(base_url, "fb_control_key", actor="admin:test")
            assert asyncio.run(control.set_suspended(True)) == {"suspended": True,
                                                                "changed": True}
    finally:
        provider.deprovision(t)


def test_without_root_a_tenant_is_refused_unless_the_shared_account_is_asked_for(
    pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from control_plane.errors import ProvisioningFailed

    provider = LocalProvider(admin_conninfo=pg_admin_url, state_dir=tmp_path / "state",
                             python=Path(sys.executable), port_range=_free_range())
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(ProvisioningFailed, match="FROSTBYTE_CP_LOCAL_SHARED_ACCOUNT=true"):
        provider.provision(tenant("n" + os.urandom(3).hex()), TenantConfig())


def _superuser_password_file(admin_url: str) -> Path:
    """The test cluster's superuser password file (beside its data folder)."""
    host = conninfo_to_dict(admin_url).get("host")
    if os.environ.get("TEST_DATABASE_URL") or not host:
        pytest.skip("the project's own test cluster is needed")
    return Path(str(host)).parent / "pg" / "superuser.password"
