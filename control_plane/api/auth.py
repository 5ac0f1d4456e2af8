"""Admin authentication: ``Authorization: Bearer <token>``, looked up by SHA-256 among the
registry's admin tokens (the token itself is never stored). ``viewer`` tokens may only read
(GET); anything else needs an ``admin`` token (403 ``INSUFFICIENT_ROLE``)."""

from __future__ import annotations

from fastapi import Request

from control_plane.api.dependencies import admin_tokens
from control_plane.services.admin_tokens import token_sha256

__all__ = ["require_admin", "token_sha256"]


async def require_admin(request: Request) -> str:
    """FastAPI dependency: the request's actor (the token's name) once the token is verified
    and its role allows the method."""
    record = await admin_tokens(request).authenticate(request.headers.get("authorization"),
                                                      request.method)
    return record.name
