"""The control plane's composition root: the one place that knows the adapters. It builds
the registry, the stores, the job queue, the providers, the secret store and every service
once, and hands the services their ports. The API's lifespan
(:func:`control_plane.api.app.create_app`) opens it; ``python -m control_plane serve`` goes
through that app.

:func:`build_control_plane` wires already-made ports (no I/O); :func:`open_control_plane`
makes the real ones from the settings (database pool, schema migrations, SOPS secret store,
procrastinate queue) and closes them again; :func:`job_worker` runs the queue's worker and
keeps putting back jobs a crash left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from psycopg_pool import AsyncConnectionPool

from control_plane.adapters.admin_tokens import AdminTokenStore
from control_plane.adapters.audit_archive import FileAuditArchive
from control_plane.adapters.backup_archive import BackupFiles
from control_plane.adapters.backup_local import LocalTenantData
from control_plane.adapters.backup_store import BackupStore
from control_plane.adapters.certificate_authority import FileCertificateAuthority
from control_plane.adapters.console_sessions import ConsoleSessionStore
from control_plane.adapters.data_plane_control import DataPlaneControl
from control_plane.adapters.job_queue import HEARTBEAT_INTERVAL_S, TenantJobQueue, install_schema
from control_plane.adapters.job_store import JobStore
from control_plane.adapters.metrics import PrometheusControlPlaneMetrics, metered
from control_plane.adapters.registry import TenantRegistry
from control_plane.adapters.secret_store import SopsAgeSecretStore
from control_plane.domain.actors import SYSTEM_ACTOR
from control_plane.domain.backups import BackupFilesPort, BackupStorePort, TenantDataPort
from control_plane.domain.console_sessions import ConsoleSessionStorePort
from control_plane.domain.health import TenantObservations
from control_plane.domain.lifecycle import Tenant
from control_plane.domain.ports import (
    AdminTokenStorePort,
    AuditArchiveStore,
    CertificateAuthority,
    DataPlaneClient,
    DataPlaneClientFactory,
    JobQueue,
    JobStorePort,
    MetricsExporter,
    SecretStore,
    TenantRegistryPort,
)
from control_plane.domain.releases import UPDATE_OPERATION
from control_plane.providers.base import Provider
from control_plane.providers.local import LocalProvider, buckets_from_settings
from control_plane.providers.local_podman import LocalPodmanProvider
from control_plane.services.admin_tokens import AdminTokenService
from control_plane.services.audit_archive import AuditArchiver
from control_plane.services.backups import BackupService, DataPorts, run_scheduler
from control_plane.services.console_sessions import ConsoleSessionService
from control_plane.services.data_plane_control import DataPlaneControlService
from control_plane.services.embedding import EmbeddingService
from control_plane.services.health_polling import HealthPollingService
from control_plane.services.job_history import JobHistoryService
from control_plane.services.lifecycle import TenantLifecycleService
from control_plane.services.metrics import MetricsService
from control_plane.services.provisioning import JobRunner
from control_plane.services.provisioning_steps import job_plans
from control_plane.services.quarantine import QuarantineService
from control_plane.services.recovery import RecoveryService
from control_plane.services.rotation import SecretRotationService
from control_plane.services.updates import UpdateService, update_steps
from control_plane.services.vendor_keys import VendorKeyService
from control_plane.settings import ControlPlaneSettings
from frostbyte_common.tls import client_context

log = logging.getLogger(__name__)

ProviderFactory = Callable[[ControlPlaneSettings], Mapping[str, Provider]]


def default_providers(settings: ControlPlaneSettings) -> Mapping[str, Provider]:
    """The providers this control plane offers: ``local``, and ``hetzner`` only when its
    settings are configured (``FROSTBYTE_CP_HETZNER_*``, see docs/hetzner.md)."""
    offered: dict[str, Provider] = {
        "local": LocalPodmanProvider.from_settings(settings, name="local")
        if settings.local_engine == "podman" else LocalProvider.from_settings(settings),
        # the podman engine for the tenants that ask for it (SPEC §4)
        "local-podman": LocalPodmanProvider.from_settings(settings),
    }
    if settings.hetzner_configured:
        from control_plane.providers.hetzner.provider import provider_from_settings

        offered["hetzner"] = provider_from_settings(
            settings, SopsAgeSecretStore(settings.state_dir / "secrets"),
            FileCertificateAuthority(settings.state_dir.resolve() / "ca"))
    return offered


def local_tenant_data(settings: ControlPlaneSettings,
                      providers: Mapping[str, Provider]) -> DataPorts:
    """Which tenants' data can be backed up and restored: those of the local provider's
    process engine (podman and hetzner tenants, or a provider a test stands in: none,
    ``BACKUP_NOT_SUPPORTED``)."""
    port: TenantDataPort | None = None

    def data_of(tenant: Tenant) -> TenantDataPort | None:
        nonlocal port
        if (not isinstance(providers.get(tenant.provider), LocalProvider)
                or settings.local_engine == "podman"):
            return None
        if port is None:  # made at first use: its S3 admin needs the stack's settings
            port = LocalTenantData(
                admin_conninfo=settings.effective_admin_database_url.get_secret_value(),
                state_dir=settings.state_dir, buckets=buckets_from_settings(settings))
        return port

    return data_of


def http_data_plane_clients(
    transport: httpx.AsyncBaseTransport | None = None, *,
    authority: CertificateAuthority | None = None,
) -> DataPlaneClientFactory:
    """Clients of the data planes' control routes over HTTP(S), trusting the tenants'
    certificates that ``authority`` issued (else the system's CAs); ``transport`` lets tests
    answer for the data planes."""
    verify = True if authority is None else client_context(authority.certificate_pem())

    def client(base_url: str, control_key: str, *, actor: str) -> DataPlaneClient:
        return DataPlaneControl(base_url, control_key, actor=actor, transport=transport,
                                verify=verify)

    return client


@dataclass(frozen=True, slots=True)
class ControlPlane:
    """The control plane's services, each built once; the API's routes and the job worker
    take the one they need."""

    registry: TenantRegistryPort
    admin_tokens: AdminTokenService
    lifecycle: TenantLifecycleService
    vendor_keys: VendorKeyService
    rotation: SecretRotationService
    #: data-plane updates (issue 18): ``POST /v1/tenants/{slug}/update``
    updates: UpdateService
    quarantine: QuarantineService
    jobs: JobHistoryService
    runner: JobRunner
    recovery: RecoveryService
    control: DataPlaneControlService
    certificates: CertificateAuthority
    #: ``GET /metrics``; its ``exporter`` is the :class:`ControlPlaneMetrics` services report to
    metrics: MetricsService
    #: the admin console's sessions (absent where no session store is wired: unit tests)
    console_sessions: ConsoleSessionService | None = None
    #: backups and restores (issue 18; absent where no backup store is wired: unit tests)
    backups: BackupService | None = None
    #: health polling, repair and drift checks (absent where no registry keeps what it
    #: sees: unit tests)
    health: HealthPollingService | None = None
    #: re-embedding into another model and the online embeddings key (issue 18)
    embedding: EmbeddingService | None = None


def build_control_plane(
    *, registry: TenantRegistryPort, admin_token_store: AdminTokenStorePort,
    job_store: JobStorePort, queue: JobQueue, providers: Mapping[str, Provider],
    secrets: SecretStore, clients: DataPlaneClientFactory, archive: AuditArchiveStore,
    certificates: CertificateAuthority,
    session_store: ConsoleSessionStorePort | None = None, session_ttl_s: int = 8 * 3600,
    metrics: MetricsExporter | None = None,
    observations: TenantObservations | None = None, health_interval_s: float = 0.0,
    drift_interval_s: float = 0.0,
    backup_store: BackupStorePort | None = None, backup_files: BackupFilesPort | None = None,
    backup_data: DataPorts | None = None,
) -> ControlPlane:
    """Wire the services over the given ports (no I/O); ``metrics`` defaults to a fresh
    Prometheus registry."""
    metrics = PrometheusControlPlaneMetrics() if metrics is None else metrics
    admin_tokens = AdminTokenService(admin_token_store)
    control = DataPlaneControlService(providers, secrets, clients)
    backups = None if backup_store is None or backup_files is None else BackupService(
        registry, backup_store, backup_files, backup_data or (lambda tenant: None), secrets,
        control, lambda slug, name, provider, config, actor: lifecycle.create(
            slug, name, provider, config, actor=actor), observations=observations)
    plans = {**job_plans(registry, secrets,
                         AuditArchiver(control, archive,
                                       None if backups is None else backups.audit_chain_of),
                         lambda tenant: control.audit_key(tenant, actor=SYSTEM_ACTOR),
                         backups),
             UPDATE_OPERATION: update_steps(registry)}
    runner = JobRunner(registry, job_store, queue, providers, plans, metrics=metrics)
    lifecycle = TenantLifecycleService(registry, providers, runner, control)
    recovery = RecoveryService(registry, providers, job_store, runner, control)
    return ControlPlane(
        registry=registry,
        admin_tokens=admin_tokens,
        lifecycle=lifecycle,
        vendor_keys=VendorKeyService(registry, providers),
        rotation=SecretRotationService(registry, providers, job_store, secrets, control,
                                       metrics=metrics),
        updates=UpdateService(registry, providers, runner),
        quarantine=QuarantineService(registry, control),
        jobs=JobHistoryService(registry, job_store, providers),
        runner=runner,
        recovery=recovery,
        control=control,
        certificates=certificates,
        metrics=MetricsService(registry, metrics),
        console_sessions=None if session_store is None else ConsoleSessionService(
            session_store, admin_tokens, ttl_s=session_ttl_s),
        backups=backups,
        health=None if observations is None else HealthPollingService(
            registry, observations, providers, job_store, metrics,
            interval_s=health_interval_s, drift_interval_s=drift_interval_s,
            busy=recovery.restarting),
        embedding=EmbeddingService(registry, providers, secrets, control),
    )


@dataclass(frozen=True, slots=True)
class OpenControlPlane:
    """The wired services and the job queue their worker runs on."""

    services: ControlPlane
    queue: TenantJobQueue


@asynccontextmanager
async def open_control_plane(
    settings: ControlPlaneSettings, *, providers: ProviderFactory = default_providers,
    data_plane_transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[OpenControlPlane]:
    """Open the database pool, migrate the registry and the queue's schema, and wire every
    service on the real adapters; the pool is closed on exit. Tests hand in their own
    providers (and an httpx transport standing in for the data planes' control routes)."""
    conninfo = settings.database_url.get_secret_value()
    pool: AsyncConnectionPool = AsyncConnectionPool(
        conninfo, min_size=1, max_size=10, open=False, kwargs={"connect_timeout": 10})
    await pool.open(wait=True, timeout=30)
    try:
        registry = TenantRegistry(pool)
        await registry.migrate()
        await asyncio.to_thread(install_schema, conninfo)
        queue = TenantJobQueue(conninfo, concurrency=settings.job_concurrency)
        authority = FileCertificateAuthority(settings.state_dir.resolve() / "ca")
        metrics = PrometheusControlPlaneMetrics()
        offered = providers(settings)
        services = build_control_plane(
            registry=registry, admin_token_store=AdminTokenStore(pool),
            job_store=JobStore(pool), queue=queue,
            providers=metered(offered, metrics), metrics=metrics,
            secrets=SopsAgeSecretStore(settings.state_dir / "secrets"),
            clients=http_data_plane_clients(data_plane_transport, authority=authority),
            archive=FileAuditArchive(settings.state_dir / "archive"), certificates=authority,
            session_store=ConsoleSessionStore(pool),
            session_ttl_s=settings.console_session_ttl_s, observations=registry,
            health_interval_s=settings.health_poll_interval_s,
            drift_interval_s=settings.drift_check_interval_s,
            backup_store=BackupStore(pool), backup_files=BackupFiles(settings.state_dir),
            backup_data=local_tenant_data(settings, offered))
        queue.register(services.runner.run)
        yield OpenControlPlane(services, queue)
    finally:
        await pool.close()


@asynccontextmanager
async def job_worker(plane: OpenControlPlane) -> AsyncIterator[None]:
    """Recover what a crash left, run the job queue's worker and, every few seconds, put
    back jobs a crash left; on exit the worker stops and the background restarts of data
    planes are cancelled (the next start resumes them)."""
    recovery = plane.services.recovery
    await plane.queue.open()
    worker = asyncio.create_task(plane.queue.run_worker(), name="tenant-job-worker")

    async def keep_recovering() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)
            try:
                await recovery.recover_jobs()
            except Exception:
                log.exception("recovering tenant jobs failed; trying again")

    recovering = asyncio.create_task(keep_recovering(), name="tenant-job-recovery")
    try:
        await recovery.recover()
        yield
    finally:
        for task in (recovering, worker):
            task.cancel()
        await asyncio.gather(recovering, worker, return_exceptions=True)
        await plane.queue.close()
    await recovery.shutdown()


@asynccontextmanager
async def backup_scheduling(plane: OpenControlPlane, interval_s: float) -> AsyncIterator[None]:
    """Run the scheduled backups (:func:`control_plane.services.backups.run_scheduler`)
    every ``interval_s`` seconds while the block runs (0 or no backup service: none)."""
    backups = plane.services.backups
    if backups is None or interval_s <= 0:
        yield
        return
    task = asyncio.create_task(run_scheduler(backups, interval_s=interval_s),
                               name="backup-scheduler")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@asynccontextmanager
async def health_polling(plane: OpenControlPlane) -> AsyncIterator[None]:
    """Poll the tenants' data planes, restart the local ones that are down and check the
    hetzner ones for drift while the block runs (:mod:`control_plane.services.
    health_polling`; intervals from the settings, 0 for none)."""
    if plane.services.health is None:
        yield
        return
    async with plane.services.health.running():
        yield
