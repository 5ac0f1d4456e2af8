"""The control plane's ``/metrics`` scrape: the registry's tenants counted by state at that
moment (one cheap query), then every figure the services reported
(:class:`~control_plane.domain.ports.ControlPlaneMetrics`)."""

from __future__ import annotations

from control_plane.domain.ports import MetricsExporter, TenantRegistryPort


class MetricsService:
    def __init__(self, registry: TenantRegistryPort, exporter: MetricsExporter) -> None:
        self._registry = registry
        self.exporter = exporter

    @property
    def content_type(self) -> str:
        return self.exporter.content_type

    async def scrape(self) -> bytes:
        """Prometheus' text format, the tenants by state counted now."""
        self.exporter.set_tenant_states(await self._registry.list_tenants())
        return self.exporter.exposition()
