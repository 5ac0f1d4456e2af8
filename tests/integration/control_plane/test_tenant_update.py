"""Versioned data-plane updates of a local tenant (issue 18, must show), with the real local
provider, the real data plane and its own clamd: two releases built from this checkout with
``frostbyte releases build`` — a newer one, and one whose ``serve`` exits at once — then

* the tenant moves to the newer release and back (API, then CLI): each time the running
  process reports the version on ``/healthz`` and the document ingested before is still
  listed and found by search;
* an update to the broken release rolls back by itself: ACTIVE on the version it ran, the
  job failed with the reason;
* an unknown or malformed version is refused before anything moves;
* the tenant's events name every update and the rollback with their versions."""

from __future__ import annotations

import hashlib
import json
import shutil
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from packaging.version import Version
from typer.testing import CliRunner

from control_plane.adapters import processes, unix_accounts
from control_plane.adapters.releases import SOURCE_ENTRIES
from control_plane.api.app import create_app
from control_plane.providers.local import TenantDatabases, TenantPaths, process_markers
from control_plane.settings import ControlPlaneSettings
from frostbyte_cli.main import Deps
from frostbyte_cli.main import app as cli_app
from frostbyte_common import tls
from frostbyte_common.version import __version__

from .test_cli_lifecycle import ThroughTestClient
from .test_cp_api import AUTH, TOKEN, wait_for_state
from .test_lifecycle_real_data_plane import _free_range

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "samples" / "incident-response-runbook.md"

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEFAULT = str(Version(__version__))
NEWER = f"{Version(__version__).base_version}.post1"
BROKEN = f"{Version(__version__).base_version}.post2"


def _cli(api: TestClient | None, *args: str) -> tuple[int, str]:
    deps = Deps(transport=ThroughTestClient(api) if api is not None else None,
                poll_interval=0.2, width=200)
    result = CliRunner().invoke(cli_app, list(args), obj=deps)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def _broken_source(tmp_path: Path) -> Path:
    """A copy of this checkout whose data plane's ``serve`` exits 1 at once."""
    copy = tmp_path / "broken-src"
    copy.mkdir()
    for name in SOURCE_ENTRIES:
        entry = ROOT / name
        if entry.is_dir():
            shutil.copytree(entry, copy / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif entry.is_file():
            shutil.copy2(entry, copy / name)
    main = copy / "data_plane" / "__main__.py"
    text = main.read_text(encoding="utf-8")
    head = "def _serve(settings: DataPlaneSettings) -> int:\n"
    assert head in text
    main.write_text(text.replace(head, head + "    print('broken on purpose', file=sys.stderr)"
                                 "\n    return 1\n", 1), encoding="utf-8")
    return copy


def test_update_to_a_newer_build_and_back_and_a_failed_update_rolls_back(
    fresh_database: str, pg_admin_url: str, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    settings = ControlPlaneSettings(
        database_url=fresh_database, admin_database_url=pg_admin_url,
        admin_token_sha256=hashlib.sha256(TOKEN.encode()).hexdigest(), state_dir=state,
        data_plane_python=Path(sys.executable), data_plane_port_range=_free_range())
    # the releases, built as an operator does (no network: what is installed here)
    for version, source in ((NEWER, ROOT), (BROKEN, _broken_source(tmp_path))):
        code, out = _cli(None, "releases", "build", "--version", version, "--source",
                         str(source), "--state-dir", str(state), "--json")
        assert code == 0, out
        assert json.loads(out)["version"] == version
    code, out = _cli(None, "releases", "list", "--state-dir", str(state), "--json")
    assert [r["version"] for r in json.loads(out)["releases"]] == [DEFAULT, NEWER, BROKEN]

    slug = f"upd{time.time_ns() % 10**8}"
    try:
        _updates(settings, slug)
    finally:  # no data plane, clamd, account or database left behind by a failed run
        for tenant_dir in (state / "tenants").glob("*/"):
            paths = TenantPaths(tenant_dir)
            for name, marker in process_markers(paths).items():
                processes.stop_pid_file(paths.pid_file(name), marker, grace_s=5)
        if (account := unix_accounts.lookup(slug)) is not None:
            processes.stop_owned_by(account.uid, grace_s=5)
            unix_accounts.remove(slug)
        TenantDatabases(pg_admin_url).drop(slug)


def _updates(settings: ControlPlaneSettings, slug: str) -> None:
    with TestClient(create_app(settings)) as api:
        assert api.post("/v1/tenants", json={"slug": slug, "display_name": slug},
                        headers=AUTH).status_code == 202
        tenant = wait_for_state(api, slug, "ACTIVE", timeout=300)
        assert tenant["version"] == DEFAULT
        trust = tls.client_context(api.get("/v1/tls/ca").text)
        endpoint = tenant["endpoint"]
        key = api.post(f"/v1/tenants/{slug}/vendor-keys",
                       json={"scopes": ["ingest", "read"]}, headers=AUTH).json()["key"]
        document_id = _ingest(endpoint, key, trust)
        hashes = _search(endpoint, key, trust)
        assert _running_version(endpoint, trust) == DEFAULT

        # to the newer build through the API: the process reports it, the data is kept
        moved = api.post(f"/v1/tenants/{slug}/update", json={"version": NEWER}, headers=AUTH)
        assert moved.status_code == 202, moved.text
        assert (moved.json()["state"], moved.json()["version"]) == ("PROVISIONING", DEFAULT)
        tenant = wait_for_state(api, slug, "ACTIVE", timeout=300)
        assert tenant["version"] == NEWER
        assert _running_version(tenant["endpoint"], trust) == NEWER
        assert document_id in _documents(tenant["endpoint"], key, trust)
        assert _search(tenant["endpoint"], key, trust) == hashes

        # and back through the CLI
        code, out = _cli(api, "tenants", "update", slug, "--version", DEFAULT, "--json",
                         "--url", "http://testserver", "--admin-token", TOKEN)
        assert code == 0, out
        assert json.loads(out)["version"] == DEFAULT
        endpoint = api.get(f"/v1/tenants/{slug}", headers=AUTH).json()["endpoint"]
        assert _running_version(endpoint, trust) == DEFAULT
        assert _search(endpoint, key, trust) == hashes

        # refused before anything moves: no such release, not a version, the one it runs
        events_before = _events(api, slug)
        for version, status, code_ in (("9.9.9", 404, "RELEASE_NOT_FOUND"),
                                       ("not a version", 422, "INVALID_VERSION"),
                                       (DEFAULT, 422, "INVALID_VERSION")):
            refused = api.post(f"/v1/tenants/{slug}/update", json={"version": version},
                               headers=AUTH)
            assert (refused.status_code, refused.json()["error"]["code"]) == (status, code_)
        assert _events(api, slug) == events_before
        assert api.get(f"/v1/tenants/{slug}", headers=AUTH).json()["state"] == "ACTIVE"

        # a release that cannot become ready: rolled back by itself, the CLI says so
        code, out = _cli(api, "tenants", "update", slug, "--version", BROKEN,
                         "--url", "http://testserver", "--admin-token", TOKEN)
        assert code != 0 and "rolled back" in out, out
        tenant = api.get(f"/v1/tenants/{slug}", headers=AUTH).json()
        assert (tenant["state"], tenant["version"]) == ("ACTIVE", DEFAULT)
        assert _running_version(tenant["endpoint"], trust) == DEFAULT
        assert _search(tenant["endpoint"], key, trust) == hashes
        [*_, job] = api.get(f"/v1/tenants/{slug}/jobs", headers=AUTH).json()["jobs"]
        assert (job["operation"], job["status"]) == ("update", "failed")
        assert "rolled back" in job["error"] and "did not become ready" in job["error"]

        # the events name each update and the rollback, with their versions
        trail = [(e["transition"], e["action"], e["detail"].get("from_version"),
                  e["detail"].get("to_version"), e["detail"].get("version"))
                 for e in _events(api, slug)]
        assert trail[-6:] == [
            (6, "update", DEFAULT, NEWER, None), (3, "mark_provisioned", None, None, NEWER),
            (6, "update", NEWER, DEFAULT, None), (3, "mark_provisioned", None, None, DEFAULT),
            (6, "update", DEFAULT, BROKEN, None),
            (3, "roll_back_update", DEFAULT, BROKEN, DEFAULT)]
        rollback = _events(api, slug)[-1]["detail"]
        assert rollback["outcome"] == "update failed, rolled back"
        assert "did not become ready" in rollback["reason"]
        assert api.get(f"/v1/tenants/{slug}/events/verify", headers=AUTH).json()["ok"] is True


def _events(api: TestClient, slug: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = api.get(f"/v1/tenants/{slug}/events",
                                           headers=AUTH).json()["events"]
    return events


def _running_version(endpoint: str, trust: ssl.SSLContext) -> str:
    answer = httpx.get(f"{endpoint}/healthz", timeout=30, verify=trust)
    assert answer.status_code == 200, answer.text
    version: str = answer.json()["version"]
    return version


def _ingest(endpoint: str, key: str, trust: ssl.SSLContext) -> str:
    data = SAMPLE.read_bytes()
    manifest = {"client_ref": "update", "files": [
        {"name": SAMPLE.name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}]}
    sent = httpx.post(f"{endpoint}/v1/batches", headers={"Authorization": f"Bearer {key}"},
                      data={"manifest": json.dumps(manifest)},
                      files=[("files", (SAMPLE.name, data))], timeout=60, verify=trust)
    assert sent.status_code == 202, sent.text
    [doc] = sent.json()["documents"]
    deadline = time.monotonic() + 300
    while (status := _documents(endpoint, key, trust).get(doc["document_id"])) != "INDEXED":
        assert time.monotonic() < deadline, f"the document is still {status}"
        time.sleep(1)
    return str(doc["document_id"])


def _documents(endpoint: str, key: str, trust: ssl.SSLContext) -> dict[str, str]:
    listed = httpx.get(f"{endpoint}/v1/documents", headers={"Authorization": f"Bearer {key}"},
                       timeout=30, verify=trust)
    assert listed.status_code == 200, listed.text
    return {d["document_id"]: d["status"] for d in listed.json()["documents"]}


def _search(endpoint: str, key: str, trust: ssl.SSLContext) -> list[str]:
    found = httpx.post(f"{endpoint}/v1/search", headers={"Authorization": f"Bearer {key}"},
                       json={"query": "incident response escalation", "top_k": 3},
                       timeout=60, verify=trust)
    assert found.status_code == 200, found.text
    hashes: list[str] = found.json()["proof"]["chunk_hashes"]
    assert hashes
    return hashes
