"""The tenant endpoint: ``create_app(settings)``; its lifespan asks the composition root
(:func:`data_plane.wiring.serve_api`) for the services, built once, and the routers
(:mod:`data_plane.api.routers`) reach them through :mod:`data_plane.api.dependencies`."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI

from data_plane import wiring
from data_plane.api.auth import refuse_when_suspended
from data_plane.api.errors import install_error_handlers
from data_plane.api.metrics import ApiMetrics
from data_plane.api.routers import audit, batches, control, documents, health, quarantine, search
from data_plane.api.routers.batches import upload_scratch
from data_plane.settings import DataPlaneSettings
from frostbyte_common.version import __version__


def create_app(settings: DataPlaneSettings) -> FastAPI:
    """The tenant's data-plane API. Heavy parts (model, index) load in the lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # uploads a killed API was reading: their clients got no receipt and send again
        shutil.rmtree(upload_scratch(settings.work_dir), ignore_errors=True)
        async with wiring.serve_api(settings) as services:
            app.state.services = services
            yield

    app = FastAPI(title=f"Frostbyte data plane — {settings.tenant}", version=__version__,
                  lifespan=lifespan, dependencies=[Depends(refuse_when_suspended)])
    app.state.settings = settings
    app.state.metrics = ApiMetrics.create()
    install_error_handlers(app)
    include_routers(app)
    return app


def include_routers(app: FastAPI) -> None:
    """Every route of the tenant API."""
    for router in (batches.router, documents.router, search.router, health.router,
                   audit.router, quarantine.router, control.router,
                   quarantine.control_router):
        app.include_router(router)
