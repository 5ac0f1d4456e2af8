"""Every service the API process uses, built once by the composition root
(:func:`data_plane.wiring.serve_api`) and handed to the routes through small dependency
functions (:mod:`data_plane.api.dependencies`)."""

from __future__ import annotations

from dataclasses import dataclass

from data_plane.services.access import AccessService
from data_plane.services.audit import AuditService
from data_plane.services.catalogue import CatalogueService
from data_plane.services.consistency import ConsistencyService
from data_plane.services.documents import DocumentService
from data_plane.services.health import HealthService
from data_plane.services.intake import IntakeService
from data_plane.services.intake_quarantine import QuarantineService
from data_plane.services.reembed import ReembedService
from data_plane.services.reports import ReportService
from data_plane.services.search import SearchService
from data_plane.services.suspension import SuspensionService
from data_plane.services.web_sessions import WebSessionService


@dataclass(frozen=True)
class Services:
    access: AccessService
    intake: IntakeService
    catalogue: CatalogueService
    reports: ReportService
    search: SearchService
    documents: DocumentService
    quarantine: QuarantineService
    suspension: SuspensionService
    audit: AuditService
    health: HealthService
    consistency: ConsistencyService
    web_sessions: WebSessionService
    #: re-embedding into another model (the process that owns the index)
    reembed: ReembedService | None = None
