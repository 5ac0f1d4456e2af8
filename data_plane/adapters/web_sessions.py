"""The vendor web page's sessions in the tenant database (``sql/008_web_sessions.sql``):
the :class:`~data_plane.domain.web_sessions.WebSessions` port."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from data_plane.adapters.postgres import TenantDatabase
from data_plane.domain.web_sessions import WebSession

# Live: not expired, and the key still live with the hash it had at sign-in (a revoked or
# re-issued key ends its sessions).
_LIVE = """
    SELECT s.key_id, s.scopes, s.expires_at
    FROM web_sessions s JOIN vendor_keys k ON k.key_id = s.key_id
    WHERE s.session_sha256 = %s AND s.expires_at > now()
      AND k.revoked_at IS NULL AND k.key_sha256 = s.key_sha256
"""


class PgWebSessions:
    def __init__(self, db: TenantDatabase) -> None:
        self._db = db

    def create_session(self, session_sha256: str, *, key_id: str, key_sha256: str,
                       scopes: Sequence[str], expires_at: datetime) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO web_sessions (session_sha256, key_id, key_sha256, scopes,"
                " expires_at) VALUES (%s,%s,%s,%s,%s)",
                (session_sha256, key_id, key_sha256, list(scopes), expires_at))

    def web_session(self, session_sha256: str) -> WebSession | None:
        with self._db.transaction() as conn:
            row = conn.execute(_LIVE, (session_sha256,)).fetchone()
        if row is None:
            return None
        return WebSession(key_id=row["key_id"], scopes=tuple(row["scopes"]),
                          expires_at=row["expires_at"])

    def delete_session(self, session_sha256: str) -> bool:
        with self._db.transaction() as conn:
            return conn.execute("DELETE FROM web_sessions WHERE session_sha256 = %s",
                                (session_sha256,)).rowcount > 0

    def delete_expired_sessions(self) -> int:
        with self._db.transaction() as conn:
            return conn.execute(
                "DELETE FROM web_sessions s USING vendor_keys k WHERE k.key_id = s.key_id"
                " AND (s.expires_at <= now() OR k.revoked_at IS NOT NULL"
                " OR k.key_sha256 <> s.key_sha256)").rowcount
