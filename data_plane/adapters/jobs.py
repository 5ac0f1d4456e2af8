"""Durable pipeline jobs on PostgreSQL with procrastinate.

Two queues: ``process`` (parse, chunk, embed, commit — the worker process) and ``index``
(project into Qdrant — the process that owns the collection). A job per document carries a
``lock`` so that two jobs of one document never run at once, and a ``queueing_lock`` so
that re-queueing a waiting document is a no-op. Jobs of a worker that died (``kill -9``)
are found by its stale heartbeat and retried by a periodic task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import procrastinate
import psycopg
from procrastinate import exceptions as pexc
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from frostbyte_common import logs
from frostbyte_common.errors import DependencyUnavailable

log = logging.getLogger(__name__)

PROCESS_TASK = "frostbyte.process_document"
INDEX_TASK = "frostbyte.index_document"
RECOVER_TASK = "frostbyte.recover_stalled_jobs"
RESCAN_TASK = "frostbyte.rescan_held_files"
PROCESS_QUEUE = "process"
INDEX_QUEUE = "index"
STALE_HEARTBEAT_SECONDS = 15.0
HEARTBEAT_INTERVAL_SECONDS = 5.0


def build_app(conninfo: str, *, pool_max_size: int = 4) -> procrastinate.App:
    """A procrastinate app on the tenant database (opened by the caller), its pool at most
    ``pool_max_size`` connections (one kept open; a worker's LISTEN takes one more)."""
    return procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=conninfo, min_size=1, max_size=pool_max_size))


def apply_schema(conninfo: str) -> bool:
    """Install procrastinate's schema once; returns True when it was installed now."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
        if row and row[0]:
            return False
        conn.execute(procrastinate.schema.SchemaManager.get_schema())
    return True


class OutageAwareRetry(BaseRetryStrategy):
    """A failing document is retried a few times with a growing wait and then given up; a
    store that is down (the object store, the index, the embedding API, PostgreSQL's
    connection) is not the document's fault, so while one is out the job keeps waiting for
    it — up to ``outage_attempts`` times, the wait capped at ``max_wait_s`` — and the
    document completes once the store is back instead of ending FAILED."""

    def __init__(self, *, attempts: int = 5, outage_attempts: int = 240,
                 max_wait_s: int = 30) -> None:
        self.attempts = attempts
        self.outage_attempts = outage_attempts
        self.max_wait_s = max_wait_s

    @staticmethod
    def is_outage(exc: BaseException) -> bool:
        return isinstance(exc, DependencyUnavailable | psycopg.OperationalError)

    def retries(self, exc: BaseException, previous_attempts: int) -> bool:
        """Whether a job that failed with ``exc`` after ``previous_attempts`` earlier runs
        (procrastinate's ``job.attempts``) runs again."""
        limit = self.outage_attempts if self.is_outage(exc) else self.attempts
        return previous_attempts < limit

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if not self.retries(exception, job.attempts):
            return None
        return RetryDecision(retry_in={"seconds": min(2 ** (job.attempts + 1), self.max_wait_s)})


class ProcrastinateJobQueue:
    """The ``JobQueue`` port on procrastinate (the app must be open)."""

    def __init__(self, app: procrastinate.App) -> None:
        self._app = app

    def _defer(self, task: str, queue: str, document_id: str) -> None:
        try:
            self._app.configure_task(
                task, queue=queue, lock=f"doc:{document_id}",
                queueing_lock=f"{queue}:{document_id}",
            ).defer(document_id=document_id)
        except pexc.AlreadyEnqueued:
            log.debug("job already waiting", extra={"document_id": document_id})

    def enqueue_process(self, document_id: str) -> None:
        self._defer(PROCESS_TASK, PROCESS_QUEUE, document_id)

    def enqueue_index(self, document_id: str) -> None:
        self._defer(INDEX_TASK, INDEX_QUEUE, document_id)


def register_tasks(app: procrastinate.App, *, process: Callable[[str], object] | None,
                   index: Callable[[str], object] | None,
                   rescan: Callable[[], object] | None = None,
                   give_up: Callable[[str, BaseException], object] | None = None) -> None:
    """Register the tasks this process runs (sync functions run in threads). ``rescan``
    scans the files held as SCAN_PENDING, every few seconds, until the scanner is back.
    ``give_up`` is told when a document's processing failed on its last attempt, so that
    the document ends FAILED with a reason instead of staying PROCESSING for ever (and its
    batch never completing)."""
    if rescan is not None:
        def rescan_held_files(timestamp: int) -> None:
            rescan()

        app.periodic(cron="* * * * * */5", periodic_id="rescan")(
            app.task(name=RESCAN_TASK, queue=PROCESS_QUEUE,
                     queueing_lock=RESCAN_TASK)(rescan_held_files))
    retry = OutageAwareRetry()
    if process is not None:
        def process_document(context: procrastinate.JobContext, document_id: str) -> None:
            try:
                process(document_id)
            except Exception as exc:
                last = not retry.retries(exc, context.job.attempts)
                if last and give_up is not None:
                    give_up(document_id, exc)
                raise

        app.task(name=PROCESS_TASK, queue=PROCESS_QUEUE, retry=retry,
                 pass_context=True)(process_document)
    if index is not None:
        def index_document(document_id: str) -> None:
            with logs.bound(document_id=document_id):  # the indexer's lines name it
                index(document_id)

        app.task(name=INDEX_TASK, queue=INDEX_QUEUE, retry=retry)(index_document)

    async def recover_stalled_jobs(timestamp: int) -> int:
        return await recover_stalled(app)

    app.periodic(cron="* * * * * */15", periodic_id="recover")(
        app.task(name=RECOVER_TASK, queue=PROCESS_QUEUE if process else INDEX_QUEUE,
                 queueing_lock=RECOVER_TASK)(recover_stalled_jobs))


async def recover_stalled(app: procrastinate.App) -> int:
    """Retry the jobs of workers whose heartbeat stopped (they died mid-job)."""
    stalled = await app.job_manager.get_stalled_jobs(
        seconds_since_heartbeat=STALE_HEARTBEAT_SECONDS)
    count = 0
    for job in stalled:
        await app.job_manager.retry_job(job)
        count += 1
    if count:
        log.warning("retried %d stalled jobs", count)
    return count
