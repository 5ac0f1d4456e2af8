"""Admin tokens: stored hashed, admin and viewer roles, bootstrap printed once, revocation."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from control_plane.api.app import create_app
from control_plane.settings import ControlPlaneSettings

from .fakes import FakeProvider
from .test_cp_api import AUTH, assert_error, settings_for


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_roles_and_revocation(fresh_database: str, tmp_path: Path) -> None:
    app = create_app(settings_for(fresh_database, tmp_path),
                     providers=lambda _s: {"local": FakeProvider()})
    with TestClient(app) as api:
        created = api.post("/v1/admin/tokens", json={"name": "auditor", "role": "viewer"},
                           headers=AUTH)
        assert created.status_code == 201, created.text
        viewer = created.json()
        assert viewer["token"].startswith(f"fbat_{viewer['token_id']}_")
        # a viewer reads but changes nothing
        assert api.get("/v1/tenants", headers=bearer(viewer["token"])).status_code == 200
        assert_error(api.post("/v1/tenants", json={"slug": "v", "display_name": "v"},
                              headers=bearer(viewer["token"])), 403, "INSUFFICIENT_ROLE")
        assert_error(api.post("/v1/admin/tokens", json={"name": "x", "role": "admin"},
                              headers=bearer(viewer["token"])), 403, "INSUFFICIENT_ROLE")

        ops = api.post("/v1/admin/tokens", json={"name": "ops", "role": "admin"},
                       headers=AUTH).json()
        made = api.post("/v1/tenants", json={"slug": "by-ops", "display_name": "x"},
                        headers=bearer(ops["token"]))
        assert made.status_code == 202
        events = api.get("/v1/tenants/by-ops/events", headers=AUTH).json()["events"]
        assert events[0]["actor"] == "ops"  # the actor is the token's name

        listed = api.get("/v1/admin/tokens", headers=bearer(viewer["token"]))
        assert listed.status_code == 200
        assert {t["name"] for t in listed.json()["tokens"]} == {"admin", "auditor", "ops"}
        assert viewer["token"] not in listed.text and ops["token"] not in listed.text

        revoked = api.delete(f"/v1/admin/tokens/{viewer['token_id']}", headers=AUTH)
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        assert_error(api.get("/v1/tenants", headers=bearer(viewer["token"])), 401,
                     "UNAUTHENTICATED")
        assert_error(api.delete("/v1/admin/tokens/nope", headers=AUTH), 404,
                     "ADMIN_TOKEN_NOT_FOUND")
        # the last admin token cannot be revoked
        api.delete(f"/v1/admin/tokens/{ops['token_id']}", headers=AUTH)
        [boot] = [t for t in api.get("/v1/admin/tokens", headers=AUTH).json()["tokens"]
                  if t["name"] == "admin"]
        assert_error(api.delete(f"/v1/admin/tokens/{boot['token_id']}", headers=AUTH), 409,
                     "LAST_ADMIN_TOKEN")

    with psycopg.connect(fresh_database) as conn:  # only digests are stored
        rows = conn.execute("SELECT sha256 FROM admin_tokens").fetchall()
    assert hashlib.sha256(viewer["token"].encode()).hexdigest() in {r[0] for r in rows}
    assert all(viewer["token"] not in r[0] for r in rows)


def test_bootstrap_token_is_created_once_and_printed_once(
    fresh_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = ControlPlaneSettings(database_url=fresh_database, state_dir=tmp_path)
    fake = FakeProvider()
    with TestClient(create_app(settings, providers=lambda _s: {"local": fake})) as api:
        printed = capsys.readouterr().err
        match = re.search(r"Bootstrap admin token \(shown once, store it now\): (\S+)",
                          printed)
        assert match, printed
        token = match[1]
        assert api.get("/v1/tenants", headers=bearer(token)).status_code == 200
    with TestClient(create_app(settings, providers=lambda _s: {"local": fake})) as api:
        assert "Bootstrap admin token" not in capsys.readouterr().err  # not again
        assert api.get("/v1/tenants", headers=bearer(token)).status_code == 200
        assert len(api.get("/v1/admin/tokens", headers=bearer(token)).json()["tokens"]) == 1


def test_a_token_name_postgresql_cannot_store_is_the_callers_error(fresh_database: str,
                                                                    tmp_path: Path) -> None:
    """A name with NUL or another control character (found by schemathesis) is 422
    VALIDATION_FAILED, not a 500 from PostgreSQL; the name is the actor of audit records."""
    provider = FakeProvider()
    app = create_app(settings_for(fresh_database, tmp_path),
                     providers=lambda _settings: {"local": provider})
    with TestClient(app) as api:
        for name in ("ops\x00bot", "ops\x1bbot", "ops\nbot"):
            refused = api.post("/v1/admin/tokens", json={"name": name}, headers=AUTH)
            assert_error(refused, 422, "VALIDATION_FAILED")
        made = api.post("/v1/admin/tokens", json={"name": "ops bot ü"}, headers=AUTH)
        assert made.status_code == 201, made.text
