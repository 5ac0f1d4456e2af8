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

Errors are the plane's own (:mod:`frostbyte_common.errors`), answered through
:func:`frostbyte_common.http_errors.frostbyte_error_response`, the one mapping to HTTP.
The guard must sit inside the request-id middleware (installed after it), so its answers
carry the request id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frostbyte_common.errors import BodyTooLarge, FrostbyteError, RequestTimeout
from frostbyte_common.http_errors import frostbyte_error_response

KIB = 1024
#: The largest JSON body any route takes unless it says otherwise (the manifest's own cap
#: is its part's, inside the streamed upload).
DEFAULT_BODY_BYTES = 64 * KIB

#: Checks a request's headers (no body) and raises a :class:`FrostbyteError` to refuse it.
Admit = Callable[[Request], Awaitable[None]]


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
            if not announced:
                await self.app(scope, receive, send)
                return
            if cap is None:
                await self.app(scope, self._paced(receive), send)
                return
            body = await self._bounded(request, receive, cap)
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
