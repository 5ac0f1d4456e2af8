"""Provisioning jobs and their steps in the control plane's database (``002_tenant_jobs.sql``).

A job is the record of one (de)provisioning run of one tenant; a partial unique index keeps at
most one *open* (queued or running) job per tenant, so a second request finds the first
instead of starting another. Steps are recorded as they start and end; a ``done`` step is
skipped when the job runs again (after a crash or a retry of the same job)."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import AsyncConnection, errors
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from control_plane.domain.jobs import OPEN, JobRecord, StepRecord
from control_plane.errors import JobNotFound


def _job(row: dict[str, Any]) -> JobRecord:
    return JobRecord(str(row["job_id"]), row["slug"], row["operation"], row["status"],
                     row["actor"], row["created_at"], row["started_at"], row["finished_at"],
                     row["error"])


class JobStore:
    """:class:`~control_plane.domain.ports.JobStorePort` on PostgreSQL."""

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[Any]]) -> None:
        self._pool = pool

    async def open_or_create(self, slug: str, operation: str, actor: str) -> tuple[JobRecord,
                                                                                  bool]:
        """The tenant's open job, or a new queued one; True when it was created now."""
        for _ in range(3):
            existing = await self.open_job(slug)
            if existing is not None:
                return existing, False
            try:
                async with self._pool.connection() as conn:
                    cur = conn.cursor(row_factory=dict_row)
                    await cur.execute(
                        "INSERT INTO tenant_jobs (job_id, slug, operation, status, actor) "
                        "VALUES (%s, %s, %s, 'queued', %s) RETURNING *",
                        (uuid.uuid4(), slug, operation, actor))
                    row = await cur.fetchone()
                assert row is not None
                return _job(row), True
            except errors.UniqueViolation:
                continue  # another request created it meanwhile: find it
        raise AssertionError("could not create or find the open job")  # pragma: no cover

    async def open_job(self, slug: str) -> JobRecord | None:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute("SELECT * FROM tenant_jobs WHERE slug = %s AND status = ANY(%s)",
                              (slug, list(OPEN)))
            row = await cur.fetchone()
        return _job(row) if row else None

    async def open_jobs(self) -> list[JobRecord]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute("SELECT * FROM tenant_jobs WHERE status = ANY(%s) "
                              "ORDER BY created_at", (list(OPEN),))
            return [_job(r) for r in await cur.fetchall()]

    async def get(self, slug: str, job_id: str) -> JobRecord:
        try:
            key = uuid.UUID(job_id)
        except ValueError:
            raise JobNotFound(f"tenant {slug!r} has no job {job_id!r}") from None
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute("SELECT * FROM tenant_jobs WHERE slug = %s AND job_id = %s",
                              (slug, key))
            row = await cur.fetchone()
        if row is None:
            raise JobNotFound(f"tenant {slug!r} has no job {job_id!r}")
        return _job(row)

    async def list_jobs(self, slug: str) -> list[JobRecord]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute("SELECT * FROM tenant_jobs WHERE slug = %s "
                              "ORDER BY created_at, job_id", (slug,))
            return [_job(r) for r in await cur.fetchall()]

    async def set_status(self, job_id: str, status: str, error: str | None = None) -> None:
        """Move a job on; a job that ended (cancelled included) keeps its end."""
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                UPDATE tenant_jobs SET status = %(s)s,
                       started_at = CASE WHEN %(s)s = 'running'
                                         THEN coalesce(started_at, now()) ELSE started_at END,
                       finished_at = CASE WHEN %(s)s IN ('queued', 'running') THEN NULL
                                          ELSE now() END,
                       error = coalesce(%(e)s, error)
                WHERE job_id = %(j)s AND status IN ('queued', 'running')
                """, {"s": status, "e": error, "j": uuid.UUID(job_id)})

    async def status(self, job_id: str) -> str:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT status FROM tenant_jobs WHERE job_id = %s",
                                     (uuid.UUID(job_id),))
            row = await cur.fetchone()
        assert row is not None
        return str(row[0])

    # -- steps ------------------------------------------------------------------------------
    async def steps(self, job_id: str) -> list[StepRecord]:
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute("SELECT * FROM tenant_job_steps WHERE job_id = %s "
                              "ORDER BY position, started_at", (uuid.UUID(job_id),))
            return [StepRecord(r["step"], r["position"], r["status"], r["attempts"],
                               r["started_at"], r["finished_at"], r["message"])
                    for r in await cur.fetchall()]

    async def start_step(self, job_id: str, step: str, position: int) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                INSERT INTO tenant_job_steps (job_id, step, position, status, started_at)
                VALUES (%s, %s, %s, 'running', now())
                ON CONFLICT (job_id, step) DO UPDATE
                   SET status = 'running', attempts = tenant_job_steps.attempts + 1,
                       started_at = now(), finished_at = NULL
                """, (uuid.UUID(job_id), step, position))

    async def end_step(self, job_id: str, step: str, status: str, message: str | None) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE tenant_job_steps SET status = %s, message = %s, finished_at = now() "
                "WHERE job_id = %s AND step = %s", (status, message, uuid.UUID(job_id), step))
