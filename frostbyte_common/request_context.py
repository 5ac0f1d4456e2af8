"""Every request's id and its access line: a pure ASGI middleware of both APIs.

:class:`RequestContext` is the outermost of each plane's own middleware (the request guard,
:mod:`frostbyte_common.request_guard`, sits inside it, so the guard's refusals carry the id):

* the request's id is the caller's ``X-Request-ID`` when it is a safe token
  (``[A-Za-z0-9._:-]``, 1-128 characters; the tenant's gateway passes its own on), otherwise a
  fresh one, so a hostile header never reaches a log line or a response; it is in
  ``request.state.request_id``, bound as ``request_id`` on every log line written while the
  request runs (:mod:`frostbyte_common.logs`), and returned in the response's
  ``X-Request-ID``;
* when the request ends, one access line (logger ``frostbyte.access``): method, path (never
  the query string, which may hold a secret), status, duration_ms, client — a request that
  ended in an unhandled error is logged with status 500 and its exception re-raised for the
  error handler.

uvicorn's own access log is off (:mod:`frostbyte_common.serving`): it cannot say how long a
request took and writes the query string.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frostbyte_common import logs

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

access_log = logging.getLogger("frostbyte.access")


def request_id_from(value: str | None) -> str:
    """The caller's id when it is a safe token, otherwise a new one."""
    return value if value and _SAFE_REQUEST_ID.fullmatch(value) else uuid.uuid4().hex


class RequestContext:
    """Gives every HTTP request an id (bound for its log lines, echoed in the response) and
    writes its access line when it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        rid = request_id_from(incoming)
        scope.setdefault("state", {})["request_id"] = rid
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = rid
            await send(message)

        with logs.bound(request_id=rid):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                client = scope.get("client")
                access_log.info(
                    "%s %s %d", scope.get("method"), scope.get("path"), status,
                    extra={"method": scope.get("method"), "path": scope.get("path"),
                           "status": status,
                           "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                           "client": client[0] if client else None})
