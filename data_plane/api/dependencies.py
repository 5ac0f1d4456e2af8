"""How a route gets what it needs: the services the composition root built once (on
``app.state.services``, see :func:`data_plane.wiring.serve_api`), the settings and the
metrics ``create_app`` was given — each through a small dependency, so that a test can hand
in its own (``app.dependency_overrides``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from data_plane.domain.ports import MetricsExporter
from data_plane.services.access import AccessService
from data_plane.services.audit import AuditService
from data_plane.services.catalogue import CatalogueService
from data_plane.services.consistency import ConsistencyService
from data_plane.services.container import Services
from data_plane.services.documents import DocumentService
from data_plane.services.health import HealthService
from data_plane.services.intake import IntakeService
from data_plane.services.intake_quarantine import QuarantineService
from data_plane.services.reports import ReportService
from data_plane.services.search import SearchService
from data_plane.services.suspension import SuspensionService
from data_plane.services.web_sessions import WebSessionService
from data_plane.settings import DataPlaneSettings


def services(request: Request) -> Services:
    built: Services = request.app.state.services
    return built


def settings(request: Request) -> DataPlaneSettings:
    given: DataPlaneSettings = request.app.state.settings
    return given


def metrics(request: Request) -> MetricsExporter:
    exporter: MetricsExporter = request.app.state.metrics
    return exporter


def access(request: Request) -> AccessService:
    return services(request).access


def intake(request: Request) -> IntakeService:
    return services(request).intake


def catalogue(request: Request) -> CatalogueService:
    return services(request).catalogue


def reports(request: Request) -> ReportService:
    return services(request).reports


def search(request: Request) -> SearchService:
    return services(request).search


def documents(request: Request) -> DocumentService:
    return services(request).documents


def quarantine(request: Request) -> QuarantineService:
    return services(request).quarantine


def suspension(request: Request) -> SuspensionService:
    return services(request).suspension


def audit(request: Request) -> AuditService:
    return services(request).audit


def consistency(request: Request) -> ConsistencyService:
    return services(request).consistency


def web_sessions(request: Request) -> WebSessionService:
    return services(request).web_sessions


def health(request: Request) -> HealthService | None:
    """None until the lifespan has built the services (readiness says so)."""
    built: Services | None = getattr(request.app.state, "services", None)
    return built.health if built is not None else None


Settings = Annotated[DataPlaneSettings, Depends(settings)]
Metrics = Annotated[MetricsExporter, Depends(metrics)]
Access = Annotated[AccessService, Depends(access)]
Intake = Annotated[IntakeService, Depends(intake)]
Catalogue = Annotated[CatalogueService, Depends(catalogue)]
Reports = Annotated[ReportService, Depends(reports)]
Search = Annotated[SearchService, Depends(search)]
Documents = Annotated[DocumentService, Depends(documents)]
Quarantine = Annotated[QuarantineService, Depends(quarantine)]
Suspension = Annotated[SuspensionService, Depends(suspension)]
Audit = Annotated[AuditService, Depends(audit)]
Health = Annotated[HealthService | None, Depends(health)]
Consistency = Annotated[ConsistencyService, Depends(consistency)]
WebSessions = Annotated[WebSessionService, Depends(web_sessions)]
