"""Sign-in, sign-out and the session check of the vendor web page (SPEC §5.8).

A vendor signs in with her key; she gets a session that speaks for that key (the same
scopes, audited as the same ``vendor_key:<id>``) until it expires, she signs out, or the
key is revoked or re-issued."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from data_plane.domain.web_sessions import WebSessions
from data_plane.services.access import AccessService, Caller
from frostbyte_common import web_session
from frostbyte_common.errors import Unauthenticated
from frostbyte_common.vendor_keys import SCOPES, hash_key


@dataclass(frozen=True)
class SignedIn:
    """A new session: the id for the cookie (shown nowhere else) and its CSRF token."""

    session_id: str
    csrf_token: str
    caller: Caller
    expires_at: datetime


class WebSessionService:
    def __init__(self, access: AccessService, sessions: WebSessions, *, ttl_s: float) -> None:
        self._access = access
        self._sessions = sessions
        self._ttl = timedelta(seconds=ttl_s)

    @property
    def ttl_s(self) -> int:
        return int(self._ttl.total_seconds())

    def sign_in(self, key: str) -> SignedIn:
        """Open a session for the holder of ``key`` (``Unauthenticated`` if it is not a
        live vendor key of this tenant). The control credential never opens one."""
        caller = self._access.authenticate(key.strip())
        if not caller.scopes or caller.scopes - set(SCOPES):
            raise Unauthenticated("only a vendor key signs in to this page")
        session_id = web_session.new_session_id()
        expires_at = datetime.now(UTC) + self._ttl
        self._sessions.delete_expired_sessions()
        self._sessions.create_session(
            web_session.session_digest(session_id), key_id=caller.key_id,
            key_sha256=hash_key(key.strip()), scopes=sorted(caller.scopes),
            expires_at=expires_at)
        return SignedIn(session_id=session_id, csrf_token=web_session.csrf_token(session_id),
                        caller=caller, expires_at=expires_at)

    def caller(self, session_id: str) -> Caller:
        """The key a live session speaks for; ``Unauthenticated`` when it has ended."""
        found = (self._sessions.web_session(web_session.session_digest(session_id))
                 if session_id else None)
        if found is None:
            raise Unauthenticated("the session has ended (expired, signed out, or its key "
                                  "was revoked): sign in again")
        return Caller(key_id=found.key_id, scopes=frozenset(found.scopes))

    @staticmethod
    def csrf_token(session_id: str) -> str:
        """The CSRF token every change made with this session must carry."""
        return web_session.csrf_token(session_id)

    def sign_out(self, session_id: str) -> bool:
        """End the session; False when it had ended already."""
        return self._sessions.delete_session(web_session.session_digest(session_id))
