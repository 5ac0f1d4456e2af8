"""``/readyz`` against a real clamd (issue 16, finding 9): with only the project's test
signatures loaded the tenant is not ready (503, and says why) unless the setting allows it;
once an official-format daily database is loaded (here one built with ClamAV's own
``sigtool``, unsigned, as no mirror is reachable from the test machines) and clamd has
reloaded, ``/readyz`` is 200 and shows the daily version and its age."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from data_plane import wiring
from data_plane.__main__ import main
from data_plane.adapters.clamav.daemon import ClamdDaemon, clamd_binary
from data_plane.adapters.clamav.scanner import ClamdScanner
from data_plane.api.app import create_app
from data_plane.settings import DataPlaneSettings

pytestmark = pytest.mark.skipif(clamd_binary() is None or shutil.which("sigtool") is None,
                                reason="needs clamd and sigtool (Debian clamav-daemon, clamav)")

DAILY_VERSION = 27470


class _Up:
    def ping(self) -> bool:
        return True


@pytest.fixture
def clamd(tmp_path: Path) -> Iterator[ClamdDaemon]:
    daemon = ClamdDaemon(tmp_path / "clamd")  # the project's shipped test signatures
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


def _readyz(clamd: ClamdDaemon, tmp_path: Path, *, allow: bool) -> tuple[int, dict[str, object]]:
    settings = DataPlaneSettings(tenant="acme", database_url=SecretStr("postgresql://x@h/x"),
                                 object_store_root=tmp_path / "objects",
                                 clamd_socket=clamd.socket_path,
                                 clamd_allow_test_signatures=allow)
    app = create_app(settings)
    app.state.services = SimpleNamespace(health=wiring.build_health(
        settings, _Up(), _Up(), wiring.build_scanner(settings)))
    response = TestClient(app).get("/readyz")
    return response.status_code, response.json()


def _unsigned_daily(folder: Path) -> Path:
    """A ``daily.cud`` holding one body signature, built by ClamAV's ``sigtool`` (an
    unsigned database in the official container format: clamd loads it as the daily)."""
    folder.mkdir()
    (folder / "COPYING").write_text("test database\n")
    (folder / "daily.ndb").write_text("Frostbyte.Test.Daily:0:0:6672726f737462797465\n")
    subprocess.run(["sigtool", f"--datadir={folder}", "--build=daily.cud", "--unsigned",
                    f"--cvd-version={DAILY_VERSION}"], input="frostbyte-test\n", text=True,
                   cwd=folder, check=True, capture_output=True, timeout=60)
    return folder / "daily.cud"


def test_test_signatures_alone_are_not_ready(clamd: ClamdDaemon, tmp_path: Path) -> None:
    status, body = _readyz(clamd, tmp_path, allow=False)
    assert status == 503
    assert body["checks"] == {"model": True, "database": True, "object_store": True,
                              "scanner": True, "signatures": False}
    signatures = body["signatures"]
    assert isinstance(signatures, dict)
    assert signatures["test_only"] is True and signatures["daily_version"] is None
    assert "test signatures" in signatures["reason"]


def test_allowed_test_signatures_are_ready_with_a_warning(clamd: ClamdDaemon,
                                                          tmp_path: Path) -> None:
    status, body = _readyz(clamd, tmp_path, allow=True)
    assert status == 200
    signatures = body["signatures"]
    assert isinstance(signatures, dict)
    assert signatures["test_only"] is True and "test signatures" in signatures["warning"]


def test_a_daily_database_after_reload_is_ready_with_version_and_age(
        clamd: ClamdDaemon, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copyfile(_unsigned_daily(tmp_path / "build"), clamd.state_dir / "db" / "daily.cud")
    # the runbook's command, given the clamd's config as an operator would
    assert main(["clamd-reload", str(clamd.state_dir / "clamd.conf")]) == 0
    assert f"/{DAILY_VERSION}/" in capsys.readouterr().out
    assert f"/{DAILY_VERSION}/" in ClamdScanner(clamd.socket_path, timeout=30).version()
    status, body = _readyz(clamd, tmp_path, allow=False)
    assert status == 200, body
    signatures = body["signatures"]
    assert isinstance(signatures, dict)
    assert signatures["daily_version"] == DAILY_VERSION and signatures["test_only"] is False
    assert signatures["engine"].startswith("ClamAV ")
    assert isinstance(signatures["age_hours"], float) and 0 <= signatures["age_hours"] < 1
    assert isinstance(signatures["published"], str)
