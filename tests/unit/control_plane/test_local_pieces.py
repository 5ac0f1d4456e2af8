"""Pure and process-level pieces of the local provider and local runtime."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from control_plane.adapters import processes
from control_plane.local_runtime.pg_cluster import MAX_SOCKET_DIR_LEN, PgCluster
from control_plane.local_runtime.stack import admin_token, state_dir_for
from control_plane.providers.local import (
    LocalProvider,
    ops_role_name,
    role_name,
)
from frostbyte_common.scram import scram_sha256_verifier
from frostbyte_common.tenant_config import TenantConfig


def test_role_names() -> None:
    assert role_name("acme-corp") == "fb_acme_corp"
    assert ops_role_name("acme-corp") == "fbops_acme_corp"
    # a tenant slug can never produce another tenant's ops role
    assert not role_name("x" * 30).startswith("fbops_")


def test_scram_verifier_shape_and_salt() -> None:
    one = scram_sha256_verifier("pw", salt=b"0123456789abcdef")
    assert one == scram_sha256_verifier("pw", salt=b"0123456789abcdef")
    assert one.startswith("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$")
    assert "pw" not in one.split("$", 2)[2]
    assert scram_sha256_verifier("pw") != scram_sha256_verifier("pw")


def test_child_env_is_an_allowlist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROSTBYTE_CP_DATABASE_URL", "secret")
    monkeypatch.setenv("FROSTBYTE_DP_TENANT", "someone-else")
    monkeypatch.setenv("DATABASE_URL", "secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    provider = LocalProvider(admin_conninfo="host=/x", state_dir=tmp_path, python=Path("py"),
                             port_range=range(9000, 9001))
    env = provider.child_env("acme", TenantConfig(), 9000, "dbname=fb_acme password=p")
    assert "secret" not in env.values()
    assert env["FROSTBYTE_DP_TENANT"] == "acme"
    # the API listens on a socket in the tenant's run folder, behind its TLS gateway: no port
    assert env["FROSTBYTE_DP_SOCKET"] == str(tmp_path.resolve() / "tenants/acme/run/api.sock")
    # its home and scratch are its own folder's, nothing of the control plane's user
    assert env["HOME"] == env["TMPDIR"] == str(tmp_path.resolve() / "tenants/acme/work")
    assert "FROSTBYTE_DP_PORT" not in env and "FROSTBYTE_DP_HOST" not in env
    assert env["FROSTBYTE_DP_OBJECT_STORE_ROOT"] == str(tmp_path.resolve() / "tenants/acme/objects")
    assert env["FROSTBYTE_DP_QDRANT_PATH"] == str(tmp_path.resolve() / "tenants/acme/qdrant")
    assert TenantConfig.model_validate_json(env["FROSTBYTE_DP_TENANT_CONFIG"]) == TenantConfig()
    assert env["HF_HUB_OFFLINE"] == "1"


def test_processes_are_recognised_by_marker_and_stopped(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids" / "x.pid"
    pid = processes.spawn_detached(
        [sys.executable, "-c", "import time; time.sleep(60)", "data_plane-marker"],
        env=dict(os.environ), cwd=tmp_path, log_file=tmp_path / "x.log", pid_file=pid_file,
    )
    assert processes.running_pid(pid_file, "data_plane") == pid
    assert processes.running_pid(pid_file, "control_plane") is None  # not the marker
    assert processes.stop_pid_file(pid_file, "data_plane", grace_s=5) == pid
    assert not processes.is_running(pid, "data_plane")
    assert not pid_file.exists()


def test_a_process_whose_pid_was_never_recorded_is_found_by_its_marker(
        tmp_path: Path) -> None:
    marker = f"--config-file={tmp_path}/clamd.conf"
    stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker],
                             start_new_session=True)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                                  f"--config-file={tmp_path}/other/clamd.conf"])
    try:
        assert processes.stop_strays(marker, grace_s=5) == [stray.pid]
        assert stray.wait(timeout=5) is not None
        assert bystander.poll() is None, "another tenant's process is left alone"
        assert processes.stop_strays(marker, grace_s=5) == []
    finally:
        for proc in (stray, bystander):
            proc.kill()
            proc.wait()


def test_a_recycled_pid_is_never_signalled(tmp_path: Path) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        pid_file = tmp_path / "api.pid"
        pid_file.write_text(f"{stranger.pid}\n")
        assert processes.stop_pid_file(pid_file, "data_plane", grace_s=0.1) is None
        assert stranger.poll() is None  # still alive
        assert not pid_file.exists()  # the stale pid file is gone
    finally:
        stranger.kill()
        stranger.wait()


def test_a_process_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "stubborn.pid"
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code, "data_plane"], start_new_session=True)
    pid_file.write_text(str(proc.pid))
    time.sleep(0.3)  # let it install its handler
    assert processes.stop_pid_file(pid_file, "data_plane", grace_s=0.5) == proc.pid
    assert not processes.is_running(proc.pid, "data_plane")


def test_cluster_socket_falls_back_to_tmp_when_the_path_is_long() -> None:
    top = Path(tempfile.mkdtemp(prefix="fb-unit-"))
    try:
        top.chmod(0o755)
        notes: list[str] = []
        cluster = PgCluster.for_state_dir(top / ("d" * 90), port=54329, notes=notes)
        assert cluster.root == (top / ("d" * 90) / "pg").resolve()
        assert len(str(cluster.socket_dir)) <= MAX_SOCKET_DIR_LEN
        assert str(cluster.socket_dir).startswith("/tmp/fb-")
        assert any("socket" in n for n in notes)
    finally:
        shutil.rmtree(top)


@pytest.mark.skipif(os.geteuid() != 0, reason="the postgres-user fallback applies to root")
def test_cluster_moves_out_of_a_folder_postgres_cannot_reach(tmp_path: Path) -> None:
    hidden = tmp_path / "hidden"
    hidden.mkdir(mode=0o700)
    notes: list[str] = []
    cluster = PgCluster.for_state_dir(hidden / "state", port=54329, notes=notes)
    assert str(cluster.root).startswith("/var/lib/frostbyte/")
    assert any("cannot reach" in n for n in notes)


def test_cluster_description_and_conninfo(tmp_path: Path) -> None:
    cluster = PgCluster(root=tmp_path / "pg", socket_dir=tmp_path / "run", port=54329)
    assert cluster.describe() == f"project cluster at {cluster.socket_dir} port 54329"
    assert "port=54329" in cluster.conninfo("frostbyte_control")


def test_admin_token_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    first = admin_token(tmp_path)
    path = tmp_path / "admin_token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    assert admin_token(tmp_path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_state_dir_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FROSTBYTE_STATE_DIR", raising=False)
    assert state_dir_for(tmp_path) == (tmp_path / ".local").resolve()
    monkeypatch.setenv("FROSTBYTE_STATE_DIR", str(tmp_path / "elsewhere"))
    assert state_dir_for(tmp_path) == (tmp_path / "elsewhere").resolve()
