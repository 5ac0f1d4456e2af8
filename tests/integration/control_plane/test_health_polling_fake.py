"""Health polling through the served app with the fake provider (issue 18): a provider
without a HealthProbe (as hetzner) is polled with ``is_healthy`` and reported, never
restarted; the tenant's JSON, its events and the admin console's tenant page show the last
poll; a comeback by itself is ``health_recovered``."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from control_plane.api.app import create_app
from control_plane.settings import ControlPlaneSettings

from .fakes import FakeProvider
from .test_cp_api import AUTH, TOKEN, wait_for_state


def _until(what: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return result


def test_an_unhealthy_tenant_is_reported_in_its_record_events_and_console_page(
        fresh_database: str, tmp_path: Path) -> None:
    provider = FakeProvider()
    settings = ControlPlaneSettings(
        database_url=fresh_database, state_dir=tmp_path / "state",
        admin_token_sha256=hashlib.sha256(TOKEN.encode()).hexdigest(),
        health_poll_interval_s=0.2, drift_check_interval_s=0)
    app = create_app(settings, providers=lambda _settings: {"local": provider},
                     data_plane_transport=provider.transport)
    with TestClient(app) as api:
        assert api.post("/v1/tenants", json={"slug": "acme", "display_name": "Acme"},
                        headers=AUTH).status_code == 202
        wait_for_state(api, "acme", "ACTIVE")

        def health() -> Any:
            return api.get("/v1/tenants/acme", headers=AUTH).json()["health"]

        assert _until("a first poll", health)["ready"] is True
        provider.healthy.discard("acme")  # its data plane stops answering
        down = _until("a failed poll", lambda: (h := health()) and not h["ready"] and
                      h["consecutive_failures"] >= 2 and h)
        assert down["detail"] == "its readiness check failed"
        assert ("start", "acme") not in provider.calls  # reported, not restarted

        signed = api.post("/console/session", json={"token": TOKEN})
        assert signed.status_code == 200, signed.text
        page = api.get("/tenant", params={"slug": "acme"}).text
        assert 'id="tenant-health">not ready: its readiness check failed (' in page

        provider.healthy.add("acme")  # back by itself
        _until("a ready poll", lambda: health()["ready"])
        events = api.get("/v1/tenants/acme/events", headers=AUTH).json()["events"]
        assert [e["action"] for e in events if e["transition"] == 0] == [
            "health_failed", "health_recovered"]
        assert 'id="tenant-health">ready, polled ' in api.get(
            "/tenant", params={"slug": "acme"}).text
