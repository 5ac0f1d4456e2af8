"""The control plane's job queue: procrastinate on the control plane's own database.

One task, ``frostbyte_cp.run_tenant_job(job_id)``, deferred with ``lock="tenant:<slug>"`` so
that two jobs of one tenant never run at once, and ``queueing_lock="tenant-job:<job_id>"`` so
that deferring a waiting job again is a no-op. The worker runs inside the control-plane
process and sends a heartbeat every few seconds; after a ``kill -9`` its running job is found
by the stale heartbeat and retried (:meth:`TenantJobQueue.recover`), and its steps that were
done are skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import procrastinate
import psycopg
from procrastinate import exceptions as pexc

log = logging.getLogger(__name__)

TASK = "frostbyte_cp.run_tenant_job"
QUEUE = "tenant_jobs"
HEARTBEAT_INTERVAL_S = 2.0
STALE_HEARTBEAT_S = 6.0
_SCHEMA_LOCK = 0x46524F5355  # any constant; only control-plane processes take it


def install_schema(conninfo: str) -> bool:
    """Install procrastinate's schema once (its SQL is not idempotent); True if installed."""
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        row = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
        if row and row[0]:
            return False
        conn.execute(procrastinate.schema.SchemaManager.get_schema().encode())
    return True


class TenantJobQueue:
    """Defers and runs tenant jobs (open with :meth:`open`, then :meth:`run_worker`)."""

    def __init__(self, conninfo: str, *, concurrency: int = 4) -> None:
        """``concurrency``: jobs run at once (of different tenants: a tenant's lock keeps
        its own jobs apart)."""
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(conninfo=conninfo))
        self._registered = False
        self._concurrency = concurrency

    def register(self, run: Callable[[str], Awaitable[None]]) -> None:
        """Bind the task to ``run(job_id)``."""

        async def run_tenant_job(job_id: str) -> None:
            await run(job_id)

        self.app.task(name=TASK, queue=QUEUE, pass_context=False)(run_tenant_job)
        self._registered = True

    async def open(self) -> None:
        await self.app.open_async()

    async def close(self) -> None:
        await self.app.close_async()

    async def defer(self, job_id: str, slug: str) -> None:
        try:
            await self.app.configure_task(
                TASK, queue=QUEUE, lock=f"tenant:{slug}", queueing_lock=f"tenant-job:{job_id}",
            ).defer_async(job_id=job_id)
        except pexc.AlreadyEnqueued:
            log.debug("tenant job %s already waiting", job_id)

    async def run_worker(self) -> None:
        # a job's provider calls run in asyncio's default executor, whose threads
        # (min(32, CPUs + 4)) would otherwise cap how many jobs really run at once
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(
            max_workers=self._concurrency + 8, thread_name_prefix="cp-worker"))
        await self.app.run_worker_async(
            queues=[QUEUE], concurrency=self._concurrency, install_signal_handlers=False,
            wait=True,
            update_heartbeat_interval=HEARTBEAT_INTERVAL_S,
            stalled_worker_timeout=STALE_HEARTBEAT_S, shutdown_graceful_timeout=5)

    async def recover(self, open_jobs: Iterable[tuple[str, str]]) -> int:
        """Retry the jobs of workers that died (stale heartbeat), and defer again every open
        job (``(job_id, slug)``) that has no queue entry waiting or running. Returns how many
        jobs it put back."""
        count = 0
        for job in await self.app.job_manager.get_stalled_jobs(
                queue=QUEUE, seconds_since_heartbeat=STALE_HEARTBEAT_S):
            await self.app.job_manager.retry_job(job)
            log.warning("tenant job %s: its worker died; retrying it", job.task_kwargs)
            count += 1
        for job_id, slug in open_jobs:
            row = await self.app.connector.execute_query_one_async(
                "SELECT count(*) AS n FROM procrastinate_jobs WHERE task_name = %(task)s "
                "AND args->>'job_id' = %(job_id)s AND status IN ('todo', 'doing')",
                task=TASK, job_id=job_id)
            if not row["n"]:
                await self.defer(job_id, slug)
                count += 1
        return count
