"""Backup and restore records in the control plane's database (``sql/010_backups.sql``;
:class:`~control_plane.domain.backups.BackupStorePort`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from control_plane.domain.backups import BackupRecord, RestoreRecord
from control_plane.errors import BackupNotFound

_COLUMNS = "backup_id, slug, created_at, path, size, sha256, trigger, summary, actor"


def _record(row: dict[str, Any]) -> BackupRecord:
    return BackupRecord(backup_id=row["backup_id"], slug=row["slug"],
                        created_at=row["created_at"], path=row["path"], size=int(row["size"]),
                        sha256=row["sha256"], trigger=row["trigger"], summary=row["summary"],
                        actor=row["actor"])


def _restore(row: dict[str, Any]) -> RestoreRecord:
    return RestoreRecord(slug=row["slug"], source_slug=row["source_slug"],
                         backup_id=row["backup_id"], archive_path=row["archive_path"],
                         archive_sha256=row["archive_sha256"], audit_chain=row["audit_chain"],
                         restored_event=row["restored_event"],
                         revoked_key_ids=tuple(row["revoked_key_ids"] or ()))


class BackupStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def add(self, record: BackupRecord) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                f"INSERT INTO tenant_backups ({_COLUMNS}) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s)".encode(),
                (record.backup_id, record.slug, record.created_at, record.path, record.size,
                 record.sha256, record.trigger, Jsonb(dict(record.summary)), record.actor))

    async def list_backups(self, slug: str | None = None) -> list[BackupRecord]:
        """Newest first; every tenant's when ``slug`` is None."""
        query = f"SELECT {_COLUMNS} FROM tenant_backups"
        params: tuple[Any, ...] = ()
        if slug is not None:
            query += " WHERE slug = %s"
            params = (slug,)
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute((query + " ORDER BY created_at DESC, backup_id").encode(), params)
            return [_record(r) for r in await cur.fetchall()]

    async def get(self, backup_id: str) -> BackupRecord:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(f"SELECT {_COLUMNS} FROM tenant_backups "
                              "WHERE backup_id = %s".encode(), (backup_id,))
            row = await cur.fetchone()
        if row is None:
            raise BackupNotFound(f"no backup {backup_id!r}")
        return _record(row)

    async def by_sha256(self, sha256: str) -> BackupRecord | None:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(f"SELECT {_COLUMNS} FROM tenant_backups "
                              "WHERE sha256 = %s LIMIT 1".encode(), (sha256,))
            row = await cur.fetchone()
        return None if row is None else _record(row)

    async def delete(self, backup_id: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(b"DELETE FROM tenant_backups WHERE backup_id = %s", (backup_id,))

    async def add_restore(self, record: RestoreRecord) -> bool:
        """Record a restore into ``record.slug``; False when that slug has one already."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                b"INSERT INTO tenant_restores (slug, source_slug, backup_id, archive_path, "
                b"archive_sha256, audit_chain) VALUES (%s, %s, %s, %s, %s, %s) "
                b"ON CONFLICT (slug) DO NOTHING",
                (record.slug, record.source_slug, record.backup_id, record.archive_path,
                 record.archive_sha256, record.audit_chain))
            return cur.rowcount == 1

    async def delete_restore(self, slug: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(b"DELETE FROM tenant_restores WHERE slug = %s", (slug,))

    async def restore_of(self, slug: str) -> RestoreRecord | None:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                b"SELECT slug, source_slug, backup_id, archive_path, archive_sha256, "
                b"audit_chain, restored_event, revoked_key_ids FROM tenant_restores "
                b"WHERE slug = %s", (slug,))
            row = await cur.fetchone()
        return None if row is None else _restore(row)

    async def set_revoked_keys(self, slug: str, key_ids: Sequence[str]) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                b"UPDATE tenant_restores SET revoked_key_ids = %s WHERE slug = %s",
                (Jsonb(list(key_ids)), slug))

    async def set_restored_event(self, slug: str, event: dict[str, Any]) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                b"UPDATE tenant_restores SET restored_event = %s WHERE slug = %s",
                (Jsonb(event), slug))
