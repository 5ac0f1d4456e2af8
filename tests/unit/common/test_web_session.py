"""The pages' session cookie and CSRF check (frostbyte_common.web_session)."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response

from frostbyte_common import web_session as ws


def request(method: str, headers: dict[str, str]) -> Request:
    return Request({"type": "http", "method": method, "path": "/", "query_string": b"",
                    "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]})


def test_the_cookie_is_httponly_samesite_strict_and_secure_only_when_asked() -> None:
    plain, tls = Response(), Response()
    ws.set_session_cookie(plain, ws.CONSOLE_COOKIE, "sid", max_age_s=60, secure=False)
    ws.set_session_cookie(tls, ws.CONSOLE_COOKIE, "sid", max_age_s=60, secure=True)
    header = plain.headers["set-cookie"]
    assert header.startswith("frostbyte_console=sid;")
    assert "HttpOnly" in header and "SameSite=strict" in header and "Path=/" in header
    assert "Secure" not in header
    assert "Secure" in tls.headers["set-cookie"]


def test_a_bearer_request_is_not_a_cookie_request() -> None:
    cookie = f"{ws.CONSOLE_COOKIE}=sid"
    assert ws.session_id_of(request("GET", {"cookie": cookie}), ws.CONSOLE_COOKIE) == "sid"
    assert ws.session_id_of(request("GET", {"cookie": cookie, "authorization": "Bearer x"}),
                            ws.CONSOLE_COOKIE) is None
    assert ws.session_id_of(request("GET", {"cookie": cookie}), ws.VENDOR_COOKIE) is None


def test_a_change_needs_the_sessions_own_csrf_token() -> None:
    token = ws.csrf_token("sid")
    assert token != ws.csrf_token("other") and "sid" not in token
    ws.require_csrf(request("GET", {}), "sid")  # reading needs none
    ws.require_csrf(request("POST", {ws.CSRF_HEADER: token}), "sid")
    for headers in ({}, {ws.CSRF_HEADER: ws.csrf_token("other")}, {ws.CSRF_HEADER: ""}):
        with pytest.raises(ws.CsrfTokenInvalid) as refused:
            ws.require_csrf(request("DELETE", headers), "sid")
        assert refused.value.status_code == 403
        assert refused.value.code == "CSRF_TOKEN_INVALID"


def test_only_the_digest_of_a_session_id_is_kept() -> None:
    sid = ws.new_session_id()
    assert len(sid) >= 43 and ws.new_session_id() != sid
    assert ws.session_digest(sid) != sid and len(ws.session_digest(sid)) == 64
