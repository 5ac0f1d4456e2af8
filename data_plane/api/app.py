"""The tenant endpoint: ``create_app(settings)``; its lifespan asks the composition root
(:func:`data_plane.wiring.serve_api`) for the services, built once, and the routers
(:mod:`data_plane.api.routers`) reach them through :mod:`data_plane.api.dependencies`.

In front of the routes, the request guard (:mod:`frostbyte_common.request_guard`): every
path but liveness and readiness wants a key, checked before a body byte is read, and every
body has a cap (:data:`BODY_CAPS`). The OpenAPI document (:mod:`frostbyte_common.openapi`:
the error envelope, the ``VendorKey`` bearer scheme, operation ids; the internal
``/control/v1`` routes and ``/metrics`` left out) is served to any valid key (or the page's
session); ``/docs`` is Swagger UI from the app's own files (no CDN, SPEC §5.8)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI

from data_plane import wiring
from data_plane.api.auth import Caller, admit, authenticated_caller, refuse_when_suspended
from data_plane.api.errors import install_error_handlers
from data_plane.api.metrics import RequestMetrics
from data_plane.api.routers import (
    audit,
    batches,
    control,
    documents,
    health,
    quarantine,
    reembed,
    search,
)
from data_plane.api.routers.batches import upload_scratch
from data_plane.api.routers.control import CONTROL_PREFIX
from data_plane.api.schemas import describe_manifest
from data_plane.api.web import routes as web
from data_plane.settings import DataPlaneSettings
from frostbyte_common.openapi import DOCS_PATHS, install_docs, install_openapi, operation_id
from frostbyte_common.request_guard import KIB, RequestGuard, route_key
from frostbyte_common.version import __version__

#: Served without a key (the gateway's and the orchestrator's probes; the vendor page, its
#: sign-in form and its assets); every other path wants a valid key (or the page's session
#: cookie) before its body is read.
OPEN_PATHS = ("/healthz", "/readyz", *web.OPEN_PATHS, *DOCS_PATHS)
#: Left out of the vendor's OpenAPI document: the control credential's routes.
INTERNAL_PATHS = (CONTROL_PREFIX + "/", "/metrics")
#: Body caps of the routes that take other than the default 64 KiB (None: the route
#: streams its body and bounds it itself, after the key is checked).
BODY_CAPS: dict[str, int | None] = {
    route_key("POST", "/v1/batches"): None,  # the tenant's batch limits, while it spools
    route_key("POST", "/v1/search"): 32 * KIB,  # a query of 8192 characters and its filters
    # every re-issued vendor key's id (control credential only)
    route_key("POST", "/control/v1/audit/rotation"): 1024 * KIB,
}


def create_app(settings: DataPlaneSettings) -> FastAPI:
    """The tenant's data-plane API. Heavy parts (model, index) load in the lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # uploads a killed API was reading: their clients got no receipt and send again
        shutil.rmtree(upload_scratch(settings.work_dir), ignore_errors=True)
        async with wiring.serve_api(settings, metrics) as services:
            app.state.services = services
            yield

    app = FastAPI(title=f"Frostbyte data plane — {settings.tenant}", version=__version__,
                  lifespan=lifespan, dependencies=[Depends(refuse_when_suspended)],
                  openapi_url=None, docs_url=None, redoc_url=None,
                  generate_unique_id_function=operation_id)
    app.state.settings = settings
    app.state.metrics = metrics = wiring.build_metrics()
    # before the error handlers: the request-id middleware they install wraps the guard
    app.add_middleware(RequestGuard, admit=admit, open_paths=OPEN_PATHS, caps=BODY_CAPS,
                       body_timeout_s=settings.body_timeout_s)
    install_error_handlers(app)
    # outermost: every request counted, the ones the guard refuses included
    app.add_middleware(RequestMetrics, metrics=metrics, routes=app.router.routes)
    include_routers(app)
    install_openapi(app, scheme="VendorKey", extend=describe_manifest, internal=INTERNAL_PATHS)
    install_docs(app, credential="vendor key", scheme="VendorKey")

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(caller: Annotated[Caller, Depends(authenticated_caller)]) -> dict[str, Any]:
        """The OpenAPI document (SPEC §9), for any valid key."""
        return app.openapi()

    return app


def include_routers(app: FastAPI) -> None:
    """Every route of the tenant API."""
    for router in (batches.router, documents.router, search.router, health.router,
                   audit.router, quarantine.router, control.router,
                   quarantine.control_router, reembed.router, web.router):
        app.include_router(router)
