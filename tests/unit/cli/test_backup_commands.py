"""``frostbyte tenants backup|backups|restore`` through CliRunner against a fake control plane
(issue 18): what each command sends, and what it prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from frostbyte_cli.client import BACKUP_TIMEOUT_S
from frostbyte_cli.main import Deps, app
from tests.unit.cli.fakes import NO_WAIT

CP_ENV = {"FROSTBYTE_URL": "http://cp.test", "FROSTBYTE_ADMIN_TOKEN": "admin-secret"}
BACKUP_ID = "ab" * 16
BACKUP: dict[str, Any] = {
          "backup_id": BACKUP_ID, "slug": "acme", "created_at": "2026-12-02T10:00:00+00:00",
          "path": "/state/backups/acme/x.tar.age", "size": 2048, "sha256": "c" * 64,
          "trigger": "manual", "actor": "admin",
          "manifest": {"objects": 4, "audit_events": 17}}
TENANT = {"slug": "acme2", "display_name": "acme2", "state": "ACTIVE", "provider": "local",
          "endpoint": "https://127.0.0.1:1", "config": {}, "created_at": "2026-12-02T10:00:00Z",
          "updated_at": "2026-12-02T10:00:00Z"}


class ControlPlane:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = (request.method, request.url.path)
        if route == ("POST", "/v1/tenants/acme/backups"):
            return httpx.Response(201, json=BACKUP)
        if route == ("GET", "/v1/tenants/acme/backups"):
            return httpx.Response(200, json={"backups": [BACKUP]})
        if route == ("DELETE", "/v1/tenants/acme/backups"):
            return httpx.Response(200, json={"slug": "acme", "deleted": [BACKUP_ID],
                                             "backup_key_destroyed": True})
        if route == ("POST", "/v1/tenants/restore"):
            body = json.loads(request.content)
            if body.get("archive", "").endswith("tampered.tar.age"):
                return httpx.Response(422, json={"error": {
                    "code": "BACKUP_INVALID", "message": "does not decrypt",
                    "request_id": "r1"}})
            return httpx.Response(202, json=TENANT | {"slug": body["slug"]})
        if route == ("GET", "/v1/tenants/acme2"):
            return httpx.Response(200, json=TENANT)
        return httpx.Response(404, json={"error": {"code": "NOT_FOUND", "message": "no",
                                                   "request_id": "r0"}})


def invoke(cp: ControlPlane, args: list[str], cwd: Path | None = None) -> Any:
    obj = Deps(transport=httpx.MockTransport(cp.handle), retry=NO_WAIT, poll_interval=0,
               width=200, cwd=cwd)
    return CliRunner().invoke(app, args, obj=obj, env=CP_ENV)


def test_backup_waits_for_the_archive_and_lists_it() -> None:
    cp = ControlPlane()
    made = invoke(cp, ["tenants", "backup", "acme", "--json"])
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["sha256"] == "c" * 64
    # a backup answers once written: the CLI does not give up after the usual 30 s
    assert cp.requests[0].extensions["timeout"]["read"] == BACKUP_TIMEOUT_S
    listed = invoke(cp, ["tenants", "backups", "list", "acme"])
    assert listed.exit_code == 0, listed.output
    assert BACKUP_ID in listed.stdout and "2.0 KiB" in listed.stdout


def test_restore_sends_a_backup_id_or_an_absolute_archive_path(tmp_path: Path) -> None:
    cp = ControlPlane()
    by_id = invoke(cp, ["tenants", "restore", BACKUP_ID, "--as", "acme2", "--json"])
    assert by_id.exit_code == 0, by_id.output
    assert json.loads(cp.requests[0].content) == {"slug": "acme2", "backup_id": BACKUP_ID}
    (tmp_path / "copy.tar.age").write_bytes(b"age")
    by_path = invoke(cp, ["tenants", "restore", "copy.tar.age", "--as", "acme2", "--no-wait"],
                     cwd=tmp_path)
    assert by_path.exit_code == 0, by_path.output
    sent = json.loads(cp.requests[-1].content)
    assert sent["archive"] == str((tmp_path / "copy.tar.age").resolve())


def test_a_refused_archive_is_an_error_with_its_code() -> None:
    cp = ControlPlane()
    refused = invoke(cp, ["tenants", "restore", "/tmp/tampered.tar.age", "--as", "acme3"])
    assert refused.exit_code != 0
    assert "BACKUP_INVALID" in refused.stderr


def test_purge_asks_first_and_says_the_key_is_destroyed() -> None:
    cp = ControlPlane()
    aborted = CliRunner().invoke(app, ["tenants", "backups", "purge", "acme"], input="n\n",
                                 obj=Deps(transport=httpx.MockTransport(cp.handle),
                                          retry=NO_WAIT, poll_interval=0, width=200),
                                 env=CP_ENV)
    assert aborted.exit_code != 0 and not cp.requests
    purged = invoke(cp, ["tenants", "backups", "purge", "acme", "--yes"])
    assert purged.exit_code == 0, purged.output
    assert "backup key destroyed" in purged.stdout
