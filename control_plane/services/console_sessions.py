"""Admin console sessions (SPEC §5.8): sign in with an admin token, then the session cookie
stands for that token — with its role — until sign-out, expiry, or the token's revocation.

The cookie and CSRF mechanics are the shared ones (:mod:`frostbyte_common.web_session`);
this service keeps the records: only a session id's SHA-256 is stored."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from control_plane.domain.console_sessions import ConsoleSession, ConsoleSessionStorePort
from control_plane.services.admin_tokens import AdminTokenService
from frostbyte_common.errors import Unauthenticated
from frostbyte_common.web_session import new_session_id, session_digest

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SignedIn:
    session_id: str  # the cookie's value: handed to the browser once, never stored
    session: ConsoleSession


class ConsoleSessionService:
    def __init__(self, store: ConsoleSessionStorePort, tokens: AdminTokenService, *,
                 ttl_s: int) -> None:
        self._store = store
        self._tokens = tokens
        self.ttl_s = ttl_s

    async def sign_in(self, token: str) -> SignedIn:
        """A new session for a valid admin token (any role; 401 otherwise)."""
        record = await self._tokens.authenticate(f"Bearer {token}", "GET")
        session_id = new_session_id()
        expires = await self._store.add(session_digest(session_id), record.token_id,
                                        record.role, self.ttl_s)
        log.info("console session for admin token %s (%s) until %s", record.token_id,
                 record.role, expires.isoformat())
        return SignedIn(session_id, ConsoleSession(record.token_id, record.name, record.role,
                                                   expires))

    async def find(self, session_id: str) -> ConsoleSession | None:
        """The live session of that id, if any."""
        return await self._store.active(session_digest(session_id))

    async def authenticate(self, session_id: str) -> ConsoleSession:
        session = await self.find(session_id)
        if session is None:
            raise Unauthenticated("the console session has ended (signed out, expired or its "
                                  "admin token revoked); sign in again")
        return session

    async def sign_out(self, session_id: str) -> None:
        await self._store.remove(session_digest(session_id))
