"""The one error → HTTP mapping, on a bare app with routes that raise."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from control_plane.api.errors import install_error_handlers
from control_plane.errors import (
    DataPlaneError,
    InvalidTransition,
    TenantExists,
    TenantNotFound,
)
from frostbyte_common.errors import FrostbyteError, TooManyRequests, Unauthenticated


class Body(BaseModel):
    n: int


def app_raising(exc: Exception) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    @app.post("/body")
    async def body(b: Body) -> dict[str, int]:
        return {"n": b.n}

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (TenantExists("x"), 409, "TENANT_EXISTS"),
        (TenantNotFound("x"), 404, "TENANT_NOT_FOUND"),
        (InvalidTransition("x"), 409, "INVALID_TRANSITION"),
        (Unauthenticated("x"), 401, "UNAUTHENTICATED"),
        (DataPlaneError("x"), 502, "DATA_PLANE_ERROR"),
        (TooManyRequests("x", retry_after=7), 429, "TOO_MANY_REQUESTS"),
    ],
)
def test_frostbyte_errors_map_to_their_status(exc: FrostbyteError, status: int, code: str
                                             ) -> None:
    response = app_raising(exc).get("/boom", headers={"X-Request-ID": "req-1"})
    assert response.status_code == status
    assert response.json() == {"error": {"code": code, "message": "x", "request_id": "req-1"}}
    assert response.headers["X-Request-ID"] == "req-1"
    if status == 429:
        assert response.headers["Retry-After"] == "7"


def test_unexpected_errors_are_500_without_their_text() -> None:
    response = app_raising(RuntimeError("password=hunter2")).get("/boom")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "INTERNAL" and "hunter2" not in response.text
    assert error["request_id"] == response.headers["X-Request-ID"]


def test_request_validation_is_422_in_the_error_shape() -> None:
    response = app_raising(RuntimeError()).post("/body", json={"n": "many"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED" and "n" in error["message"]
    assert error["request_id"] == response.headers["X-Request-ID"]


def test_a_hostile_request_id_is_replaced() -> None:
    response = app_raising(TenantNotFound("x")).get("/boom", headers={"X-Request-ID": "a b\x01"})
    rid = response.headers["X-Request-ID"]
    assert rid != "a b\x01" and len(rid) == 32
