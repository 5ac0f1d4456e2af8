"""Local data-plane releases (issue 18): a release built from this checkout is a folder that
a Python process with it on PYTHONPATH imports and whose version it reports; the local
provider refuses an update to a release that lacks a migration the tenant's database had;
the data plane's reported version is read from ``/healthz``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from control_plane.adapters.releases import LocalReleases, installed_migrations, reported_version
from control_plane.domain.lifecycle import Tenant, TenantState
from control_plane.errors import DataPlaneError, ReleaseExists, ReleaseNotFound, SchemaAhead
from control_plane.providers.local import LocalProvider

ROOT = Path(__file__).resolve().parents[3]


def test_a_built_release_is_the_code_its_processes_import(tmp_path: Path) -> None:
    releases = LocalReleases(tmp_path / "releases", default_version="0.1.0")
    release = releases.build("0.1.0.post7", ROOT)
    assert release.path == tmp_path / "releases" / "0.1.0.post7"
    manifest = json.loads((release.path / "release.json").read_text())
    assert manifest["version"] == "0.1.0.post7" and len(manifest["wheel_sha256"]) == 64
    assert manifest["migrations"] == installed_migrations() != []
    # every tenant account reads it
    assert all(p.stat().st_mode & 0o004 for p in release.path.rglob("*"))
    probe = ("import data_plane; from frostbyte_common.version import __version__; "
             "print(__version__, data_plane.__file__)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, check=True,
                         capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(release.path)}).stdout.split()
    assert out[0] == "0.1.0.post7" and out[1].startswith(str(release.path))
    assert [r.version for r in releases.available()] == ["0.1.0", "0.1.0.post7"]
    assert releases.get("0.1.0").path is None  # the installed package, the default
    with pytest.raises(ReleaseExists):
        releases.build("0.1.0.post7", ROOT)
    with pytest.raises(ReleaseNotFound, match=r"known: 0\.1\.0, 0\.1\.0\.post7"):
        releases.get("0.2.0")


def _tenant(version: str) -> Tenant:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return Tenant(slug="acme", display_name="Acme", provider="local", state=TenantState.ACTIVE,
                  config={}, created_at=now, updated_at=now, version=version)


def test_an_update_to_a_release_older_than_the_schema_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    old = state / "releases" / "0.0.9"
    (old / "data_plane" / "adapters" / "sql").mkdir(parents=True)
    for name in installed_migrations()[:-1]:  # one migration short of the installed one
        (old / "data_plane" / "adapters" / "sql" / name).write_text("SELECT 1;")
    (old / "release.json").write_text(json.dumps({"version": "0.0.9"}))
    provider = LocalProvider(admin_conninfo="host=/nonexistent", state_dir=state,
                             python=Path(sys.executable), port_range=range(19000, 19010))
    current = provider.default_version()
    with pytest.raises(SchemaAhead, match=installed_migrations()[-1]):
        provider.check_release(_tenant(current), "0.0.9")
    with pytest.raises(ReleaseNotFound):
        provider.check_release(_tenant(current), "0.0.8")
    # a release that knows every migration is fine (here: the same scripts)
    (old / "data_plane" / "adapters" / "sql" / installed_migrations()[-1]).write_text("")
    provider.check_release(_tenant(current), "0.0.9")


def test_the_running_version_is_what_healthz_reports() -> None:
    def answer(version: object, status: int = 200) -> httpx.MockTransport:
        return httpx.MockTransport(lambda request: httpx.Response(
            status, json={"status": "ok", "tenant": "acme", "version": version}))

    assert reported_version("http://dp", transport=answer("0.2.0")) == "0.2.0"
    for transport in (answer(None), answer("0.2.0", 503)):
        with pytest.raises(DataPlaneError, match="without a version"):
            reported_version("http://dp", transport=transport)
