"""The request guard's browser-session support (issue 17), shared by both planes' pages: a
plane's ``admit`` that takes a session cookie makes the guard want the session's CSRF token
on every state-changing request — from ``X-CSRF-Token``, or a form post's ``csrf_token``
field — and refuse it (403 ``CSRF_TOKEN_INVALID``) before the route runs; a bearer request
is judged by its header alone."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from frostbyte_common.errors import Unauthenticated
from frostbyte_common.http_errors import install_error_handlers
from frostbyte_common.request_guard import (
    RequestGuard,
    admitted_by_cookie,
    cookie_credential,
    route_key,
)

COOKIE = "page_session"
TOKEN = "t0ken"


async def admit(request: Request) -> None:
    session = cookie_credential(request, COOKIE)
    if session is not None:
        if session != "live":
            raise Unauthenticated("no such session")
        admitted_by_cookie(request, TOKEN)
        return
    if request.headers.get("authorization") != "Bearer key":
        raise Unauthenticated("no credential")


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    reached: list[str] = []
    app.state.reached = reached
    app.add_middleware(RequestGuard, admit=admit, open_paths=(),
                       caps={route_key("POST", "/stream"): None})
    install_error_handlers(app, internal_message="internal")

    @app.api_route("/change", methods=["GET", "POST", "DELETE"])
    async def change(request: Request) -> dict[str, Any]:
        reached.append(request.method)
        return {"body": (await request.body()).decode()}

    @app.post("/stream")
    async def stream(request: Request) -> dict[str, int]:
        reached.append("stream")
        return {"bytes": sum([len(c) async for c in request.stream()])}

    return TestClient(app)


def code(response: Any) -> tuple[int, str | None]:
    body = response.json()
    return response.status_code, body.get("error", {}).get("code")


def test_a_change_with_the_cookie_and_no_token_is_refused_before_the_route(
        client: TestClient) -> None:
    client.cookies.set(COOKIE, "live")
    assert code(client.post("/change", json={"a": 1})) == (403, "CSRF_TOKEN_INVALID")
    assert code(client.delete("/change")) == (403, "CSRF_TOKEN_INVALID")
    assert code(client.post("/change", headers={"X-CSRF-Token": "forged"})) == \
        (403, "CSRF_TOKEN_INVALID")
    assert code(client.post("/change", headers={"X-CSRF-Token": TOKEN[:-1]})) == \
        (403, "CSRF_TOKEN_INVALID")
    assert code(client.post("/change", data={"csrf_token": "forged"})) == \
        (403, "CSRF_TOKEN_INVALID")
    assert code(client.post("/stream", content=b"x" * 10)) == (403, "CSRF_TOKEN_INVALID")
    assert client.app.state.reached == []  # type: ignore[attr-defined]


def test_the_token_in_the_header_or_the_form_lets_the_change_through(
        client: TestClient) -> None:
    client.cookies.set(COOKIE, "live")
    assert client.post("/change", json={"a": 1}, headers={"X-CSRF-Token": TOKEN}
                       ).status_code == 200
    sent = client.post("/change", data={"csrf_token": TOKEN, "x": "1"})
    assert sent.status_code == 200 and "x=1" in sent.json()["body"]  # the body reaches it
    assert client.post("/stream", content=b"x" * 10, headers={"X-CSRF-Token": TOKEN}
                       ).json() == {"bytes": 10}
    assert client.get("/change").status_code == 200  # reading needs no token


def test_a_bearer_request_needs_no_token_and_a_dead_cookie_is_no_credential(
        client: TestClient) -> None:
    client.cookies.set(COOKIE, "live")
    # with Authorization the cookie is not the credential: judged by the header alone
    assert client.post("/change", headers={"Authorization": "Bearer key"}).status_code == 200
    assert client.post("/change", headers={"Authorization": "Bearer nope"}).status_code == 401
    client.cookies.set(COOKIE, "ended")
    assert code(client.get("/change")) == (401, "UNAUTHENTICATED")

