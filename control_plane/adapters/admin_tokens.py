"""Admin API tokens in the control plane's database (``005_admin_tokens.sql``): a name, a
role (``admin`` or ``viewer``) and the token's SHA-256 — never the token."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from control_plane.domain.admin_tokens import AdminToken
from control_plane.errors import AdminTokenNotFound, LastAdminToken


def _token(row: dict[str, Any]) -> AdminToken:
    return AdminToken(row["token_id"], row["name"], row["role"], row["created_by"],
                      row["created_at"], row["revoked_at"])


class AdminTokenStore:
    """:class:`~control_plane.domain.ports.AdminTokenStorePort` on PostgreSQL."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[Any]]) -> None:
        self._pool = pool

    async def add(self, token_id: str, name: str, role: str, sha256: str,
                  created_by: str) -> AdminToken | None:
        """Insert a token; None if a token with that digest exists already."""
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "INSERT INTO admin_tokens (token_id, name, role, sha256, created_by) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (sha256) DO NOTHING RETURNING *",
                (token_id, name, role, sha256, created_by))
            row = await cur.fetchone()
        return _token(row) if row else None

    async def any_exists(self) -> bool:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM admin_tokens)")
            row = await cur.fetchone()
        return bool(row and row[0])

    async def active_by_sha256(self, sha256: str) -> AdminToken | None:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute("SELECT * FROM admin_tokens WHERE sha256 = %s "
                              "AND revoked_at IS NULL", (sha256,))
            row = await cur.fetchone()
        return _token(row) if row else None

    async def list_tokens(self) -> list[AdminToken]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute("SELECT * FROM admin_tokens ORDER BY created_at, token_id")
            return [_token(r) for r in await cur.fetchall()]

    async def revoke(self, token_id: str) -> AdminToken:
        """Revoke a token (idempotent); the last active admin token cannot be revoked."""
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("LOCK TABLE admin_tokens IN SHARE ROW EXCLUSIVE MODE")
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute("SELECT * FROM admin_tokens WHERE token_id = %s", (token_id,))
            row = await cur.fetchone()
            if row is None:
                raise AdminTokenNotFound(f"no admin token {token_id!r}")
            if row["role"] == "admin" and row["revoked_at"] is None:
                await cur.execute("SELECT count(*) AS n FROM admin_tokens WHERE role = 'admin' "
                                  "AND revoked_at IS NULL AND token_id <> %s", (token_id,))
                others = await cur.fetchone()
                if not others or not others["n"]:
                    raise LastAdminToken("this is the last admin token; create another "
                                         "admin token before revoking it")
            await cur.execute("UPDATE admin_tokens SET revoked_at = coalesce(revoked_at, now())"
                              " WHERE token_id = %s RETURNING *", (token_id,))
            updated = await cur.fetchone()
        assert updated is not None
        return _token(updated)
