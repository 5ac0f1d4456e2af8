"""Browser sessions for both planes' web pages (SPEC §5.8): the cookie, and the CSRF check.

A page signs in with a credential (an admin token, a vendor key) and gets a session: a
random id sent back as a cookie ``HttpOnly; SameSite=Strict; Path=/`` (``Secure`` when the
page is served over HTTPS), of which the server keeps only the SHA-256 (:func:`session_digest`)
with who signed in and until when. Each plane's ``admit`` (the request guard's check,
:mod:`frostbyte_common.request_guard`) then takes either credential:

* ``Authorization: Bearer ...`` — unchanged; a bearer request is never checked for CSRF
  (a browser never adds that header on its own);
* else the session cookie (:func:`session_id_of`) — and on a request that changes anything
  (any method but GET, HEAD, OPTIONS) the page's CSRF token in ``X-CSRF-Token``
  (:func:`require_csrf`): 403 ``CSRF_TOKEN_INVALID`` without it.

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

from starlette.requests import Request
from starlette.responses import Response

from frostbyte_common.errors import Forbidden

#: The control plane's admin console session.
CONSOLE_COOKIE = "frostbyte_console"
#: A tenant data plane's vendor page session.
VENDOR_COOKIE = "frostbyte_vendor"
CSRF_HEADER = "X-CSRF-Token"
#: Methods that change nothing: no CSRF token asked.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfTokenInvalid(Forbidden):
    """A cookie-authenticated request that changes something without the page's CSRF token."""

    default_code = "CSRF_TOKEN_INVALID"


def new_session_id() -> str:
    """A fresh session id (256 random bits); the cookie's value, never stored."""
    return secrets.token_urlsafe(32)


def session_digest(session_id: str) -> str:
    """What the server stores and looks a session up by: the id's SHA-256 (hex)."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def csrf_token(session_id: str) -> str:
    """The session's CSRF token, put in its pages and sent back in :data:`CSRF_HEADER`."""
    return hmac.new(session_id.encode("utf-8"), b"frostbyte csrf v1", hashlib.sha256).hexdigest()


def session_id_of(request: Request, cookie: str) -> str | None:
    """The session id a request presents: the cookie's value, unless the request carries an
    ``Authorization`` header (a bearer request is judged by its header alone)."""
    if "authorization" in request.headers:
        return None
    value = request.cookies.get(cookie)
    return value or None


def require_csrf(request: Request, session_id: str) -> None:
    """Refuse (403 ``CSRF_TOKEN_INVALID``) a state-changing request that lacks the CSRF token
    of the session it is authenticated by."""
    if request.method.upper() in SAFE_METHODS:
        return
    presented = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(presented.encode("utf-8"), csrf_token(session_id).encode()):
        raise CsrfTokenInvalid(f"a change made with the session cookie needs the page's "
                               f"{CSRF_HEADER} header; reload the page")


def is_https(request: Request) -> bool:
    """Whether the request reached the app over HTTPS (as uvicorn reports it, proxy headers
    included when the server trusts them)."""
    return request.url.scheme == "https"


def set_session_cookie(response: Response, cookie: str, session_id: str, *, max_age_s: int,
                       secure: bool) -> None:
    """``Set-Cookie``: ``HttpOnly; SameSite=Strict; Path=/``, ``Secure`` if asked."""
    response.set_cookie(cookie, session_id, max_age=max_age_s, path="/", secure=secure,
                        httponly=True, samesite="strict")


def clear_session_cookie(response: Response, cookie: str, *, secure: bool) -> None:
    """Tell the browser to drop the cookie (sign-out, or a session that is no more)."""
    response.delete_cookie(cookie, path="/", secure=secure, httponly=True, samesite="strict")
