"""Signed-in sessions of the vendor web page (SPEC §5.8): what a session is, and its port.

The browser holds a random session id in an ``HttpOnly`` cookie; the tenant database keeps
only its SHA-256 (:func:`frostbyte_common.web_session.session_digest`), the vendor key it
was opened with and that key's scopes. Its CSRF token is derived from the id
(:func:`frostbyte_common.web_session.csrf_token`): nothing more is stored."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class WebSession:
    """A live session: the vendor key it speaks for, with that key's scopes."""

    key_id: str
    scopes: tuple[str, ...]
    expires_at: datetime


class WebSessions(Protocol):
    """The sessions' store (the tenant database)."""

    def create_session(self, session_sha256: str, *, key_id: str, key_sha256: str,
                       scopes: Sequence[str], expires_at: datetime) -> None:
        """Record a new session of the key ``key_id`` whose hash is ``key_sha256``."""

    def web_session(self, session_sha256: str) -> WebSession | None:
        """The live session: unexpired, and its key neither revoked nor re-issued since."""

    def delete_session(self, session_sha256: str) -> bool:
        """End a session (sign-out); False when there was none."""

    def delete_expired_sessions(self) -> int:
        """Drop the sessions past their expiry, or whose key is revoked; how many."""
