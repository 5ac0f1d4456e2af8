"""A machine that cannot host one more local tenant refuses it at ``POST /v1/tenants`` with
503 INSUFFICIENT_CAPACITY and the reason (issue 16), instead of recording a tenant that
fails 30 s later: the real local provider measures the real cluster and /proc/meminfo."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from control_plane.api.app import create_app
from control_plane.domain.capacity import CONNECTIONS_PER_TENANT
from control_plane.errors import InsufficientCapacity
from control_plane.providers.local import LocalProvider, memory_available

from .test_cp_api import AUTH, settings_for
from .test_local_provider import _free_range


def provider(admin_url: str, state_dir: Path, memory: int = 0) -> LocalProvider:
    return LocalProvider(admin_conninfo=admin_url, state_dir=state_dir,
                         python=Path(sys.executable), port_range=_free_range(),
                         tenant_memory_bytes=memory)


@pytest.fixture
def api(fresh_database: str, pg_admin_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """A control plane whose local provider expects each tenant to need more memory than
    this machine has."""
    greedy = provider(pg_admin_url, tmp_path / "state", memory=memory_available() * 4)
    app = create_app(settings_for(fresh_database, tmp_path / "state"),
                     providers=lambda _settings: {"local": greedy})
    with TestClient(app) as client:
        yield client


def test_a_tenant_the_machine_cannot_host_is_refused_at_once_and_not_recorded(
    api: TestClient
) -> None:
    answer = api.post("/v1/tenants", json={"slug": "toobig", "display_name": "Too big"},
                      headers=AUTH)
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["code"] == "INSUFFICIENT_CAPACITY"
    assert "this machine cannot host tenant 'toobig'" in error["message"]
    assert "MiB of memory available" in error["message"]
    assert api.get("/v1/tenants/toobig", headers=AUTH).status_code == 404


def test_connection_slots_taken_by_existing_tenants_refuse_one_more(
    pg_admin_url: str, tmp_path: Path
) -> None:
    import psycopg

    with psycopg.connect(pg_admin_url) as conn:
        row = conn.execute("SELECT current_setting('max_connections')::int").fetchone()
    assert row is not None
    fits = (row[0] - 3 - 10) // CONNECTIONS_PER_TENANT
    local = provider(pg_admin_url, tmp_path / "state")
    tenants = tmp_path / "state" / "tenants"
    for n in range(fits - 1):
        (tenants / f"t{n}").mkdir(parents=True)
        (tenants / f"t{n}" / "port").write_text(f"{9000 + n}\n")
    local.check_capacity("last-one")  # one more still fits
    (tenants / "extra").mkdir()
    (tenants / "extra" / "port").write_text("9999\n")
    with pytest.raises(InsufficientCapacity, match="connection slots left"):
        local.check_capacity("one-too-many")
    local.check_capacity("extra")  # a tenant already there is not counted twice
