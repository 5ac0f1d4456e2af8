"""Operations: liveness, readiness and Prometheus metrics (no key needed; they answer on a
suspended tenant too)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from data_plane.api.dependencies import Health, Metrics, Settings

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz(settings: Settings) -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok", "tenant": settings.tenant}


@router.get("/readyz")
def readyz(settings: Settings, health: Health) -> JSONResponse:
    """Readiness: database reachable, embedding model loaded, index open."""
    checks = health.checks() if health is not None else {"model": False, "database": False}
    ok = all(checks.values())
    configured = health is not None and health.scanner_configured
    body = {"ready": ok, "checks": checks, "tenant": settings.tenant,
            "scanner": "clamd" if configured else "not configured"}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics")
def metrics(metrics: Metrics) -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
