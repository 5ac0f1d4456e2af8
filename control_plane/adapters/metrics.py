"""The control plane's Prometheus metrics (:class:`~control_plane.domain.ports.ControlPlaneMetrics`)
and the provider decorator that counts providers' errors.

One registry per control plane (tests run several in one process); the control plane is one
process (the job worker runs in the API's event loop), so no multiprocess mode is needed.
``GET /metrics`` (:mod:`control_plane.api.metrics`) renders it after
:meth:`PrometheusControlPlaneMetrics.set_tenant_states` has counted the registry's tenants.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from control_plane.domain.lifecycle import Tenant, TenantState
from control_plane.domain.ports import ControlPlaneMetrics
from control_plane.providers.base import JobOutput, Provider
from frostbyte_common.tenant_config import TenantConfig

#: a provisioning job takes seconds (local) to many minutes (hetzner)
JOB_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)


class PrometheusControlPlaneMetrics:
    """Every ``frostbyte_cp_*`` family, in a registry of its own."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._tenants = Gauge("frostbyte_cp_tenants", "Tenants in the registry, by state",
                              ["state"], registry=self.registry)
        self._ready = Gauge("frostbyte_cp_tenant_ready",
                            "1 when the tenant's data plane answered its last health poll "
                            "ready, else 0", ["tenant"], registry=self.registry)
        self._health = Counter("frostbyte_cp_health_checks",
                               "Health polls of tenants' data planes, by result",
                               ["tenant", "result"], registry=self.registry)
        self._jobs = Histogram("frostbyte_cp_job_duration_seconds",
                               "Tenant jobs' run time, by operation and outcome",
                               ["operation", "outcome"], buckets=JOB_BUCKETS,
                               registry=self.registry)
        self._job_failures = Counter("frostbyte_cp_job_failures",
                                     "Tenant jobs that ended failed, by operation",
                                     ["operation"], registry=self.registry)
        self._provider_errors = Counter("frostbyte_cp_provider_errors",
                                        "Provider calls that raised, by provider and operation",
                                        ["provider", "operation"], registry=self.registry)
        self._polled: set[str] = set()
        for state in TenantState:
            self._tenants.labels(state.value).set(0)

    # -- ControlPlaneMetrics -----------------------------------------------------------------
    def observe_health(self, slug: str, ready: bool) -> None:
        self._ready.labels(slug).set(1 if ready else 0)
        self._polled.add(slug)
        self._health.labels(slug, "ready" if ready else "not_ready").inc()

    def observe_job(self, operation: str, outcome: str, seconds: float) -> None:
        self._jobs.labels(operation, outcome).observe(max(seconds, 0.0))
        if outcome == "failed":
            self._job_failures.labels(operation).inc()

    def provider_error(self, provider: str, operation: str) -> None:
        self._provider_errors.labels(provider, operation).inc()

    # -- the scrape ----------------------------------------------------------------------------
    def set_tenant_states(self, tenants: Sequence[Tenant]) -> None:
        """Count ``tenants`` by state (every state present, 0 where none) and forget the
        readiness of tenants that are no longer there or no longer ACTIVE."""
        counts = {state: 0 for state in TenantState}
        for tenant in tenants:
            counts[tenant.state] += 1
        for state, count in counts.items():
            self._tenants.labels(state.value).set(count)
        active = {t.slug for t in tenants if t.state is TenantState.ACTIVE}
        for slug in self._polled - active:
            self._ready.remove(slug)
        self._polled &= active

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)


class MeteredProvider:
    """A :class:`~control_plane.providers.base.Provider` that reports each call that raised
    to :meth:`ControlPlaneMetrics.provider_error` (by the provider's name and the method) and
    re-raises it. Anything else (``check_capacity``, a provider's own extras) is the wrapped
    provider's, uncounted."""

    def __init__(self, inner: Provider, metrics: ControlPlaneMetrics) -> None:
        self._inner = inner
        self._metrics = metrics
        self.name = inner.name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._inner, attribute)

    @contextmanager
    def _counted(self, operation: str) -> Iterator[None]:
        try:
            yield
        except Exception:
            self._metrics.provider_error(self.name, operation)
            raise

    def provision(self, tenant: Tenant, config: TenantConfig) -> str:
        with self._counted("provision"):
            return self._inner.provision(tenant, config)

    def start(self, tenant: Tenant, config: TenantConfig) -> str:
        with self._counted("start"):
            return self._inner.start(tenant, config)

    def tls_fingerprint(self, tenant: Tenant) -> str | None:
        with self._counted("tls_fingerprint"):
            return self._inner.tls_fingerprint(tenant)

    def is_healthy(self, tenant: Tenant) -> bool:
        with self._counted("is_healthy"):
            return self._inner.is_healthy(tenant)

    def apply_secrets(self, tenant: Tenant, config: TenantConfig) -> str:
        with self._counted("apply_secrets"):
            return self._inner.apply_secrets(tenant, config)

    def stop(self, tenant: Tenant) -> list[str]:
        with self._counted("stop"):
            return self._inner.stop(tenant)

    def install_vendor_key(self, tenant: Tenant, key_id: str, sha256: str,
                           scopes: Sequence[str], label: str | None) -> None:
        with self._counted("install_vendor_key"):
            self._inner.install_vendor_key(tenant, key_id, sha256, scopes, label)

    def revoke_vendor_key(self, tenant: Tenant, key_id: str) -> None:
        with self._counted("revoke_vendor_key"):
            self._inner.revoke_vendor_key(tenant, key_id)

    @contextmanager
    def control_channel(self, tenant: Tenant) -> Iterator[str]:
        with ExitStack() as stack:
            with self._counted("control_channel"):
                url = stack.enter_context(self._inner.control_channel(tenant))
            yield url

    def deprovision(self, tenant: Tenant) -> None:
        with self._counted("deprovision"):
            self._inner.deprovision(tenant)

    def verify_deprovisioned(self, tenant: Tenant) -> dict[str, bool]:
        with self._counted("verify_deprovisioned"):
            return self._inner.verify_deprovisioned(tenant)

    def job_output(self, tenant: Tenant, since: datetime, until: datetime | None,
                   limit: int) -> JobOutput:
        with self._counted("job_output"):
            return self._inner.job_output(tenant, since, until, limit)


def metered(providers: Mapping[str, Provider],
            metrics: ControlPlaneMetrics) -> dict[str, Provider]:
    """Each provider wrapped in a :class:`MeteredProvider`."""
    return {name: MeteredProvider(provider, metrics) for name, provider in providers.items()}
