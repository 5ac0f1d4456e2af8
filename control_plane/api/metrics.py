"""``GET /metrics``: the control plane's Prometheus figures (``frostbyte_cp_*``: tenants by
state, job durations and failures, provider errors, the tenants' health as polled). Like
every path that is not open it wants an admin token (a viewer's will do): Prometheus scrapes
with ``authorization: {type: Bearer, credentials_file: ...}`` (docs/operator-runbook.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from control_plane.api.auth import require_admin
from control_plane.services.metrics import MetricsService
from frostbyte_common.openapi import error_responses

metrics = APIRouter(tags=["health"])


def _service(request: Request) -> MetricsService:
    service: MetricsService = request.app.state.services.metrics
    return service


@metrics.get("/metrics", response_class=Response, responses={
    200: {"content": {"text/plain": {}},
          "description": "Prometheus' text exposition format."}, **error_responses(503)})
async def scrape(service: Annotated[MetricsService, Depends(_service)],
                 actor: Annotated[str, Depends(require_admin)]) -> Response:
    """Prometheus metrics (an admin or viewer token: `Authorization: Bearer <token>`); the
    tenants are counted by state at each scrape."""
    return Response(await service.scrape(), media_type=service.content_type)
