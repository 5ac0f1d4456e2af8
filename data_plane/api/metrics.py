"""The API's Prometheus metrics, one registry per app (served at ``/metrics``)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter


@dataclass(frozen=True)
class ApiMetrics:
    registry: CollectorRegistry
    intake_documents: Counter

    @classmethod
    def create(cls) -> ApiMetrics:
        registry = CollectorRegistry()
        return cls(registry=registry,
                   intake_documents=Counter("frostbyte_intake_documents", "Documents received",
                                            ["status", "reason"], registry=registry))
