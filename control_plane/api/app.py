"""The control-plane app factory. Nothing is built at import: :func:`create_app` takes the
settings, and its lifespan opens the composition root (:mod:`control_plane.wiring`: database
pool, registry migrations, providers, every service), runs the job worker and recovers
unfinished work.

In front of the routes, the request guard (:mod:`frostbyte_common.request_guard`): every
path but :data:`OPEN_PATHS` wants an admin token, checked before a body byte is read, and
no body is over 64 KiB. The OpenAPI document (:mod:`frostbyte_common.openapi`: the error
envelope, the ``AdminToken`` bearer scheme, operation ids) is served to any admin token,
viewers' included, or the console's session; ``/docs`` is Swagger UI from the app's own
files (no CDN, SPEC §5.8)."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI

from control_plane.api.auth import admit, require_admin
from control_plane.api.errors import install_error_handlers
from control_plane.api.metrics import metrics
from control_plane.api.routes import health, tenants, tls
from control_plane.api.routes_admin import admin
from control_plane.api.routes_backups import backups
from control_plane.api.routes_embedding import embedding
from control_plane.api.web import console, open_paths, static_app
from control_plane.settings import ControlPlaneSettings
from control_plane.wiring import (
    ProviderFactory,
    backup_scheduling,
    default_providers,
    health_polling,
    job_worker,
    open_control_plane,
)
from frostbyte_common.openapi import DOCS_PATHS, install_docs, install_openapi, operation_id
from frostbyte_common.request_guard import RequestGuard
from frostbyte_common.version import __version__

log = logging.getLogger(__name__)

#: Served without a token: the probes, the CA certificate vendors fetch (SPEC §7), and the
#: admin console's pages, sign-in, sign-out and static files (SPEC §5.8; the pages check
#: the session themselves, and what they do goes through the guarded API).
OPEN_PATHS = ("/healthz", "/readyz", "/v1/tls/ca", *open_paths(), *DOCS_PATHS)


def create_app(
    settings: ControlPlaneSettings, *, providers: ProviderFactory = default_providers,
    data_plane_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the control-plane app; tests hand in their own settings and providers (and an
    httpx transport standing in for the data planes' control routes)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_control_plane(settings, providers=providers,
                                      data_plane_transport=data_plane_transport) as plane:
            first_token = await plane.services.admin_tokens.bootstrap(
                settings.admin_token_sha256)
            if first_token is not None:
                # printed once, to the terminal only (never logged); only its hash is kept
                print(f"Bootstrap admin token (shown once, store it now): {first_token}",
                      file=sys.stderr, flush=True)
            app.state.services = plane.services
            async with job_worker(plane), health_polling(plane), \
                    backup_scheduling(plane, settings.backup_check_interval_s):
                log.info("control plane ready")
                yield

    app = FastAPI(
        title="Frostbyte control plane",
        version=__version__,
        summary="Tenants, their lifecycle and their data planes.",
        lifespan=lifespan,
        openapi_url=None, docs_url=None, redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    # before the error handlers: the request-id middleware they install wraps the guard
    app.add_middleware(RequestGuard, admit=admit, open_paths=OPEN_PATHS,
                       body_timeout_s=settings.body_timeout_s)
    install_error_handlers(app)
    app.include_router(backups)  # before ``tenants``: /v1/tenants/restore is no slug
    app.include_router(embedding)
    app.include_router(tenants)
    app.include_router(tls)
    app.include_router(admin)
    app.include_router(health)
    app.include_router(metrics)
    install_openapi(app, scheme="AdminToken")
    install_docs(app, credential="admin token", scheme="AdminToken")
    app.include_router(console)
    app.mount("/console/static", static_app(), name="console-static")

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(actor: Annotated[str, Depends(require_admin)]) -> dict[str, Any]:
        """The OpenAPI document (SPEC §9), for any admin token."""
        return app.openapi()

    return app
