"""The control-plane app factory. Nothing is built at import: :func:`create_app` takes the
settings, and its lifespan opens the database pool, migrates the registry, builds the
providers and the service, and recovers unfinished work."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from control_plane.adapters.admin_tokens import AdminTokenStore
from control_plane.adapters.job_queue import HEARTBEAT_INTERVAL_S, TenantJobQueue, install_schema
from control_plane.adapters.job_store import JobStore
from control_plane.adapters.registry import TenantRegistry
from control_plane.adapters.secret_store import SopsAgeSecretStore
from control_plane.api.errors import install_error_handlers
from control_plane.api.routes import health, tenants
from control_plane.api.routes_admin import admin
from control_plane.providers.base import Provider
from control_plane.providers.local import LocalProvider
from control_plane.services.admin_tokens import AdminTokenService
from control_plane.services.tenants import TenantService
from control_plane.settings import ControlPlaneSettings
from frostbyte_common.version import __version__

log = logging.getLogger(__name__)

ProviderFactory = Callable[[ControlPlaneSettings], Mapping[str, Provider]]


def default_providers(settings: ControlPlaneSettings) -> Mapping[str, Provider]:
    """The providers this control plane offers: ``local``, and ``hetzner`` only when its
    settings are configured (``FROSTBYTE_CP_HETZNER_*``, see docs/hetzner.md)."""
    offered: dict[str, Provider] = {"local": LocalProvider.from_settings(settings)}
    if settings.hetzner_configured:
        from control_plane.providers.hetzner.provider import provider_from_settings

        offered["hetzner"] = provider_from_settings(
            settings, SopsAgeSecretStore(settings.state_dir / "secrets"))
    return offered


@asynccontextmanager
async def _job_worker(queue: TenantJobQueue, service: TenantService) -> AsyncIterator[None]:
    """Run the job queue's worker and, every few seconds, put back jobs a crash left."""
    await queue.open()
    worker = asyncio.create_task(queue.run_worker(), name="tenant-job-worker")

    async def keep_recovering() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)
            try:
                await service.recover_jobs()
            except Exception:
                log.exception("recovering tenant jobs failed; trying again")

    recovering = asyncio.create_task(keep_recovering(), name="tenant-job-recovery")
    try:
        await service.recover()
        yield
    finally:
        for task in (recovering, worker):
            task.cancel()
        await asyncio.gather(recovering, worker, return_exceptions=True)
        await queue.close()


def create_app(
    settings: ControlPlaneSettings, *, providers: ProviderFactory = default_providers,
    data_plane_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the control-plane app; tests hand in their own settings and providers (and an
    httpx transport standing in for the data planes' control routes)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool: AsyncConnectionPool = AsyncConnectionPool(
            settings.database_url.get_secret_value(),
            min_size=1,
            max_size=10,
            open=False,
            kwargs={"connect_timeout": 10},
        )
        await pool.open(wait=True, timeout=30)
        try:
            registry = TenantRegistry(pool)
            await registry.migrate()
            admin_tokens = AdminTokenService(AdminTokenStore(pool))
            app.state.admin_tokens = admin_tokens
            first_token = await admin_tokens.bootstrap(settings.admin_token_sha256)
            if first_token is not None:
                # printed once, to the terminal only (never logged); only its hash is kept
                print(f"Bootstrap admin token (shown once, store it now): {first_token}",
                      file=sys.stderr, flush=True)
            conninfo = settings.database_url.get_secret_value()
            await asyncio.to_thread(install_schema, conninfo)
            queue = TenantJobQueue(conninfo)
            secret_store = SopsAgeSecretStore(settings.state_dir / "secrets")
            service = TenantService(registry, providers(settings), JobStore(pool), queue,
                                    secret_store, data_plane_transport=data_plane_transport,
                                    archive_dir=settings.state_dir / "archive")
            queue.register(service.run_job)
            app.state.registry = registry
            app.state.service = service
            async with _job_worker(queue, service):
                log.info("control plane ready")
                yield
            await service.shutdown()
        finally:
            await pool.close()

    app = FastAPI(
        title="Frostbyte control plane",
        version=__version__,
        summary="Tenants, their lifecycle and their data planes.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(tenants)
    app.include_router(admin)
    app.include_router(health)
    return app
