"""The error envelope and request ids of both HTTP APIs (control plane and data plane).

Every error body is ``{"error": {"code", "message", "request_id"}}`` (422 adds ``details``).
Every response carries ``X-Request-ID``: the caller's own when it is a safe token
(``[A-Za-z0-9._:-]``, 1-128 characters), otherwise a fresh one, so that a hostile header
(control characters, a megabyte of text) never reaches a log line or a response.

The HTTP status of a Frostbyte error is its class's ``status_code`` (see
:mod:`frostbyte_common.errors`); each plane installs these handlers from its own
``api/errors.py`` and adds nothing else.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from frostbyte_common.errors import (
    DependencyUnavailable,
    FrostbyteError,
    TooManyRequests,
    Unauthenticated,
)
from frostbyte_common.request_context import REQUEST_ID_HEADER, RequestContext, request_id_from

log = logging.getLogger(__name__)

#: Seconds a client is told to wait when a store the call needs is down (503).
DEPENDENCY_RETRY_AFTER_S = 5

#: Codes of the errors Starlette and FastAPI raise themselves (unknown route, wrong method...).
HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_FAILED",
    429: "TOO_MANY_REQUESTS",
}


def request_id_of(request: Request) -> str:
    """The request's id (made now if the middleware has not run, e.g. in a 500 handler)."""
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        request.state.request_id = rid
    return str(rid)


def error_response(
    request: Request, status: int, code: str, message: str, **extra: Any
) -> JSONResponse:
    """The envelope, with the request id in the body and in ``X-Request-ID``."""
    rid = request_id_of(request)
    body: dict[str, Any] = {"code": code, "message": message, "request_id": rid, **extra}
    return JSONResponse({"error": body}, status_code=status, headers={REQUEST_ID_HEADER: rid})


async def _frostbyte_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FrostbyteError)
    return frostbyte_error_response(request, exc)


def frostbyte_error_response(request: Request, exc: FrostbyteError) -> JSONResponse:
    """The answer to a Frostbyte error: its class's status and code in the envelope (also
    used by :mod:`frostbyte_common.request_guard`, which answers before the routes)."""
    if exc.status_code >= 500:
        log.error("%s %s failed: %s: %s", request.method, request.url.path, exc.code,
                  exc.message, extra={"request_id": request_id_of(request)})
    response = error_response(request, exc.status_code, exc.code, exc.message)
    if isinstance(exc, Unauthenticated):
        response.headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, DependencyUnavailable):  # a store is down: worth trying again soon
        response.headers["Retry-After"] = str(DEPENDENCY_RETRY_AFTER_S)
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", ""))}
        for err in exc.errors()
    ]
    summary = "; ".join(
        f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}"
        for err in exc.errors()[:5]
    )
    return error_response(
        request, 422, "VALIDATION_FAILED", f"invalid request: {summary}", details=details
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
    response = error_response(request, exc.status_code, code, str(exc.detail))
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


def install_error_handlers(app: FastAPI, *, internal_message: str) -> None:
    """Register the request-id middleware (:mod:`frostbyte_common.request_context`, which
    also writes each request's access line) and every exception → response mapping.

    ``internal_message`` is what a caller reads on a 500 (never the exception's text, which
    may hold a secret or a document's words): where to look, or whom to ask.
    """

    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s: unhandled error", request.method, request.url.path,
                      exc_info=exc, extra={"request_id": request_id_of(request)})
        return error_response(request, 500, "INTERNAL", internal_message)

    app.add_middleware(RequestContext)
    app.add_exception_handler(FrostbyteError, _frostbyte_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, unexpected_error)
