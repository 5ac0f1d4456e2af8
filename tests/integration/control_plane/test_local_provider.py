"""The local provider against a real PostgreSQL: tenant roles and databases, and the
process lifecycle with a stand-in data plane that honours the same command contract."""

from __future__ import annotations

import base64
import json
import os
import ssl
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from control_plane.adapters import processes, unix_accounts
from control_plane.domain.lifecycle import Tenant, TenantState
from control_plane.errors import ProvisioningFailed
from control_plane.providers.local import (
    LocalProvider,
    TenantDatabases,
    TenantPaths,
    migration_role_name,
    ops_role_name,
    port_free,
    process_markers,
    role_name,
)
from data_plane.adapters.clamav.databases import signatures_folder
from data_plane.adapters.clamav.scanner import ClamdScanner
from frostbyte_common import tls
from frostbyte_common.scram import scram_sha256_verifier
from frostbyte_common.tenant_config import TenantConfig

FAKE_CODE = Path(__file__).parent / "fake_data_plane"


def tenant(slug: str) -> Tenant:
    now = datetime.now(UTC)
    return Tenant(slug=slug, display_name=slug, provider="local",
                  state=TenantState.PROVISIONING, config={}, created_at=now, updated_at=now)


def as_user(admin: str, user: str, password: str, dbname: str) -> str:
    params = {k: str(v) for k, v in conninfo_to_dict(admin).items() if v is not None}
    params.update(user=user, password=password, dbname=dbname)
    return make_conninfo("", **params)


@pytest.fixture
def slug_prefix(pg_admin_url: str) -> Iterator[str]:
    """A unique slug prefix; every role/database made with it is dropped afterwards."""
    prefix = "t" + os.urandom(3).hex()
    yield prefix
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                    (f"fb_{prefix}%",)).fetchall():
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        for (name,) in conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolname LIKE %s OR rolname LIKE %s"
                " OR rolname LIKE %s",
                (f"fbops_{prefix}%", f"fb_{prefix}%", f"fbmig_{prefix}%")).fetchall():
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def _password_auth_enforced(admin: str, role: str) -> bool:
    try:
        psycopg.connect(as_user(admin, role, "certainly-wrong", role), connect_timeout=5).close()
    except psycopg.OperationalError:
        return True
    return False  # e.g. the system cluster, which trusts every password


def test_tenant_database_and_roles_are_created_idempotently(
    pg_admin_url: str, slug_prefix: str
) -> None:
    dbs = TenantDatabases(pg_admin_url)
    slug = f"{slug_prefix}-a"
    dbs.ensure(slug)
    dbs.ensure(slug)  # idempotent
    role = role_name(slug)
    assert role == f"fb_{slug_prefix}_a"
    with psycopg.connect(pg_admin_url) as conn:
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (role,)
        ).fetchone()
        assert owner == (migration_role_name(slug),)  # the service role owns nothing
        flags = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_roles "
            "WHERE rolname = %s", (role,)).fetchone()
        assert flags == (False, False, False, True)
        member = conn.execute(
            "SELECT pg_has_role(%s, %s, 'MEMBER')", (ops_role_name(slug), role)).fetchone()
        assert member == (True,)
        public_connect = conn.execute(
            "SELECT has_database_privilege('public', %s, 'CONNECT')", (role,)).fetchone()
        assert public_connect == (False,)

    password = "pw-" + os.urandom(8).hex()
    dbs.set_password(role, password)
    with psycopg.connect(dbs.conninfo(slug, role, password)) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (role, role)
    if _password_auth_enforced(pg_admin_url, role):
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(as_user(pg_admin_url, role, "wrong", role)).close()


def test_a_tenant_role_cannot_reach_another_tenants_database(
    pg_admin_url: str, slug_prefix: str
) -> None:
    dbs = TenantDatabases(pg_admin_url)
    a, b = f"{slug_prefix}-a", f"{slug_prefix}-b"
    dbs.ensure(a)
    dbs.ensure(b)
    dbs.set_password(role_name(a), "pw-a")
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        psycopg.connect(as_user(pg_admin_url, role_name(a), "pw-a", role_name(b))).close()


def test_drop_is_idempotent(pg_admin_url: str, slug_prefix: str) -> None:
    dbs = TenantDatabases(pg_admin_url)
    slug = f"{slug_prefix}-gone"
    dbs.ensure(slug)
    dbs.drop(slug)
    dbs.drop(slug)
    with psycopg.connect(pg_admin_url) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (role_name(slug),)).fetchone() is None
        assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = ANY(%s)",
                            ([role_name(slug), ops_role_name(slug)],)).fetchone() is None


def _free_range(size: int = 20) -> range:
    for start in range(18400, 19400, size):
        if all(port_free("127.0.0.1", p) for p in range(start, start + size)):
            return range(start, start + size)
    raise RuntimeError("no free port range")


@pytest.fixture
def provider(pg_admin_url: str, tmp_path: Path) -> Iterator[LocalProvider]:
    yield LocalProvider(
        admin_conninfo=pg_admin_url,
        state_dir=tmp_path / "state",
        python=Path(sys.executable),
        port_range=_free_range(),
        ready_timeout_s=20,
        stop_grace_s=3,
        code_paths=[FAKE_CODE],
    )
    # a failed test must not leave a tenant's processes (gateway, clamd, ...) behind, nor
    # its Unix account
    for tenant_dir in (tmp_path / "state" / "tenants").glob("*/"):
        paths = TenantPaths(tenant_dir)
        for name, marker in process_markers(paths).items():
            processes.stop_pid_file(paths.pid_file(name), marker, grace_s=3)
        if (account := unix_accounts.lookup(tenant_dir.name)) is not None:
            processes.stop_owned_by(account.uid, grace_s=3)
            unix_accounts.remove(tenant_dir.name)


def provider_ca(provider: LocalProvider) -> str:
    """The CA certificate the provider's tenants' gateways chain to."""
    return provider._authority.certificate_pem()


def calls(provider: LocalProvider, slug: str) -> list[dict[str, object]]:
    path = provider.paths(slug).work / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def calls_once(provider: LocalProvider, slug: str, kinds: set[str],
               timeout_s: float = 15.0) -> list[dict[str, object]]:
    """The recorded calls once every kind in ``kinds`` is there: the worker records its
    start on its own time, after the API (whose readiness ends a provision) may have."""
    deadline = time.monotonic() + timeout_s
    while True:
        recorded = calls(provider, slug)
        if kinds <= {c["kind"] for c in recorded} or time.monotonic() > deadline:
            return recorded
        time.sleep(0.1)


def test_provision_start_keys_stop_deprovision(
    provider: LocalProvider, pg_admin_url: str, slug_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FROSTBYTE_CP_DATABASE_URL", "host=/secret user=cp password=leak")
    monkeypatch.setenv("DATABASE_URL", "postgresql://leak")
    t = tenant(f"{slug_prefix}-p")
    endpoint = provider.provision(t, TenantConfig())
    paths = provider.paths(t.slug)
    port = int(paths.port_file.read_text())
    assert endpoint == f"https://127.0.0.1:{port}"
    ca = provider_ca(provider)
    assert processes.http_ok(f"{endpoint}/readyz", verify=tls.client_context(ca))
    assert not processes.http_ok(f"{endpoint}/readyz")  # the system's CAs don't know it
    assert provider.is_healthy(t)
    # the gateway presents the certificate the CA issued for this address; its
    # fingerprint is the one the control plane records
    presented = ssl.get_server_certificate(("127.0.0.1", port))
    assert provider.tls_fingerprint(t) == tls.fingerprint(presented)
    assert tls.signed_by(presented, ca) and tls.hosts(presented) == ["127.0.0.1"]
    assert paths.gateway.key.stat().st_mode & 0o777 == 0o600
    # plain HTTP meets the gateway's refusal, never the app; the app has no TCP port at all
    plain = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
    assert plain.status_code == 400 and "HTTPS port" in plain.text
    api_pid = processes.running_pid(paths.pid_file("api"), "data_plane")
    assert api_pid is not None
    assert [c for c in psutil.Process(api_pid).net_connections("inet")
            if c.status == psutil.CONN_LISTEN] == []
    assert paths.api_socket.is_socket()
    pids = {n: processes.running_pid(paths.pid_file(n), "data_plane") for n in ("api", "worker")}
    assert all(pids.values())
    # its own clamd, on its own socket, with the project's signatures; the socket is passed
    clamd_pid = processes.running_pid(paths.pid_file("clamd"), str(paths.clamd_config))
    assert clamd_pid is not None
    assert ClamdScanner(paths.clamd_socket, timeout=5).ping()
    # the signature folder clamd-info names, read in place (not copied per tenant)
    assert f"DatabaseDirectory {signatures_folder({}).resolve()}" in \
        paths.clamd_config.read_text()
    assert f"LocalSocket {paths.clamd_socket}" in paths.clamd_config.read_text()
    for folder in (paths.objects, paths.qdrant, paths.logs):
        assert folder.is_dir()

    recorded = calls_once(provider, t.slug, {"migrate", "serve", "worker"})
    assert [c["kind"] for c in recorded[:1]] == ["migrate"]
    assert {c["kind"] for c in recorded} == {"migrate", "serve", "worker"}
    assert {c["user"] for c in recorded if c["kind"] != "migrate"} == {role_name(t.slug)}
    assert all("FROSTBYTE_DP_CLAMD_SOCKET" in c["env"] for c in recorded)
    [migrate_call] = [c for c in recorded if c["kind"] == "migrate"]
    assert migrate_call["user"] == migration_role_name(t.slug)
    assert paths.audit_key.stat().st_mode & 0o777 == 0o440  # its account reads, cannot replace
    for call in recorded:  # nothing of the control plane's credentials leaks through
        assert all(not k.startswith(("FROSTBYTE_CP", "DATABASE_URL", "PG")) for k in call["env"])
    # the password is nowhere on disk
    for path in provider.paths(t.slug).root.rglob("*"):
        if path.is_file():
            assert b"password=" not in path.read_bytes(), path

    # idempotent: healthy processes are kept
    t.state = TenantState.ACTIVE
    t.endpoint = endpoint
    assert provider.provision(t, TenantConfig()) == endpoint
    assert provider.start(t, TenantConfig()) == endpoint
    assert {n: processes.read_pid(paths.pid_file(n)) for n in ("api", "worker")} == pids

    provider.install_vendor_key(t, "abcdef012345", "f" * 64, ["ingest", "read"], "dana")
    [key_call] = [c for c in calls(provider, t.slug) if c["kind"] == "add-vendor-key"]
    assert key_call["user"] == ops_role_name(t.slug)
    assert key_call["argv"] == ["--key-id", "abcdef012345", "--sha256", "f" * 64,
                                "--scopes", "ingest,read", "--label", "dana"]
    # the running data plane's connection still works after the ops role was re-keyed
    assert provider.is_healthy(t)

    # clamd died: the tenant is not healthy, and start() brings a new one (same socket)
    processes.stop_pid_file(paths.pid_file("clamd"), str(paths.clamd_config), grace_s=5)
    assert not provider.is_healthy(t)
    assert provider.start(t, TenantConfig()) == endpoint
    clamd_pid = processes.running_pid(paths.pid_file("clamd"), str(paths.clamd_config))
    assert clamd_pid is not None and ClamdScanner(paths.clamd_socket, timeout=5).ping()
    pids = {n: processes.running_pid(paths.pid_file(n), "data_plane") for n in ("api", "worker")}

    # a clamd whose pid was never recorded (the control plane killed while starting it)
    # holds the log's lock: it is found by its config path and replaced, not a failed start
    paths.pid_file("clamd").unlink()
    assert not provider.is_healthy(t)
    assert provider.start(t, TenantConfig()) == endpoint
    assert not processes.is_running(clamd_pid, str(paths.clamd_config))
    clamd_pid = processes.running_pid(paths.pid_file("clamd"), str(paths.clamd_config))
    assert clamd_pid is not None and ClamdScanner(paths.clamd_socket, timeout=5).ping()
    pids = {n: processes.running_pid(paths.pid_file(n), "data_plane") for n in ("api", "worker")}

    stopped = provider.stop(t)
    assert len(stopped) == 4 and any("clamd" in s for s in stopped)
    assert any("gateway" in s for s in stopped)
    assert not provider.is_healthy(t)
    assert all(not processes.is_running(pid, "data_plane") for pid in pids.values() if pid)
    assert not processes.is_running(clamd_pid, str(paths.clamd_config))

    # a restart brings it back on the same port with new processes
    assert provider.start(t, TenantConfig()) == endpoint
    assert processes.read_pid(paths.pid_file("api")) != pids["api"]

    provider.deprovision(t)
    provider.deprovision(t)  # idempotent
    assert not paths.root.exists()
    with psycopg.connect(pg_admin_url) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (role_name(t.slug),)).fetchone() is None


def test_two_tenants_get_their_own_ports_and_folders(
    provider: LocalProvider, slug_prefix: str
) -> None:
    a, b = tenant(f"{slug_prefix}-a"), tenant(f"{slug_prefix}-b")
    try:
        ea, eb = provider.provision(a, TenantConfig()), provider.provision(b, TenantConfig())
        assert ea != eb
        assert provider.paths(a.slug).root != provider.paths(b.slug).root
    finally:
        provider.deprovision(a)
        provider.deprovision(b)


def test_a_data_plane_that_dies_fails_provisioning_with_its_log(
    provider: LocalProvider, slug_prefix: str
) -> None:
    t = tenant(f"crash{slug_prefix}")
    with pytest.raises(ProvisioningFailed, match="crashing on purpose") as caught:
        provider.provision(t, TenantConfig())
    assert "exited before" in caught.value.message
    paths = provider.paths(t.slug)
    assert processes.running_pid(paths.pid_file("worker"), "data_plane") is None
    assert processes.running_pid(paths.pid_file("clamd"), str(paths.clamd_config)) is None
    provider.deprovision(t)


def test_a_start_that_fails_after_clamd_leaves_no_clamd(
    pg_admin_url: str, tmp_path: Path, slug_prefix: str
) -> None:
    class BrokenSecrets(MemorySecrets):
        def get(self, slug: str) -> dict[str, str]:
            raise ProvisioningFailed("the fake secret store cannot decrypt")

    secrets = BrokenSecrets()
    provider = LocalProvider(admin_conninfo=pg_admin_url, state_dir=tmp_path / "state",
                             python=Path(sys.executable), port_range=_free_range(),
                             ready_timeout_s=20, stop_grace_s=3, code_paths=[FAKE_CODE],
                             secrets=secrets)
    t = tenant(f"{slug_prefix}-x")
    secrets.put(t.slug, {"db_password": "unreadable"})
    with pytest.raises(ProvisioningFailed, match="cannot decrypt"):
        provider.provision(t, TenantConfig())
    paths = provider.paths(t.slug)
    assert processes.running_pid(paths.pid_file("clamd"), str(paths.clamd_config)) is None
    assert not _running_with(str(paths.clamd_config))
    provider.deprovision(t)


def _running_with(marker: str) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                return True
        except OSError:
            continue
    return False


def test_revoke_and_verified_deprovision(
    provider: LocalProvider, pg_admin_url: str, slug_prefix: str
) -> None:
    t = tenant(f"{slug_prefix}-v")
    t.endpoint = provider.provision(t, TenantConfig())
    provider.install_vendor_key(t, "abcdef012345", "f" * 64, ["read"], None)
    provider.stop(t)  # revocation works on a stopped data plane too
    provider.revoke_vendor_key(t, "abcdef012345")
    [revoke] = [c for c in calls(provider, t.slug) if c["kind"] == "revoke-vendor-key"]
    assert revoke["user"] == ops_role_name(t.slug)
    assert revoke["argv"] == ["--key-id", "abcdef012345"]

    before = provider.verify_deprovisioned(t)
    assert before["processes"] and before["endpoint"] and before["scanner"]  # stopped
    assert not before["database"] and not before["roles"] and not before["object_root"]

    provider.deprovision(t)
    assert provider.verify_deprovisioned(t) == {
        "processes": True, "gateway": True, "scanner": True, "endpoint": True,
        "database": True, "roles": True, "object_root": True, "vector_store": True,
        "audit_signing_key": True, "tenant_dir": True, "unix_account": True}
    with psycopg.connect(pg_admin_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE %s",
                            (f"%{slug_prefix}_v",)).fetchone() == (0,)
    provider.revoke_vendor_key(t, "abcdef012345")  # nothing left to tell: a no-op


def test_verification_sees_what_deprovision_left(
    provider: LocalProvider, pg_admin_url: str, slug_prefix: str
) -> None:
    t = tenant(f"{slug_prefix}-w")
    t.endpoint = provider.provision(t, TenantConfig())
    provider.deprovision(t)
    TenantDatabases(pg_admin_url).ensure(t.slug)  # a database that came back
    provider.paths(t.slug).objects.mkdir(parents=True)
    left = provider.verify_deprovisioned(t)
    assert not left["database"] and not left["roles"] and not left["object_root"]
    assert left["processes"] and left["vector_store"]
    provider.deprovision(t)


class MemorySecrets:
    """The SecretStore port in memory (the SOPS adapter has its own contract test)."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, str]] = {}

    def put(self, slug: str, values: Mapping[str, str]) -> None:
        self.values[slug] = dict(values)

    def get(self, slug: str) -> dict[str, str]:
        return dict(self.values[slug])

    def exists(self, slug: str) -> bool:
        return slug in self.values

    def shred(self, slug: str) -> dict[str, bool]:
        self.values.pop(slug, None)
        return {"secrets": True}


def _verifier_matches(admin: str, role: str, password: str) -> bool:
    """Does the role's stored SCRAM verifier belong to ``password``? (The test cluster
    trusts every password, so a login would not tell.)"""
    with psycopg.connect(admin) as conn:
        row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s",
                           (role,)).fetchone()
    assert row is not None and row[0].startswith("SCRAM-SHA-256$")
    iterations, rest = row[0].removeprefix("SCRAM-SHA-256$").split(":", 1)
    salt = base64.b64decode(rest.split("$", 1)[0])
    return scram_sha256_verifier(password, salt=salt, iterations=int(iterations)) == row[0]


def test_the_service_role_password_is_the_tenants_sops_db_password(
    pg_admin_url: str, tmp_path: Path, slug_prefix: str
) -> None:
    secrets = MemorySecrets()
    provider = LocalProvider(admin_conninfo=pg_admin_url, state_dir=tmp_path / "state",
                             python=Path(sys.executable), port_range=_free_range(),
                             ready_timeout_s=20, stop_grace_s=3, code_paths=[FAKE_CODE],
                             secrets=secrets)
    t = tenant(f"{slug_prefix}-s")
    secrets.put(t.slug, {"db_password": "first-db-password"})
    try:
        t.endpoint = provider.provision(t, TenantConfig())
        assert _verifier_matches(pg_admin_url, role_name(t.slug), "first-db-password")
        first_certificate = provider.tls_fingerprint(t)
        # kept across restarts (no longer regenerated at each start) ...
        provider.stop(t)
        provider.start(t, TenantConfig())
        assert _verifier_matches(pg_admin_url, role_name(t.slug), "first-db-password")
        assert provider.tls_fingerprint(t) == first_certificate  # a restart keeps it
        # ... and a rotation's new one is live once the provider applies it
        secrets.put(t.slug, {"db_password": "second-db-password"})
        assert provider.apply_secrets(t, TenantConfig()) == t.endpoint
        assert provider.is_healthy(t)
        assert _verifier_matches(pg_admin_url, role_name(t.slug), "second-db-password")
        assert not _verifier_matches(pg_admin_url, role_name(t.slug), "first-db-password")
        # the rotation re-issued the gateway's certificate, and it is the one served
        port = int(provider.paths(t.slug).port_file.read_text())
        assert provider.tls_fingerprint(t) not in (None, first_certificate)
        assert tls.fingerprint(ssl.get_server_certificate(("127.0.0.1", port))) == \
            provider.tls_fingerprint(t)
    finally:
        provider.deprovision(t)
