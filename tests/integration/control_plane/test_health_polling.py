"""Health polling against a real control plane (issue 18 must-show): the local provider, a
real data plane (its API, worker, clamd and gateway under the tenant's own account) and a
poll every few seconds. ``kill -9`` of the tenant's API is noticed by the first poll after
it — within one interval — and repaired: vendor search answers again, the tenant's chain
holds ``health.failed`` then ``health.repaired`` (and verifies), its health and the
``frostbyte_cp_tenant_ready`` metric say ready again, and it was restarted once, not again
at the next polls. A SUSPENDED tenant whose API dies is left alone."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import ssl
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from control_plane.adapters import processes, unix_accounts
from control_plane.api.app import create_app
from control_plane.domain.actors import SYSTEM_ACTOR
from control_plane.providers.local import MARKER, TenantPaths, process_markers
from control_plane.settings import ControlPlaneSettings
from control_plane.wiring import ControlPlane
from frostbyte_common import tls

from .test_cp_api import AUTH, TOKEN, wait_for_state
from .test_lifecycle_real_data_plane import _free_range

pytestmark = [pytest.mark.e2e, pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="tenant accounts need root")]

INTERVAL_S = 3.0
#: a poll's own work after its round starts (the probe of a dead API reads pid files only)
POLL_SLACK_S = 5.0


def _until(what: str, check: Any, timeout: float = 300.0) -> Any:
    """Poll ``check()`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        if result := check():
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _health_events(api: TestClient, slug: str) -> list[dict[str, Any]]:
    events = api.get(f"/v1/tenants/{slug}/events", headers=AUTH).json()["events"]
    return [e for e in events if e["action"].startswith("health_")]


def _search(endpoint: str, key: str, trust: ssl.SSLContext) -> httpx.Response:
    return httpx.post(f"{endpoint}/v1/search", json={"query": "incident response"},
                      headers={"Authorization": f"Bearer {key}"}, timeout=120, verify=trust)


def _ready_gauge(api: TestClient, slug: str) -> float | None:
    scraped = api.get("/metrics", headers=AUTH)
    assert scraped.status_code == 200, scraped.text
    found = re.search(rf'^frostbyte_cp_tenant_ready\{{tenant="{slug}"\}} (\S+)$', scraped.text,
                      re.MULTILINE)
    return float(found[1]) if found else None


def _not_ready_polls(api: TestClient, slug: str) -> float:
    scraped = api.get("/metrics", headers=AUTH).text
    found = re.search(rf'^frostbyte_cp_health_checks_total\{{result="not_ready",'
                      rf'tenant="{slug}"\}} (\S+)$', scraped, re.MULTILINE) or re.search(
        rf'^frostbyte_cp_health_checks_total\{{tenant="{slug}",result="not_ready"\}} (\S+)$',
        scraped, re.MULTILINE)
    return float(found[1]) if found else 0.0


def test_a_killed_api_is_noticed_within_one_interval_and_repaired(
        fresh_database: str, pg_admin_url: str, tmp_path: Path) -> None:
    settings = ControlPlaneSettings(
        database_url=fresh_database, admin_database_url=pg_admin_url,
        admin_token_sha256=hashlib.sha256(TOKEN.encode()).hexdigest(),
        state_dir=tmp_path / "state", data_plane_python=Path(sys.executable),
        data_plane_port_range=_free_range(), health_poll_interval_s=INTERVAL_S,
        drift_check_interval_s=0)
    slug = f"heal{time.time_ns() % 10**8}"
    try:
        _scenario(settings, slug, fresh_database)
    finally:  # a failed run must not leave data planes, clamd or accounts behind
        for tenant_dir in (tmp_path / "state" / "tenants").glob("*/"):
            paths = TenantPaths(tenant_dir)
            for name, marker in process_markers(paths).items():
                processes.stop_pid_file(paths.pid_file(name), marker, grace_s=5)
        if (account := unix_accounts.lookup(slug)) is not None:
            processes.stop_owned_by(account.uid, grace_s=5)
            unix_accounts.remove(slug)


def _scenario(settings: ControlPlaneSettings, slug: str, database: str) -> None:
    paths = TenantPaths(settings.state_dir.resolve() / "tenants" / slug)
    with TestClient(create_app(settings)) as api:
        services: ControlPlane = api.app.state.services  # type: ignore[attr-defined]
        poller = services.health
        assert poller is not None and poller.interval_s == INTERVAL_S
        assert api.post("/v1/tenants", json={"slug": slug, "display_name": slug},
                        headers=AUTH).status_code == 202
        tenant = wait_for_state(api, slug, "ACTIVE", timeout=300)
        endpoint = tenant["endpoint"]
        trust = tls.client_context(api.get("/v1/tls/ca").text)
        issued = api.post(f"/v1/tenants/{slug}/vendor-keys", json={"scopes": ["read"]},
                          headers=AUTH)
        assert issued.status_code == 201, issued.text
        key = issued.json()["key"]
        assert _search(endpoint, key, trust).status_code == 200

        # the poller has seen it ready (and said so to the metrics) before anything happens
        health = _until("a first poll", lambda: api.get(
            f"/v1/tenants/{slug}", headers=AUTH).json()["health"])
        assert (health["ready"], health["consecutive_failures"]) == (True, 0), health
        assert _ready_gauge(api, slug) == 1.0
        assert _health_events(api, slug) == []

        # kill -9 the API (the pid file root keeps under pids/)
        killed = processes.running_pid(paths.pid_file("api"), MARKER)
        assert killed is not None
        killed_at = datetime.now(UTC)
        os.kill(killed, signal.SIGKILL)

        events = _until("the repair", lambda: (e := _health_events(api, slug)) and
                        e[-1]["action"] != "health_failed" and e)
        assert [e["action"] for e in events] == ["health_failed", "health_repaired"], events
        failed, repaired = events
        # noticed by the first poll after the kill: no more than one interval later
        noticed_at = datetime.fromisoformat(failed["detail"]["checked_at"])
        assert failed["detail"]["consecutive_failures"] == 1
        assert killed_at < noticed_at <= killed_at + timedelta(seconds=INTERVAL_S +
                                                               POLL_SLACK_S), failed
        assert failed["detail"]["detail"] == "its api process is not running"
        assert failed["actor"] == SYSTEM_ACTOR and failed["transition"] == 0
        assert (repaired["detail"]["attempt"], repaired["detail"]["endpoint"]) == (1, endpoint)
        assert (failed["from_state"], repaired["to_state"]) == ("ACTIVE", "ACTIVE")

        # the tenant answers again, on a new API process
        restarted = processes.running_pid(paths.pid_file("api"), MARKER)
        assert restarted is not None and restarted != killed
        found = _search(endpoint, key, trust)
        assert found.status_code == 200, found.text
        tenant = api.get(f"/v1/tenants/{slug}", headers=AUTH).json()
        assert (tenant["state"], tenant["health"]["ready"],
                tenant["health"]["consecutive_failures"]) == ("ACTIVE", True, 0), tenant
        assert _ready_gauge(api, slug) == 1.0
        assert _not_ready_polls(api, slug) >= 1  # the failed poll was exported too

        # once, not again: the next polls find it ready and leave it alone
        rounds = poller.rounds
        _until("two more polls", lambda: poller.rounds >= rounds + 2, timeout=60)
        assert [e["action"] for e in _health_events(api, slug)] == [
            "health_failed", "health_repaired"]
        assert processes.running_pid(paths.pid_file("api"), MARKER) == restarted
        assert poller.backoff(slug).attempts == 0

        # the events are links of the tenant's hash chain, typed as health events
        verdict = api.get(f"/v1/tenants/{slug}/events/verify", headers=AUTH).json()
        assert verdict["ok"], verdict
        with psycopg.connect(database) as conn:
            types = [row[0] for row in conn.execute(
                "SELECT event_type FROM tenant_events WHERE slug = %s AND transition = 0"
                " ORDER BY seq", (slug,))]
        assert types == ["health.failed", "health.repaired"]

        # a SUSPENDED tenant is not polled: its dead API stays dead, nothing is recorded
        assert api.post(f"/v1/tenants/{slug}/suspend", headers=AUTH).status_code == 202
        last_poll = wait_for_state(api, slug, "SUSPENDED", timeout=60)["health"]
        os.kill(restarted, signal.SIGKILL)
        rounds = poller.rounds
        _until("three more polls", lambda: poller.rounds >= rounds + 3, timeout=60)
        assert processes.running_pid(paths.pid_file("api"), MARKER) is None
        assert len(_health_events(api, slug)) == 2
        assert api.get(f"/v1/tenants/{slug}", headers=AUTH).json()["health"] == last_poll
