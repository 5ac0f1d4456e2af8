"""The data plane's Prometheus metrics (``frostbyte_*``), one set for the tenant's processes.

The API and the worker (with its parser child) are separate processes: each writes its
figures to files in the tenant's ``<work_dir>/prometheus`` folder (prometheus-client's
multiprocess mode, switched on by :func:`use_multiprocess_dir` when ``python -m data_plane
serve`` or ``worker`` starts, before any metric exists), and the API's ``/metrics`` adds
them up, so the worker's parsing and embedding show where Prometheus scrapes. A process that
never switched it on (an app built in a test) keeps its figures in its own registry.

The queue's depth and its oldest job's age are not counted by anyone: they are read from
PostgreSQL (one small query) at each scrape.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from data_plane.adapters.postgres import TenantDatabase

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: the stages a document goes through (SPEC §5.2), each with its latency histogram
STAGES = ("scan", "parse", "policy", "chunk", "embed", "commit", "index")
#: why the parser supervisor killed a child (a document failed for it)
KILL_REASONS = ("timeout", "memory", "died", "startup")
#: why it started another child: the last one served its documents, grew too big, or was
#: killed (or died)
RESTART_REASONS = ("worn_out", "memory_high", "replaced")
#: request latencies: a health probe (ms) to a batch upload (minutes)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                   120.0, 300.0)
STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_DB_FILE = re.compile(r"^[a-z_]+_(\d+)\.db$")

#: reads ``[(queue, jobs waiting, seconds the oldest has waited)]`` from the job queue
QueueReader = Callable[[], Sequence[tuple[str, int, float]]]


def metrics_dir(work_dir: Path) -> Path:
    """Where the tenant's processes write their figures."""
    return Path(work_dir) / "prometheus"


def use_multiprocess_dir(folder: Path) -> None:
    """Switch this process to multiprocess mode on ``folder`` (created if missing), after
    removing the files of processes that are no longer running (a killed worker's, a
    previous start's: their counters restart from zero, which Prometheus reads as a
    reset). Call before any metric is made."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        match = _DB_FILE.match(path.name)
        if match is not None and not _alive(int(match.group(1))):
            path.unlink(missing_ok=True)
    os.environ[MULTIPROC_ENV] = str(folder)
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def multiprocess_dir() -> Path | None:
    folder = os.environ.get(MULTIPROC_ENV)
    return Path(folder) if folder else None


class QueueCollector(Collector):
    """``frostbyte_queue_depth{queue}`` and ``frostbyte_queue_oldest_job_age_seconds{queue}``,
    read at the scrape; every queue in ``queues`` present (0 when empty). A database that
    cannot answer leaves both out of that scrape (logged)."""

    def __init__(self, read: QueueReader, queues: Iterable[str]) -> None:
        self._read = read
        self._queues = tuple(queues)

    def collect(self) -> Iterator[Metric]:
        try:
            rows = self._read()
        except Exception:
            log.warning("queue depth for /metrics: the database did not answer", exc_info=True)
            return
        depth = GaugeMetricFamily("frostbyte_queue_depth", "Jobs waiting in the queue",
                                  labels=["queue"])
        age = GaugeMetricFamily("frostbyte_queue_oldest_job_age_seconds",
                                "Seconds the oldest waiting job has waited (0: none waits)",
                                labels=["queue"])
        seen = {queue: (count, oldest) for queue, count, oldest in rows}
        for queue in sorted(set(self._queues) | set(seen)):
            count, oldest = seen.get(queue, (0, 0.0))
            depth.add_metric([queue], count)
            age.add_metric([queue], oldest)
        yield depth
        yield age


class PrometheusMetrics:
    """Every ``frostbyte_*`` family of the data plane: the
    :class:`~data_plane.domain.ports.PipelineMetrics` the services report to, the requests
    the API's middleware sees, and the parser supervisor's and the audit chain's hooks."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self._queue: QueueCollector | None = None
        self._requests = Counter("frostbyte_http_requests", "HTTP requests, by route and status",
                                 ["method", "route", "status"], registry=r)
        self._latency = Histogram("frostbyte_http_request_duration_seconds",
                                  "HTTP request latency, by route", ["method", "route"],
                                  buckets=REQUEST_BUCKETS, registry=r)
        self._intake = Counter("frostbyte_intake_documents",
                               "Files judged at intake, by their first status and reason",
                               ["status", "reason"], registry=r)
        self._final = Counter("frostbyte_documents_final",
                              "Documents that reached a final status, by status and reason",
                              ["status", "reason"], registry=r)
        self._stages = Histogram("frostbyte_stage_duration_seconds",
                                 "Time one document spent in a pipeline stage", ["stage"],
                                 buckets=STAGE_BUCKETS, registry=r)
        self._chunks = Counter("frostbyte_embedding_chunks",
                               "Chunks embedded (rate over frostbyte_embedding_seconds_total: "
                               "chunks per second)", registry=r)
        self._embed_seconds = Counter("frostbyte_embedding_seconds",
                                      "Seconds spent embedding chunks", registry=r)
        self._restarts = Counter("frostbyte_parser_child_restarts",
                                 "Parser children started to replace another, by why",
                                 ["reason"], registry=r)
        self._kills = Counter("frostbyte_parser_child_kills",
                              "Parser children killed or found dead, by why", ["reason"],
                              registry=r)
        self._audit = Counter("frostbyte_audit_appends",
                              "Events appended to the audit chain, by type", ["event_type"],
                              registry=r)
        # the label values known in advance are present from the start (at 0)
        for stage in STAGES:
            self._stages.labels(stage)
        for reason in KILL_REASONS:
            self._kills.labels(reason)
        for reason in RESTART_REASONS:
            self._restarts.labels(reason)

    # -- PipelineMetrics ---------------------------------------------------------------------
    def stage_seconds(self, stage: str, seconds: float) -> None:
        self._stages.labels(stage).observe(max(seconds, 0.0))

    def document_final(self, status: str, reason: str | None) -> None:
        self._final.labels(status, reason or "").inc()

    def chunks_embedded(self, chunks: int, seconds: float) -> None:
        self._chunks.inc(chunks)
        self._embed_seconds.inc(max(seconds, 0.0))

    def intake_document(self, status: str, reason: str | None) -> None:
        self._intake.labels(status, reason or "").inc()

    # -- the adapters' hooks -----------------------------------------------------------------
    def parser_child_restarted(self, reason: str) -> None:
        self._restarts.labels(reason).inc()

    def parser_child_killed(self, reason: str) -> None:
        self._kills.labels(reason).inc()

    def audit_appended(self, event_types: Sequence[str]) -> None:
        for event_type in event_types:
            self._audit.labels(event_type).inc()

    # -- the API -----------------------------------------------------------------------------
    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self._requests.labels(method, route, str(status)).inc()
        self._latency.labels(method, route).observe(max(seconds, 0.0))

    def watch_queue(self, read: QueueReader, queues: Iterable[str]) -> None:
        """Read the queue's depth from ``read`` at each scrape (the API, once its database
        is open)."""
        collector = QueueCollector(read, queues)
        if self._queue is not None:
            with contextlib.suppress(KeyError):
                self.registry.unregister(self._queue)
        self._queue = collector
        self.registry.register(collector)

    def exposition(self) -> bytes:
        """Every process's figures (multiprocess mode) or this one's, and the queue's."""
        folder = multiprocess_dir()
        if folder is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
        if self._queue is not None:
            registry.register(self._queue)
        return generate_latest(registry)


#: waiting jobs per queue, and how long the oldest has waited since it was deferred
_QUEUE_SQL = """
SELECT j.queue_name AS queue, count(*) AS depth,
       coalesce(extract(epoch FROM now() - min(e.at)), 0)::float AS oldest
  FROM procrastinate_jobs j
  LEFT JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred'
 WHERE j.status = 'todo'
 GROUP BY j.queue_name
"""


def queue_reader(db: TenantDatabase) -> QueueReader:
    """The job queue's depth, read from the tenant's database."""
    def read() -> list[tuple[str, int, float]]:
        with db.transaction() as conn:
            rows = conn.execute(_QUEUE_SQL).fetchall()
        return [(str(r["queue"]), int(r["depth"]), float(r["oldest"])) for r in rows]
    return read
