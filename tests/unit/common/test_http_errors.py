"""The one error envelope and request-id rule, as both APIs install it (each with only its
own 500 message)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from control_plane.api.errors import install_error_handlers as install_control_plane
from data_plane.api.errors import install_error_handlers as install_data_plane
from data_plane.errors import BatchTooLarge
from frostbyte_common.errors import Unauthenticated

PLANES: dict[str, Callable[[FastAPI], None]] = {
    "control_plane": install_control_plane, "data_plane": install_data_plane}


def _client(install: Callable[[FastAPI], None]) -> TestClient:
    app = FastAPI()
    install(app)

    @app.get("/ok")
    def ok() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/unauthenticated")
    def unauthenticated() -> None:
        raise Unauthenticated("no key")

    @app.get("/too-large")
    def too_large() -> None:
        raise BatchTooLarge("too many bytes")

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("password=hunter2")

    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(params=sorted(PLANES))
def client(request: pytest.FixtureRequest) -> TestClient:
    return _client(PLANES[request.param])


@pytest.mark.parametrize("rid", ["abc-123", "req.7:a_B", "x" * 128])
def test_a_safe_request_id_is_echoed_in_header_and_envelope(client: TestClient, rid: str
                                                            ) -> None:
    assert client.get("/ok", headers={"X-Request-ID": rid}).headers["X-Request-ID"] == rid
    refused = client.get("/too-large", headers={"X-Request-ID": rid})
    assert refused.status_code == 413
    assert refused.json() == {"error": {"code": "BATCH_TOO_LARGE", "message": "too many bytes",
                                        "request_id": rid}}
    assert refused.headers["X-Request-ID"] == rid


@pytest.mark.parametrize("rid", ["a b\x01", "x" * 129, "<script>", "a/b", ""])
def test_an_unsafe_or_missing_request_id_is_replaced(client: TestClient, rid: str) -> None:
    response = client.get("/unauthenticated", headers={"X-Request-ID": rid})
    new = response.headers["X-Request-ID"]
    assert new != rid and len(new) == 32 and int(new, 16) >= 0
    assert response.json()["error"]["request_id"] == new


def test_unauthenticated_asks_for_a_bearer_token(client: TestClient) -> None:
    response = client.get("/unauthenticated")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "UNAUTHENTICATED"


def test_framework_errors_use_the_envelope_and_keep_their_headers(client: TestClient) -> None:
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    wrong = client.post("/ok")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert wrong.headers["Allow"] == "GET"


@pytest.mark.parametrize(("plane", "message"), [
    ("control_plane", "internal error; see the control-plane log"),
    ("data_plane", "internal error; quote the request id to support"),
])
def test_an_unexpected_error_is_500_with_the_planes_message_only(plane: str, message: str
                                                                 ) -> None:
    response = _client(PLANES[plane]).get("/boom", headers={"X-Request-ID": "r-1"})
    assert response.status_code == 500 and "hunter2" not in response.text
    assert response.json() == {"error": {"code": "INTERNAL", "message": message,
                                         "request_id": "r-1"}}
    assert response.headers["X-Request-ID"] == "r-1"
