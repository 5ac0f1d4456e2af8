"""``local_runtime.up/down`` for real: a control-plane process on a real database."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from control_plane import local_runtime
from control_plane.adapters import processes
from control_plane.providers.local import port_free


def _free_port() -> int:
    return next(p for p in range(18300, 18400) if port_free("127.0.0.1", p))


def test_up_is_idempotent_and_down_stops_it(
    fresh_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FROSTBYTE_STATE_DIR", raising=False)
    port = _free_port()
    info = local_runtime.up(tmp_path, database_url=fresh_database, port=port)
    try:
        assert info.control_plane_url == f"http://127.0.0.1:{port}"
        assert info.database == "DATABASE_URL"
        assert info.state_dir == (tmp_path / ".local").resolve()
        token_file = info.state_dir / "admin_token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert token_file.read_text().strip() == info.admin_token
        headers = {"Authorization": f"Bearer {info.admin_token}"}
        assert httpx.get(f"{info.control_plane_url}/v1/tenants", headers=headers).json() == {
            "tenants": []}
        # the token itself is not in the control plane's environment, only its hash
        environ = Path(f"/proc/{info.pids['control_plane']}/environ").read_bytes()
        assert info.admin_token.encode() not in environ

        again = local_runtime.up(tmp_path, database_url=fresh_database, port=port)
        assert again == info
    finally:
        stopped = local_runtime.down(tmp_path)
    assert any("control plane" in line for line in stopped)
    assert not processes.is_running(info.pids["control_plane"], "control_plane")
    assert local_runtime.down(tmp_path) == []
