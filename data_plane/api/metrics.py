"""The API's side of the Prometheus metrics: every HTTP request counted by its route's
template (``/v1/batches/{batch_id}``, never the raw path: one series per route, whatever
the ids) and status, with its latency. The figures themselves are kept by the
:class:`~data_plane.domain.ports.MetricsExporter` the composition root made (served at
``/metrics``, see :mod:`data_plane.api.routers.health`)."""

from __future__ import annotations

import time

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from data_plane.domain.ports import MetricsExporter

#: the route label of a request no route matched (a 404 for a made-up path)
UNMATCHED = "unmatched"


def route_template(scope: Scope, routes: list[BaseRoute]) -> str:
    """The template of the route that answers ``scope`` (the one the router took when it
    did, else the first whose path matches: a request the guard refused before routing)."""
    taken = scope.get("route")
    path = getattr(taken, "path", None)
    if isinstance(path, str):
        return path
    for route in routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            template = getattr(route, "path", None)
            if isinstance(template, str):
                return template or "/"
    return UNMATCHED


class RequestMetrics:
    """ASGI middleware: counts each HTTP request by method, route template and status,
    and observes its latency (up to the end of its response)."""

    def __init__(self, app: ASGIApp, *, metrics: MetricsExporter,
                 routes: list[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception no handler turned into a response

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.observe_request(scope["method"], route_template(scope, self.routes),
                                         status, time.perf_counter() - started)
