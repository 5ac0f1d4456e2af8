"""The tenant API as ``create_app`` assembles it (routers, key and scope checks, the
suspension guard, the error envelope), over services on the in-memory tenant database;
the lifespan is not run, the test hands in the services the composition root would build."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from data_plane import wiring
from data_plane.api.app import create_app
from data_plane.domain.intake import DocStatus
from data_plane.domain.records import NewDocument
from data_plane.services.access import AccessService
from data_plane.services.catalogue import CatalogueService
from data_plane.services.health import HealthService
from data_plane.services.reports import ReportService
from data_plane.services.suspension import SuspensionService
from data_plane.settings import DataPlaneSettings
from frostbyte_common import vendor_keys
from frostbyte_common.version import __version__
from tests.doubles.persistence import InMemoryTenantDatabase

KEYS = {"reader": ["read"], "ingester": ["ingest", "read", "audit"], "control": ["control"]}


class _Store:
    """No object is read in these tests."""


@pytest.fixture
def db() -> InMemoryTenantDatabase:
    return InMemoryTenantDatabase()


@pytest.fixture
def api(db: InMemoryTenantDatabase, tmp_path: Path) -> tuple[TestClient, dict[str, str]]:
    settings = DataPlaneSettings(tenant="acme", database_url=SecretStr("postgresql://x@h/x"),
                                 object_store_root=tmp_path / "objects")
    app = create_app(settings)
    reports = ReportService(db, embedding_model={})
    app.state.services = SimpleNamespace(
        access=AccessService(db), suspension=SuspensionService(db, ttl_s=0.0),
        reports=reports, catalogue=CatalogueService(db, _Store(), reports),  # type: ignore[arg-type]
        health=HealthService(_Database(), None))
    headers = {}
    for name, scopes in KEYS.items():
        key = vendor_keys.generate_key()
        AccessService(db).install(key.key_id, key.sha256, scopes, name)
        headers[name] = f"Bearer {key.key}"
    return TestClient(app), headers


class _Database:
    def ping(self) -> bool:
        return True


def _error(response: Any) -> tuple[int, str]:
    """Status and error code of a test client's response."""
    return response.status_code, response.json()["error"]["code"]


def test_a_key_with_the_routes_scope_is_needed(api: tuple[TestClient, dict[str, str]],
                                               db: InMemoryTenantDatabase) -> None:
    client, keys = api
    nokey = client.get("/v1/batches")
    assert _error(nokey) == (401, "UNAUTHENTICATED")
    assert nokey.headers["WWW-Authenticate"] == "Bearer"
    assert _error(client.get("/v1/batches", headers={"Authorization": "Bearer fbk_x_y"})) == (
        401, "UNAUTHENTICATED")
    assert _error(client.delete(f"/v1/documents/{uuid.uuid4()}",
                                headers={"Authorization": keys["reader"]})) == (
        403, "INSUFFICIENT_SCOPE")
    assert _error(client.get("/v1/batches", headers={"Authorization": keys["control"]})) == (
        403, "INSUFFICIENT_SCOPE")
    assert _error(client.get("/control/v1/suspension",
                             headers={"Authorization": keys["ingester"],
                                      "X-Frostbyte-Actor": "dana"})) == (
        403, "INSUFFICIENT_SCOPE")

    batch_id = uuid.uuid4()
    db.record_batch(batch_id=batch_id, client_ref="r", idempotency_key=None, key_id="k",
                    documents=[NewDocument(
                        document_id=uuid.uuid4(), ordinal=0, name="a.txt", sha256="0" * 64,
                        declared_sha256="0" * 64, size=1, declared_type=None,
                        mime_type="text/plain", metadata={}, status=DocStatus.ACCEPTED,
                        reason=None, stored=True, duplicate_of=None, raw_key="raw/0")])
    listed = client.get("/v1/batches", params={"limit": 5},
                        headers={"Authorization": keys["reader"]})
    assert listed.status_code == 200
    body = listed.json()
    assert (body["limit"], body["offset"]) == (5, 0)
    assert [b["batch_id"] for b in body["batches"]] == [str(batch_id)]
    one = client.get(f"/v1/batches/{batch_id}", headers={"Authorization": keys["reader"]})
    assert one.json()["documents"][0]["name"] == "a.txt"
    missing = client.get(f"/v1/batches/{uuid.uuid4()}",
                         headers={"Authorization": keys["reader"]})
    assert _error(missing) == (404, "BATCH_NOT_FOUND")


def test_a_suspended_tenant_refuses_vendor_calls_before_their_key_check(
        api: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = api
    control = {"Authorization": keys["control"], "X-Frostbyte-Actor": "ops"}
    assert _error(client.put("/control/v1/suspension", json={"suspended": True},
                             headers={"Authorization": keys["control"]})) == (
        422, "ACTOR_REQUIRED")
    done = client.put("/control/v1/suspension", json={"suspended": True}, headers=control)
    assert done.json() == {"suspended": True, "changed": True}
    assert _error(client.get("/v1/batches")) == (403, "TENANT_SUSPENDED")
    assert _error(client.get("/v1/documents", headers={"Authorization": keys["reader"]})) == (
        403, "TENANT_SUSPENDED")
    assert client.get("/healthz").json() == {"status": "ok", "tenant": "acme",
                                             "version": __version__}
    assert client.get("/control/v1/suspension", headers=control).json() == {"suspended": True}


def test_operations_routes(api: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = api
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "checks": {"model": True, "database": True},
                            "tenant": "acme", "scanner": "not configured"}
    metrics = client.get("/metrics", headers={"Authorization": keys["control"]})
    assert metrics.status_code == 200 and metrics.headers["X-Request-ID"]


def test_the_api_clears_the_uploads_a_killed_api_left(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """An API killed mid-upload leaves the spooled parts; its client got no receipt and
    sends again, so the next start removes them before it serves."""
    settings = DataPlaneSettings(tenant="acme", database_url=SecretStr("postgresql://x@h/x"),
                                 object_store_root=tmp_path / "objects", work_dir=tmp_path)
    stale = tmp_path / "uploads" / "batch-killed"
    stale.mkdir(parents=True)
    (stale / "part-0").write_bytes(b"half an upload")

    @contextlib.asynccontextmanager
    async def no_services(_settings: DataPlaneSettings,
                          _metrics: object = None) -> AsyncIterator[SimpleNamespace]:
        assert not stale.exists()  # cleared before the services (and routes) start
        yield SimpleNamespace()

    monkeypatch.setattr(wiring, "serve_api", no_services)
    with TestClient(create_app(settings)):
        assert not stale.exists()
