"""Browser sessions for both planes' web pages (SPEC §5.8): ids, their digests and CSRF tokens.

A page signs in with a credential (an admin token, a vendor key) and gets a session: a
random id (:func:`new_session_id`) sent back as a cookie ``HttpOnly; SameSite=Strict;
Path=/`` (``Secure`` when the page is served over HTTPS), of which the server keeps only the
SHA-256 (:func:`session_digest`) with who signed in and until when. Each plane's ``admit``
then takes the cookie as a credential and tells the request guard the session's CSRF token
(:func:`frostbyte_common.request_guard.cookie_credential` and
:func:`~frostbyte_common.request_guard.admitted_by_cookie`), which every state-changing
request must carry (403 ``CSRF_TOKEN_INVALID``).

The CSRF token is derived from the session id (:func:`csrf_token`, an HMAC keyed by it), so
the server stores nothing more and a script of another site, which can neither read the
``HttpOnly`` cookie nor this origin's pages, cannot compute it. ``SameSite=Strict`` already
keeps the cookie off cross-site requests; the token is the second lock. Cookies are scoped
by host, not port: the planes' cookies have different names (:data:`CONSOLE_COOKIE`,
:data:`VENDOR_COOKIE`) so that two planes on one host's loopback do not overwrite each other's.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

#: The control plane's admin console session.
CONSOLE_COOKIE = "frostbyte_console"
#: A tenant data plane's vendor page session.
VENDOR_COOKIE = "frostbyte_vendor"


def new_session_id() -> str:
    """A fresh session id (256 random bits); the cookie's value, never stored."""
    return secrets.token_urlsafe(32)


def session_digest(session_id: str) -> str:
    """What the server stores and looks a session up by: the id's SHA-256 (hex)."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def csrf_token(session_id: str) -> str:
    """The session's CSRF token, put in its pages and sent back with every change."""
    return hmac.new(session_id.encode("utf-8"), b"frostbyte csrf v1", hashlib.sha256).hexdigest()


def csrf_matches(session_id: str, presented: str | None) -> bool:
    """Whether ``presented`` is the session's CSRF token (constant-time)."""
    return presented is not None and hmac.compare_digest(
        presented.encode("utf-8", "replace"), csrf_token(session_id).encode("ascii"))
