"""Operations: liveness and readiness (no key needed) and Prometheus metrics (the control
credential, as the control plane and its scraper hold it: never open to the vendor
network); all answer on a suspended tenant too."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from data_plane.api import schemas
from data_plane.api.auth import Caller, require
from data_plane.api.dependencies import Health, Metrics, Settings
from frostbyte_common.vendor_keys import CONTROL_SCOPE
from frostbyte_common.version import __version__

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=schemas.Liveness)
def healthz(settings: Settings) -> dict[str, str]:
    """Liveness: the process answers, with the release it runs (the control plane checks it
    after an update)."""
    return {"status": "ok", "tenant": settings.tenant, "version": __version__}


@router.get("/readyz", response_class=JSONResponse, responses={
    200: {"model": schemas.Readiness, "description": "Ready."},
    503: {"model": schemas.Readiness, "description": "Not ready: `checks` says what is not."}})
def readyz(settings: Settings, health: Health) -> JSONResponse:
    """Readiness: database reachable, embedding model loaded, index open, scanner up with
    an official signature database (``signatures``: its version and age)."""
    readiness = health.readiness() if health is not None else None
    checks = readiness.checks if readiness is not None else {"model": False, "database": False}
    ok = all(checks.values())
    configured = health is not None and health.scanner_configured
    body: dict[str, object] = {"ready": ok, "checks": checks, "tenant": settings.tenant,
                               "scanner": "clamd" if configured else "not configured"}
    if readiness is not None and readiness.signatures is not None:
        body["signatures"] = readiness.signatures
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics")  # the control credential's: internal (not in the vendor's document)
def metrics(metrics: Metrics,
            caller: Annotated[Caller, Depends(require(CONTROL_SCOPE))]) -> Response:
    """Prometheus metrics (the control credential: `Authorization: Bearer <control key>`)."""
    return Response(metrics.exposition(), media_type=metrics.content_type)
