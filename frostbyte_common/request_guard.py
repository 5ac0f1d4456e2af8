"""What both APIs check before a request body is read: a pure ASGI middleware.

FastAPI reads and parses a JSON body before any dependency runs, authentication included,
and reads as much as the client sends. :class:`RequestGuard` sits in front of the routes:

* **the credential first** — every path but the plane's few open ones (liveness,
  readiness...) has the request's headers checked by the plane's ``admit`` callable before
  a single body byte is asked of the server (deny by default: a route added later is
  covered, and an unknown path tells a caller without a credential nothing); a refusal
  (401, 403...) is answered at once, with ``Connection: close`` when a body was announced,
  so the rest of it is never read;
* **then a bounded body** — each route has a byte cap (``caps``, by method and path); a
  declared ``Content-Length`` over it is refused with 413 ``BODY_TOO_LARGE`` up front, and a chunked
  body is read only until it passes the cap. A body within its cap is read here (whole,
  within ``body_timeout_s``: else 408 ``REQUEST_TIMEOUT``) and handed to the route;
* **a route that streams its body itself** (cap ``None``: ``POST /v1/batches``, which
  enforces the tenant's limits while it spools) gets the body as it arrives, each chunk due
  within ``body_timeout_s`` of the previous one.

**Browser sessions** (the vendor page, the admin console): a plane's ``admit`` may accept a
session cookie instead of ``Authorization``; it then calls :func:`admitted_by_cookie` with the
session's CSRF token, and the guard wants that token on every state-changing request
(anything but GET, HEAD, OPTIONS): in the ``X-CSRF-Token`` header, or — for a form post of
the page itself — in the body's ``csrf_token`` field (the body is within its cap, read here
anyway). Without it: 403 ``CSRF_TOKEN_INVALID``, before the route runs. A bearer request
carries no ambient credential and needs no token.

Errors are the plane's own (:mod:`frostbyte_common.errors`), answered through
:func:`frostbyte_common.http_errors.frostbyte_error_response`, the one mapping to HTTP.
The guard must sit inside the request-id middleware (installed after it), so its answers
carry the request id.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Iterable, Mapping
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frostbyte_common.errors import BodyTooLarge, Forbidden, FrostbyteError, RequestTimeout
from frostbyte_common.http_errors import frostbyte_error_response

KIB = 1024
#: The largest JSON body any route takes unless it says otherwise (the manifest's own cap
#: is its part's, inside the streamed upload).
DEFAULT_BODY_BYTES = 64 * KIB

#: Checks a request's headers (no body) and raises a :class:`FrostbyteError` to refuse it.
Admit = Callable[[Request], Awaitable[None]]

#: Where a cookie-authenticated request's CSRF token comes: a header (scripts) or a form
#: field (the page's own forms).
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CSRF_STATE = "csrf_expected"


class CsrfRefused(Forbidden):
    """A state-changing request made with a session cookie lacks the session's token."""

    default_code = "CSRF_TOKEN_INVALID"


def admitted_by_cookie(request: Request, csrf_token: str) -> None:
    """For a plane's ``admit``: the credential was a session cookie, whose CSRF token every
    state-changing request must then carry (checked by the guard)."""
    setattr(request.state, _CSRF_STATE, csrf_token)


def cookie_credential(request: Request, cookie: str) -> str | None:
    """The session cookie ``cookie`` when it is the request's credential: present, and no
    ``Authorization`` header (a bearer credential wins, and needs no CSRF token)."""
    if "authorization" in request.headers:
        return None
    return request.cookies.get(cookie) or None


def route_key(method: str, path: str) -> str:
    """How :class:`RequestGuard`'s ``caps`` name a route: ``"POST /v1/search"``."""
    return f"{method.upper()} {path}"


class RequestGuard:
    """The ASGI middleware; ``app.add_middleware(RequestGuard, admit=..., ...)``.

    ``open_paths``: the paths served without a credential; ``caps``: body caps by
    :func:`route_key` (``None``: the route streams and bounds its body itself); other
    requests get ``default_cap``."""

    def __init__(self, app: ASGIApp, *, admit: Admit, open_paths: Iterable[str],
                 caps: Mapping[str, int | None] | None = None,
                 default_cap: int = DEFAULT_BODY_BYTES, body_timeout_s: float = 30.0) -> None:
        self.app = app
        self._admit = admit
        self._open = frozenset(open_paths)
        self._caps = dict(caps or {})
        self._default_cap = default_cap
        self._body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path = str(scope["path"])
        cap = self._caps.get(route_key(scope["method"], path), self._default_cap)
        announced = _announces_body(request)
        try:
            if path not in self._open:
                await self._admit(request)
            expected = _csrf_expected(request)
            if expected is not None and request.headers.get(CSRF_HEADER) is not None:
                _check_csrf(expected, request.headers.get(CSRF_HEADER))
                expected = None
            if not announced or cap is None:
                if expected is not None:  # a change without a token in its headers
                    _check_csrf(expected, None)
                app_receive = receive if not announced else self._paced(receive)
                await self.app(scope, app_receive, send)
                return
            body = await self._bounded(request, receive, cap)
            if expected is not None:
                _check_csrf(expected, _form_field(request, body, CSRF_FIELD))
        except FrostbyteError as exc:
            response = frostbyte_error_response(request, exc)
            if announced:  # the rest of the body is not wanted: never read it
                response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _bounded(self, request: Request, receive: Receive, cap: int) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            raise BodyTooLarge(f"this route takes at most {cap} bytes; the body declares "
                               f"{declared}")
        body = bytearray()
        try:
            async with asyncio.timeout(self._body_timeout_s):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        break  # the client went away; the route sees an empty body
                    body += message.get("body", b"")
                    if len(body) > cap:
                        raise BodyTooLarge(f"this route takes at most {cap} bytes")
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            raise RequestTimeout(f"the request body did not arrive within "
                                 f"{self._body_timeout_s:g} s") from None
        return bytes(body)

    def _paced(self, receive: Receive) -> Receive:
        """``receive`` whose each body chunk is due within the body timeout."""
        timeout = self._body_timeout_s

        async def paced() -> Message:
            try:
                return await asyncio.wait_for(receive(), timeout)
            except TimeoutError:
                raise RequestTimeout(f"no byte of the request body arrived for {timeout:g} s"
                                     ) from None

        return paced


def _csrf_expected(request: Request) -> str | None:
    """The token a cookie-authenticated, state-changing request must carry; else None."""
    if request.method.upper() in SAFE_METHODS:
        return None
    expected: str | None = getattr(request.state, _CSRF_STATE, None)
    return expected


def _check_csrf(expected: str, presented: str | None) -> None:
    if presented is None or not hmac.compare_digest(
            expected.encode("utf-8"), presented.encode("utf-8", "replace")):
        raise CsrfRefused("a change made with the session cookie needs the session's CSRF "
                          f"token (the {CSRF_HEADER} header, or the form's {CSRF_FIELD} "
                          "field): reload the page")


def _form_field(request: Request, body: bytes, field: str) -> str | None:
    """``field`` of an ``application/x-www-form-urlencoded`` body; None otherwise."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    values = parse_qs(body.decode("utf-8", "replace")).get(field)
    return values[0] if values else None


def _announces_body(request: Request) -> bool:
    if "transfer-encoding" in request.headers:
        return True
    length = request.headers.get("content-length", "0")
    return not length.isdigit() or int(length) > 0


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read by the guard, then whatever the server says next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
