"""Admin console sessions in the control plane's database (``008_console_sessions.sql``): the
SHA-256 of a session id, the admin token it belongs to and its expiry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from control_plane.domain.console_sessions import ConsoleSession


class ConsoleSessionStore:
    """:class:`~control_plane.domain.console_sessions.ConsoleSessionStorePort` on PostgreSQL;
    the database's clock decides expiry."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[Any]]) -> None:
        self._pool = pool

    async def add(self, sha256: str, token_id: str, role: str, ttl_s: int) -> datetime:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("DELETE FROM console_sessions WHERE expires_at <= now()")
            cur = await conn.execute(
                "INSERT INTO console_sessions (sha256, token_id, role, expires_at) "
                "VALUES (%s, %s, %s, now() + make_interval(secs => %s)) RETURNING expires_at",
                (sha256, token_id, role, ttl_s))
            row = await cur.fetchone()
        assert row is not None
        expires: datetime = row[0]
        return expires

    async def active(self, sha256: str) -> ConsoleSession | None:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT s.token_id, t.name, s.role, s.expires_at FROM console_sessions s "
                "JOIN admin_tokens t USING (token_id) WHERE s.sha256 = %s "
                "AND s.expires_at > now() AND t.revoked_at IS NULL", (sha256,))
            row = await cur.fetchone()
        if row is None:
            return None
        return ConsoleSession(row["token_id"], row["name"], row["role"], row["expires_at"])

    async def remove(self, sha256: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("DELETE FROM console_sessions WHERE sha256 = %s", (sha256,))
