"""The control-plane API end to end: real PostgreSQL registry, fake provider."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from control_plane.api.app import create_app
from control_plane.settings import ControlPlaneSettings
from frostbyte_common.vendor_keys import hash_key

from .fakes import FakeProvider

TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def settings_for(database_url: str, state_dir: Path) -> ControlPlaneSettings:
    return ControlPlaneSettings(
        database_url=database_url,
        admin_token_sha256=hashlib.sha256(TOKEN.encode()).hexdigest(),
        state_dir=state_dir,
    )


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def client(fresh_database: str, tmp_path: Path, provider: FakeProvider) -> Iterator[TestClient]:
    app = create_app(settings_for(fresh_database, tmp_path),
                     providers=lambda _settings: {"local": provider},
                     data_plane_transport=provider.transport)
    with TestClient(app) as test_client:
        yield test_client


def wait_for_state(client: TestClient, slug: str, state: str, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/v1/tenants/{slug}", headers=AUTH).json()
        if body["state"] == state or time.monotonic() > deadline:
            assert body["state"] == state, body
            return body
        time.sleep(0.05)


def active(api: TestClient, slug: str) -> None:
    """Create the tenant and wait until it is ACTIVE."""
    created = api.post("/v1/tenants", json={"slug": slug, "display_name": slug}, headers=AUTH)
    assert created.status_code == 202, created.text
    wait_for_state(api, slug, "ACTIVE")


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == response.headers["X-Request-ID"]


def test_create_tenant_goes_active_and_records_its_events(client: TestClient) -> None:
    created = client.post(
        "/v1/tenants",
        json={"slug": "acme", "display_name": "Acme", "provider": "local",
              "config": {"ocr": {"languages": ["deu"]}}},
        headers=AUTH,
    )
    assert created.status_code == 202, created.text
    body = created.json()
    assert body["slug"] == "acme" and body["state"] in ("REQUESTED", "PROVISIONING", "ACTIVE")
    # the effective config: the override plus every default
    assert body["config"]["ocr"]["languages"] == ["deu"]
    assert body["config"]["intake"]["max_batch_files"] == 1000

    active = wait_for_state(client, "acme", "ACTIVE")
    assert active["endpoint"].startswith("http://127.0.0.1:")
    assert active["failed_operation"] is None
    assert set(active) >= {"slug", "display_name", "state", "provider", "endpoint", "config",
                           "created_at", "updated_at"}

    listed = client.get("/v1/tenants", headers=AUTH).json()
    assert [t["slug"] for t in listed["tenants"]] == ["acme"]

    events = client.get("/v1/tenants/acme/events", headers=AUTH).json()["events"]
    assert [(e["from_state"], e["to_state"], e["transition"]) for e in events] == [
        (None, "REQUESTED", 1), ("REQUESTED", "PROVISIONING", 2), ("PROVISIONING", "ACTIVE", 3)]
    assert [e["actor"] for e in events] == ["admin", "control-plane", "control-plane"]


def test_failed_provisioning_records_the_reason(client: TestClient) -> None:
    client.post("/v1/tenants", json={"slug": "fail-1", "display_name": "F"}, headers=AUTH)
    failed = wait_for_state(client, "fail-1", "FAILED")
    assert failed["failed_operation"] == "provision"
    assert "fake disk is full" in failed["failure_reason"]
    assert failed["endpoint"] is None
    events = client.get("/v1/tenants/fail-1/events", headers=AUTH).json()["events"]
    detail = events[-1]["detail"]
    assert detail == {"operation": "provision", "reason": "the fake disk is full",
                      "job_id": detail["job_id"]}
    [job] = client.get("/v1/tenants/fail-1/jobs", headers=AUTH).json()["jobs"]
    assert (job["job_id"], job["status"], job["error"]) == (
        detail["job_id"], "failed", "the fake disk is full")


def test_duplicate_slug_is_409_even_after_the_first_tenant_is_gone(client: TestClient) -> None:
    assert client.post("/v1/tenants", json={"slug": "dup", "display_name": "D"},
                       headers=AUTH).status_code == 202
    again = client.post("/v1/tenants", json={"slug": "dup", "display_name": "D2"}, headers=AUTH)
    assert_error(again, 409, "TENANT_EXISTS")


def test_auth_is_required(client: TestClient) -> None:
    assert_error(client.get("/v1/tenants"), 401, "UNAUTHENTICATED")
    wrong = client.get("/v1/tenants", headers={"Authorization": "Bearer nope"})
    assert_error(wrong, 401, "UNAUTHENTICATED")
    assert wrong.headers["WWW-Authenticate"] == "Bearer"
    assert_error(client.post("/v1/tenants", json={"slug": "x", "display_name": "x"}),
                 401, "UNAUTHENTICATED")
    # health endpoints stay open
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").json() == {"status": "ready"}


def test_unknown_tenant_is_404(client: TestClient) -> None:
    assert_error(client.get("/v1/tenants/nobody", headers=AUTH), 404, "TENANT_NOT_FOUND")
    assert_error(client.get("/v1/tenants/nobody/events", headers=AUTH), 404, "TENANT_NOT_FOUND")
    assert_error(client.post("/v1/tenants/nobody/vendor-keys", json={"scopes": ["read"]},
                             headers=AUTH), 404, "TENANT_NOT_FOUND")


@pytest.mark.parametrize("slug", ["Acme", "acme_corp", "-x", "x" * 31, ""])
def test_bad_slug_is_422(client: TestClient, slug: str) -> None:
    response = client.post("/v1/tenants", json={"slug": slug, "display_name": "x"},
                           headers=AUTH)
    assert_error(response, 422, "INVALID_SLUG")


def test_bad_bodies_are_422_in_the_error_shape(client: TestClient) -> None:
    missing = client.post("/v1/tenants", json={"slug": "ok"}, headers=AUTH)
    assert_error(missing, 422, "VALIDATION_FAILED")
    assert "display_name" in missing.json()["error"]["message"]
    bad_config = client.post("/v1/tenants", json={
        "slug": "ok", "display_name": "x", "config": {"intake": {"max_file_bytes": -1}}},
        headers=AUTH)
    assert_error(bad_config, 422, "INVALID_CONFIG")
    unknown_key = client.post("/v1/tenants", json={
        "slug": "ok", "display_name": "x", "config": {"nope": 1}}, headers=AUTH)
    assert_error(unknown_key, 422, "INVALID_CONFIG")
    hetzner = client.post("/v1/tenants", json={
        "slug": "ok", "display_name": "x", "provider": "hetzner"}, headers=AUTH)
    assert_error(hetzner, 422, "PROVIDER_NOT_AVAILABLE")
    # nothing of that was recorded
    assert client.get("/v1/tenants", headers=AUTH).json() == {"tenants": []}


def test_vendor_key_is_shown_once_and_listed_without_the_key(
    client: TestClient, provider: FakeProvider
) -> None:
    client.post("/v1/tenants", json={"slug": "keys", "display_name": "K"}, headers=AUTH)
    wait_for_state(client, "keys", "ACTIVE")
    issued = client.post("/v1/tenants/keys/vendor-keys",
                         json={"scopes": ["ingest", "read"], "label": "dana"}, headers=AUTH)
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert set(body) >= {"key_id", "key", "scopes"}
    assert body["scopes"] == ["ingest", "read"]
    # the data plane got the hash, never the key
    slug, sha256, scopes, label = provider.keys[body["key_id"]]
    assert (slug, sha256, scopes, label) == ("keys", hash_key(body["key"]), ("ingest", "read"),
                                             "dana")

    listed = client.get("/v1/tenants/keys/vendor-keys", headers=AUTH)
    assert listed.status_code == 200
    assert body["key"] not in listed.text and sha256 not in listed.text
    [record] = listed.json()["vendor_keys"]
    assert (record["key_id"], record["scopes"], record["label"]) == (
        body["key_id"], ["ingest", "read"], "dana")
    assert "key" not in record and "sha256" not in record


def test_vendor_key_needs_an_active_tenant_and_valid_scopes(
    client: TestClient, provider: FakeProvider
) -> None:
    provider.release.clear()  # hold provisioning so the tenant stays PROVISIONING
    client.post("/v1/tenants", json={"slug": "slow", "display_name": "S"}, headers=AUTH)
    wait_for_state(client, "slow", "PROVISIONING")
    assert_error(client.post("/v1/tenants/slow/vendor-keys", json={"scopes": ["read"]},
                             headers=AUTH), 409, "TENANT_NOT_ACTIVE")
    provider.release.set()
    wait_for_state(client, "slow", "ACTIVE")
    assert_error(client.post("/v1/tenants/slow/vendor-keys", json={"scopes": ["admin"]},
                             headers=AUTH), 422, "VALIDATION_FAILED")
    assert_error(client.post("/v1/tenants/slow/vendor-keys", json={"scopes": []},
                             headers=AUTH), 422, "VALIDATION_FAILED")


def test_a_key_the_data_plane_refused_is_not_kept(client: TestClient) -> None:
    client.post("/v1/tenants", json={"slug": "nokey", "display_name": "N"}, headers=AUTH)
    wait_for_state(client, "nokey", "ACTIVE")
    refused = client.post("/v1/tenants/nokey/vendor-keys", json={"scopes": ["read"]},
                          headers=AUTH)
    assert_error(refused, 502, "DATA_PLANE_ERROR")
    assert client.get("/v1/tenants/nokey/vendor-keys", headers=AUTH).json() == {
        "vendor_keys": []}


def test_request_id_is_echoed_and_unknown_routes_use_the_error_shape(client: TestClient) -> None:
    ok = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert ok.headers["X-Request-ID"] == "abc-123"
    assert_error(client.get("/v1/nothing-here", headers=AUTH), 404, "NOT_FOUND")
    assert client.get("/openapi.json", headers=AUTH).json()["paths"]["/v1/tenants"]["post"][
        "summary"]


def test_restart_resumes_provisioning_and_restarts_unhealthy_data_planes(
    fresh_database: str, tmp_path: Path
) -> None:
    first = FakeProvider()
    settings = settings_for(fresh_database, tmp_path)
    with TestClient(create_app(settings, providers=lambda _s: {"local": first},
                                data_plane_transport=first.transport)) as c1:
        c1.post("/v1/tenants", json={"slug": "up", "display_name": "U"}, headers=AUTH)
        wait_for_state(c1, "up", "ACTIVE")
        # the control plane stops while "half" is provisioning (its job is cancelled)
        first.release.clear()
        first.hold_s = 0.5
        c1.post("/v1/tenants", json={"slug": "half", "display_name": "H"}, headers=AUTH)
        wait_for_state(c1, "half", "PROVISIONING")

    second = FakeProvider()
    with TestClient(create_app(settings, providers=lambda _s: {"local": second},
                                data_plane_transport=second.transport)) as c2:
        wait_for_state(c2, "half", "ACTIVE")
        wait_for_state(c2, "up", "ACTIVE")
        events = c2.get("/v1/tenants/half/events", headers=AUTH).json()["events"]
        assert [e["to_state"] for e in events] == ["REQUESTED", "PROVISIONING", "ACTIVE"]

    third = FakeProvider()  # knows no healthy data plane: ACTIVE tenants get started again
    with TestClient(create_app(settings, providers=lambda _s: {"local": third},
                                data_plane_transport=third.transport)) as c3:
        deadline = time.monotonic() + 5
        while len([c for c in third.calls if c[0] == "start"]) < 2 and (
                time.monotonic() < deadline):
            time.sleep(0.05)
        assert sorted(s for op, s in third.calls if op == "start") == ["half", "up"]
        assert c3.get("/v1/tenants/up", headers=AUTH).json()["state"] == "ACTIVE"
