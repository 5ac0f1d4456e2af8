"""The pages' session ids and CSRF tokens (frostbyte_common.web_session)."""

from __future__ import annotations

from frostbyte_common import web_session as ws


def test_each_session_has_its_own_csrf_token_that_does_not_reveal_the_id() -> None:
    token = ws.csrf_token("sid")
    assert token != ws.csrf_token("other") and "sid" not in token
    assert ws.csrf_matches("sid", token)
    for presented in (None, "", ws.csrf_token("other"), token[:-1], "é" * 64):
        assert not ws.csrf_matches("sid", presented)


def test_only_the_digest_of_a_session_id_is_kept() -> None:
    sid = ws.new_session_id()
    assert len(sid) >= 43 and ws.new_session_id() != sid
    assert ws.session_digest(sid) != sid and len(ws.session_digest(sid)) == 64


def test_the_planes_cookies_have_different_names() -> None:
    # cookies are scoped by host, not port: both planes on one loopback must not collide
    assert ws.CONSOLE_COOKIE != ws.VENDOR_COOKIE
