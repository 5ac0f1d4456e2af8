"""Admin authentication: ``Authorization: Bearer <token>``, looked up by SHA-256 among the
registry's admin tokens (the token itself is never stored). ``viewer`` tokens may only read
(GET); anything else needs an ``admin`` token (403 ``INSUFFICIENT_ROLE``).

The check runs before a request's body is read: :func:`admit` is the request guard's
(:mod:`frostbyte_common.request_guard`, installed by ``create_app``) for every path but the
open ones; :func:`require_admin` then returns the actor it found."""

from __future__ import annotations

from fastapi import Request

from control_plane.api.dependencies import admin_tokens
from control_plane.services.admin_tokens import token_sha256

__all__ = ["admit", "require_admin", "token_sha256"]


async def require_admin(request: Request) -> str:
    """FastAPI dependency: the request's actor (the token's name) once the token is verified
    and its role allows the method."""
    admitted: str | None = getattr(request.state, "admin", None)
    if admitted is not None:
        return admitted
    record = await admin_tokens(request).authenticate(request.headers.get("authorization"),
                                                      request.method)
    return record.name


async def admit(request: Request) -> None:
    """The request guard's check, on the headers alone: a valid token whose role allows
    the method."""
    request.state.admin = await require_admin(request)
