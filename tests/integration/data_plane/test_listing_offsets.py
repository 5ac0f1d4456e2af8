"""The paged listings on a real PostgreSQL: an `offset` past what PostgreSQL's OFFSET (a
bigint) holds is the caller's error, 422 in the error envelope, not a 500 (schemathesis sent
one in tests/e2e/test_openapi_fuzz.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from data_plane.adapters.postgres import TenantDatabase
from data_plane.api.auth import ControlCaller, authenticated_caller, control_caller
from data_plane.api.errors import install_error_handlers
from data_plane.api.routers import batches, documents, quarantine
from data_plane.services.access import Caller
from data_plane.services.catalogue import CatalogueService
from data_plane.services.intake_quarantine import QuarantineService
from data_plane.services.reports import ReportService

LISTINGS = ["/v1/batches", "/v1/documents", "/v1/quarantine", "/control/v1/quarantine"]


@pytest.fixture
def client(fresh_database: str, tmp_path: Path) -> Iterator[TestClient]:
    db = TenantDatabase(fresh_database, "acme", max_size=2)
    db.open()
    db.migrate()
    unused = cast(Any, None)  # the object store and job queue: listings never reach them
    app = FastAPI()
    app.state.services = SimpleNamespace(
        catalogue=CatalogueService(db, unused, ReportService(db, embedding_model={})),
        quarantine=QuarantineService(db, unused, unused, tmp_path / "quarantine"))
    install_error_handlers(app)
    for router in (batches.router, documents.router, quarantine.router,
                   quarantine.control_router):
        app.include_router(router)
    app.dependency_overrides[authenticated_caller] = lambda: Caller(
        key_id="k", scopes=frozenset({"read", "audit"}))
    app.dependency_overrides[control_caller] = lambda: ControlCaller(key_id="c", actor="admin:a")
    try:
        with TestClient(app, raise_server_exceptions=False) as test_client:
            yield test_client
    finally:
        db.close()


@pytest.mark.parametrize("path", LISTINGS)
def test_an_offset_past_a_bigint_is_422(client: TestClient, path: str) -> None:
    response = client.get(path, params={"offset": 2**63})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED" and "offset" in error["message"]
    assert error["request_id"]
    # the largest bigint is still an ordinary (empty) page
    page = client.get(path, params={"offset": 2**63 - 1})
    assert page.status_code == 200, page.text
