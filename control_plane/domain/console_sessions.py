"""An admin console session as the control plane records it (SPEC §5.8): the admin token
that signed in, its name and role, and when the session ends — never the session id (only
its SHA-256 is stored)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    token_id: str
    name: str  # the admin token's name: the actor of what the session does
    role: str
    expires_at: datetime


class ConsoleSessionStorePort(Protocol):
    """Console sessions by the SHA-256 of their id."""

    async def add(self, sha256: str, token_id: str, role: str, ttl_s: int) -> datetime:
        """Record a session ending ``ttl_s`` seconds from now (and drop expired ones); its
        expiry."""
        ...

    async def active(self, sha256: str) -> ConsoleSession | None:
        """The session if it has not expired and its admin token is not revoked."""
        ...

    async def remove(self, sha256: str) -> None:
        ...
