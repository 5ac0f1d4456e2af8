"""Admin authentication: ``Authorization: Bearer <token>``, looked up by SHA-256 among the
registry's admin tokens (the token itself is never stored) — or, for the admin console's
pages (:mod:`control_plane.api.web`), the console's session cookie, which stands for the
admin token that signed in. ``viewer`` tokens (and their sessions) may only read (GET);
anything else needs an ``admin`` token (403 ``INSUFFICIENT_ROLE``), and a change made with
the cookie needs the page's CSRF token too (403 ``CSRF_TOKEN_INVALID``, checked by the
request guard, :mod:`frostbyte_common.request_guard`). A bearer request is judged by its
header alone.

The check runs before a request's body is read: :func:`admit` is the request guard's
(:mod:`frostbyte_common.request_guard`, installed by ``create_app``) for every path but the
open ones; :func:`require_admin` then returns the actor it found."""

from __future__ import annotations

from typing import Annotated

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from control_plane.api.dependencies import admin_tokens, console_sessions
from control_plane.errors import InsufficientRole
from control_plane.services.admin_tokens import READ_METHODS, token_sha256
from frostbyte_common.request_guard import admitted_by_cookie, cookie_credential
from frostbyte_common.web_session import CONSOLE_COOKIE, csrf_token

__all__ = ["admit", "require_admin", "token_sha256"]


#: The OpenAPI security scheme (Swagger's Authorize); :func:`require_admin` reads the header.
ADMIN_TOKEN = HTTPBearer(scheme_name="AdminToken", auto_error=False, description=(
    "An admin token, as `Authorization: Bearer <token>`; a viewer token may only read (GET)."))


async def require_admin(request: Request, _: Annotated[HTTPAuthorizationCredentials | None,
                                                       Security(ADMIN_TOKEN)] = None) -> str:
    """FastAPI dependency: the request's actor (the token's name) once the token (or the
    console session) is verified and its role allows the method."""
    admitted: str | None = getattr(request.state, "admin", None)
    if admitted is not None:
        return admitted
    session_id = cookie_credential(request, CONSOLE_COOKIE)
    if session_id is not None:
        session = await console_sessions(request).authenticate(session_id)
        if session.role != "admin" and request.method.upper() not in READ_METHODS:
            raise InsufficientRole(f"token {session.name!r} has role {session.role!r}; only "
                                   "admin tokens may change anything")
        admitted_by_cookie(request, csrf_token(session_id))  # the guard checks it
        return session.name
    record = await admin_tokens(request).authenticate(request.headers.get("authorization"),
                                                      request.method)
    return record.name


async def admit(request: Request) -> None:
    """The request guard's check, on the headers alone: a valid token (or console session)
    whose role allows the method, and a CSRF token on a change made with the cookie."""
    request.state.admin = await require_admin(request)
