"""The tenant endpoint: ``create_app(settings)`` builds everything in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from data_plane.adapters import jobs
from data_plane.adapters.multipart_intake import MAX_MANIFEST_BYTES, read_batch
from data_plane.api.errors import install_error_handlers
from data_plane.api.routes_audit import audit_router
from data_plane.api.routes_control import CONTROL_SCOPE, control_router, refuse_when_suspended
from data_plane.api.routes_documents import documents_router
from data_plane.api.routes_quarantine import quarantine_control_router, quarantine_router
from data_plane.domain.intake import Manifest
from data_plane.domain.retrieval import SearchRequest, SearchResponse
from data_plane.errors import BatchTooLarge, DocumentNotFound, InsufficientScope
from data_plane.services.intake import IntakeService, Receipt, ReceivedFile, parse_manifest
from data_plane.services.pipeline import IndexService
from data_plane.services.reports import ReportService
from data_plane.services.search import SearchService
from data_plane.settings import DataPlaneSettings
from data_plane.wiring import Core, build_core, build_embedder, build_indexer, build_intake
from frostbyte_common import vendor_keys
from frostbyte_common.errors import Unauthenticated
from frostbyte_common.version import __version__

log = logging.getLogger(__name__)


@dataclass
class Services:
    core: Core
    intake: IntakeService
    search: SearchService
    reports: ReportService
    indexer: IndexService
    metrics: CollectorRegistry
    intake_counter: Counter
    ready: bool = False


@dataclass(frozen=True)
class Caller:
    key_id: str
    scopes: frozenset[str]


def create_app(settings: DataPlaneSettings) -> FastAPI:
    """The tenant's data-plane API. Heavy parts (model, index) load in the lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        core = build_core(settings)
        core.db.open()
        await core.queue_app.open_async()
        embedder = build_embedder(settings)
        indexer = build_indexer(core, embedder)
        registry = CollectorRegistry()
        services = Services(
            core=core,
            intake=build_intake(core),
            search=SearchService(db=core.db, index=indexer.vector_index, embedder=embedder,
                                 indexer=indexer),
            reports=ReportService(core.db, embedding_model={}),
            indexer=indexer,
            metrics=registry,
            intake_counter=Counter("frostbyte_intake_documents", "Documents received",
                                   ["status", "reason"], registry=registry),
        )
        app.state.services = services
        worker: asyncio.Task[None] | None = None

        async def warm_up() -> None:
            # Load the model and open the index before declaring readiness.
            await run_in_threadpool(embedder.embed_query, "warm-up")
            await run_in_threadpool(indexer.ensure)
            m = embedder.model
            services.reports = ReportService(core.db, embedding_model={
                "model": m.name, "version": m.version, "dimension": m.dimension})
            services.ready = True

        await warm_up()
        if settings.index_in_api:
            jobs.register_tasks(core.queue_app, process=None, index=indexer.index)
            worker = asyncio.create_task(core.queue_app.run_worker_async(
                queues=[jobs.INDEX_QUEUE], install_signal_handlers=False,
                concurrency=1, update_heartbeat_interval=jobs.HEARTBEAT_INTERVAL_SECONDS,
                stalled_worker_timeout=jobs.STALE_HEARTBEAT_SECONDS))
        try:
            yield
        finally:
            if worker is not None:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await worker
            await core.queue_app.close_async()
            indexer.vector_index.close()
            core.db.close()

    app = FastAPI(title=f"Frostbyte data plane — {settings.tenant}", version=__version__,
                  lifespan=lifespan, dependencies=[Depends(refuse_when_suspended)])
    install_error_handlers(app)
    _routes(app, settings)
    app.include_router(audit_router(settings, _require("audit")))
    app.include_router(documents_router(_require("ingest")))
    app.include_router(quarantine_router(settings, _require("audit")))
    app.include_router(control_router(_require(CONTROL_SCOPE)))
    app.include_router(quarantine_control_router(settings, _require(CONTROL_SCOPE)))
    return app


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _caller(request: Request,
            authorization: Annotated[str | None, Header()] = None) -> Caller:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthenticated("send a vendor key as 'Authorization: Bearer <key>'")
    key = authorization[7:].strip()
    key_id = vendor_keys.key_id_of(key)
    row = _services(request).core.db.vendor_key(key_id) if key_id else None
    if row is None or not vendor_keys.matches(key, row["key_sha256"]):
        raise Unauthenticated("the vendor key is not valid for this endpoint")
    return Caller(key_id=row["key_id"], scopes=frozenset(row["scopes"]))


def _require(scope: str) -> Callable[..., Caller]:
    def dependency(caller: Annotated[Caller, Depends(_caller)]) -> Caller:
        if scope not in caller.scopes:
            raise InsufficientScope(f"this key lacks the '{scope}' scope")
        return caller

    return dependency


IngestCaller = Annotated[Caller, Depends(_require("ingest"))]
ReadCaller = Annotated[Caller, Depends(_require("read"))]
AuditCaller = Annotated[Caller, Depends(_require("audit"))]


def _routes(app: FastAPI, settings: DataPlaneSettings) -> None:
    limits = settings.tenant_config.intake

    @app.post("/v1/batches", status_code=202, response_model=Receipt, tags=["intake"])
    async def submit_batch(
        request: Request, caller: IngestCaller,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> Receipt:
        """Submit a batch: a `manifest` JSON part, then one `files` part per file."""
        services = _services(request)
        existing = await run_in_threadpool(services.intake.existing_receipt, idempotency_key)
        if existing is not None:
            return existing
        declared = request.headers.get("content-length", "")
        body_limit = limits.max_batch_bytes + MAX_MANIFEST_BYTES
        if declared.isdigit() and int(declared) > body_limit + (1 << 20):
            raise BatchTooLarge(f"the body declares {declared} bytes; the batch limit is "
                                f"{limits.max_batch_bytes}")
        manifests: list[Manifest] = []

        def on_manifest(raw: bytes) -> None:
            # Validated as soon as it arrives: a bad or too large batch is refused before
            # any file is read.
            manifest = parse_manifest(raw)
            services.intake.check_batch_limits(manifest)
            manifests.append(manifest)

        settings.work_dir.mkdir(parents=True, exist_ok=True)
        with services.intake.batch_slot():
            scratch = Path(tempfile.mkdtemp(prefix="batch-", dir=settings.work_dir))
            try:
                batch = await read_batch(
                    request.stream(), request.headers.get("content-type"), scratch,
                    max_file_bytes=limits.max_file_bytes, max_batch_bytes=body_limit,
                    max_files=limits.max_batch_files, on_manifest=on_manifest)
                received = [ReceivedFile(name=f.name, path=f.path, size=f.size,
                                         sha256=f.sha256) for f in batch.files]
                receipt = await run_in_threadpool(
                    services.intake.receive, manifests[0], received, key_id=caller.key_id,
                    idempotency_key=idempotency_key)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        for d in receipt.documents:
            services.intake_counter.labels(d.status, d.reason or "").inc()
        return receipt

    @app.get("/v1/batches", tags=["intake"])
    def list_batches(request: Request, caller: ReadCaller,
                     limit: Annotated[int, Query(ge=1, le=500)] = 50,
                     offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
        """List batches, newest first (paged)."""
        services = _services(request)
        rows = services.core.db.list_batches(limit=limit, offset=offset)
        return {"batches": [services.reports.batch(r["batch_id"]) for r in rows],
                "limit": limit, "offset": offset}

    @app.get("/v1/batches/{batch_id}", tags=["intake"])
    def get_batch(request: Request, batch_id: uuid.UUID, caller: ReadCaller) -> dict[str, Any]:
        """One batch: status and each document's outcome."""
        return _services(request).reports.batch(batch_id)

    @app.get("/v1/batches/{batch_id}/report", tags=["intake"], response_model=None)
    def get_report(request: Request, batch_id: uuid.UUID, caller: ReadCaller,
                   format: Literal["json", "html", "csv"] = "json",
                   ) -> Response | dict[str, Any]:
        """The acceptance report of a batch as JSON, HTML or CSV."""
        reports = _services(request).reports
        if format == "html":
            return HTMLResponse(reports.report_html(batch_id))
        if format == "csv":
            return PlainTextResponse(reports.report_csv(batch_id), media_type="text/csv")
        return reports.report(batch_id)

    @app.get("/v1/documents", tags=["documents"])
    def list_documents(request: Request, caller: ReadCaller,
                       limit: Annotated[int, Query(ge=1, le=500)] = 50,
                       offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
        """List stored documents, newest first (paged)."""
        rows = _services(request).core.db.list_documents(limit=limit, offset=offset)
        keys = ("document_id", "batch_id", "parent_document_id", "name", "sha256", "mime_type",
                "status", "reason", "title", "parser", "parse_status", "page_count",
                "chunk_count", "created_at")
        return {"documents": [{k: r[k] for k in keys} for r in rows],
                "limit": limit, "offset": offset}

    @app.get("/v1/documents/{document_id}", tags=["documents"])
    def get_document(request: Request, document_id: uuid.UUID, caller: ReadCaller) -> Response:
        """The canonical document JSON (available once the document is parsed)."""
        core = _services(request).core
        row = core.db.get_document(document_id)
        if row is None or not row["canonical_key"]:
            raise DocumentNotFound(f"no parsed document {document_id}")
        return Response(core.store.get_bytes(row["canonical_key"]),
                        media_type="application/json")

    @app.post("/v1/search", tags=["retrieval"], response_model=SearchResponse)
    def search(request: Request, body: SearchRequest, caller: ReadCaller) -> SearchResponse:
        """Semantic search with citations and a retrieval proof."""
        return _services(request).search.search(body, actor=f"vendor_key:{caller.key_id}")

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "tenant": settings.tenant}

    @app.get("/readyz", tags=["operations"])
    def readyz(request: Request) -> JSONResponse:
        """Readiness: database reachable, embedding model loaded, index open."""
        services: Services | None = getattr(request.app.state, "services", None)
        checks = {"model": bool(services and services.ready)}
        try:
            checks["database"] = bool(services and services.core.db.ping())
        except Exception:
            checks["database"] = False
        scanner = services.intake.scanner if services else None
        if scanner is not None:
            # Down: intake still answers (files are held as SCAN_PENDING), but not ready.
            checks["scanner"] = scanner.ping()
        ok = all(checks.values())
        body = {"ready": ok, "checks": checks, "tenant": settings.tenant,
                "scanner": "clamd" if scanner is not None else "not configured"}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["operations"])
    def metrics(request: Request) -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(_services(request).metrics),
                        media_type=CONTENT_TYPE_LATEST)
