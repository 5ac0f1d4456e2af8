"""The services the routes depend on, taken from the object graph the composition root
(:mod:`control_plane.wiring`) built at start-up (``app.state.services``): each route names
the one service it needs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from control_plane.domain.ports import CertificateAuthority, TenantRegistryPort
from control_plane.services.admin_tokens import AdminTokenService
from control_plane.services.console_sessions import ConsoleSessionService
from control_plane.services.data_plane_control import DataPlaneControlService
from control_plane.services.job_history import JobHistoryService
from control_plane.services.lifecycle import TenantLifecycleService
from control_plane.services.quarantine import QuarantineService
from control_plane.services.rotation import SecretRotationService
from control_plane.services.updates import UpdateService
from control_plane.services.vendor_keys import VendorKeyService
from frostbyte_common.errors import DependencyUnavailable


def admin_tokens(request: Request) -> AdminTokenService:
    service: AdminTokenService = request.app.state.services.admin_tokens
    return service


def console_sessions(request: Request) -> ConsoleSessionService:
    service: ConsoleSessionService | None = request.app.state.services.console_sessions
    if service is None:
        raise DependencyUnavailable("this control plane has no console session store")
    return service


def lifecycle(request: Request) -> TenantLifecycleService:
    service: TenantLifecycleService = request.app.state.services.lifecycle
    return service


def vendor_keys(request: Request) -> VendorKeyService:
    service: VendorKeyService = request.app.state.services.vendor_keys
    return service


def rotation(request: Request) -> SecretRotationService:
    service: SecretRotationService = request.app.state.services.rotation
    return service


def updates(request: Request) -> UpdateService:
    service: UpdateService = request.app.state.services.updates
    return service


def quarantine(request: Request) -> QuarantineService:
    service: QuarantineService = request.app.state.services.quarantine
    return service


def jobs(request: Request) -> JobHistoryService:
    service: JobHistoryService = request.app.state.services.jobs
    return service


def control(request: Request) -> DataPlaneControlService:
    service: DataPlaneControlService = request.app.state.services.control
    return service


def certificates(request: Request) -> CertificateAuthority:
    port: CertificateAuthority = request.app.state.services.certificates
    return port


def registry(request: Request) -> TenantRegistryPort:
    port: TenantRegistryPort = request.app.state.services.registry
    return port


AdminTokens = Annotated[AdminTokenService, Depends(admin_tokens)]
Lifecycle = Annotated[TenantLifecycleService, Depends(lifecycle)]
VendorKeys = Annotated[VendorKeyService, Depends(vendor_keys)]
Rotation = Annotated[SecretRotationService, Depends(rotation)]
Updates = Annotated[UpdateService, Depends(updates)]
Quarantine = Annotated[QuarantineService, Depends(quarantine)]
Jobs = Annotated[JobHistoryService, Depends(jobs)]
Registry = Annotated[TenantRegistryPort, Depends(registry)]
Control = Annotated[DataPlaneControlService, Depends(control)]
Certificates = Annotated[CertificateAuthority, Depends(certificates)]
