"""Builds the data plane's object graph from its settings (the only place that picks
adapters). Entry points call these factories; nothing is built at import time."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import procrastinate

from data_plane.adapters import jobs
from data_plane.adapters.objectstore_fs import FilesystemObjectStore
from data_plane.adapters.postgres import TenantDatabase
from data_plane.domain.ports import EmbeddingProvider, ModelInfo, VectorIndex
from data_plane.services.intake import IntakeService
from data_plane.services.pipeline import IndexService, PipelineService
from data_plane.services.policy import PolicyService
from data_plane.services.processing import ParseAndScan
from data_plane.settings import DataPlaneSettings
from frostbyte_common.offline import silence_egress
from frostbyte_common.tenant_config import TenantConfig

log = logging.getLogger(__name__)

NOMIC = ModelInfo(name="nomic-ai/nomic-embed-text-v1.5", version="1.5", dimension=768)


def collection_name(tenant: str) -> str:
    return f"frostbyte_{tenant.replace('-', '_')}"


def build_embedder(settings: DataPlaneSettings) -> EmbeddingProvider:
    """The tenant's embedding provider: a local model (offline) or an OpenAI-compatible API."""
    cfg = settings.tenant_config.embedding
    if cfg.mode == "online":
        from data_plane.adapters.embedding_openai import OpenAICompatibleEmbeddingProvider

        return OpenAICompatibleEmbeddingProvider(
            settings.online_embedding_url, settings.online_embedding_api_key, NOMIC,
            document_prefix="search_document: ", query_prefix="search_query: ")
    from data_plane.adapters.embedding_local import LocalEmbeddingProvider

    return LocalEmbeddingProvider(settings.embedding_model_path)


def build_index(settings: DataPlaneSettings) -> VectorIndex:
    from data_plane.adapters.qdrant_index import QdrantVectorIndex

    return QdrantVectorIndex(collection_name(settings.tenant), path=settings.qdrant_path,
                             url=settings.qdrant_url, api_key=settings.qdrant_api_key)


@dataclass
class Core:
    """What every data-plane process needs."""

    settings: DataPlaneSettings
    db: TenantDatabase
    store: FilesystemObjectStore
    queue_app: procrastinate.App
    queue: jobs.ProcrastinateJobQueue


def build_core(settings: DataPlaneSettings) -> Core:
    silence_egress()
    conninfo = settings.database_url.get_secret_value()
    db = TenantDatabase(conninfo, settings.tenant)
    store = FilesystemObjectStore(settings.object_store_root)
    queue_app = jobs.build_app(conninfo)
    return Core(settings, db, store, queue_app, jobs.ProcrastinateJobQueue(queue_app))


def build_indexer(core: Core, embedder: EmbeddingProvider) -> IndexService:
    return IndexService(db=core.db, index=build_index(core.settings), embedder=embedder,
                        collection=collection_name(core.settings.tenant))


def build_pipeline(core: Core, embedder: EmbeddingProvider) -> PipelineService:
    from data_plane.adapters.parsers.isolated import IsolatedParser, IsolationLimits
    from data_plane.adapters.tokenizer import count_tokens

    s = core.settings
    # Parsing, OCR, hidden-text finding and the policy scanners all run in the bounded
    # child (SPEC §5.2); the partial carries the tenant's config there (pickled at spawn).
    parser = IsolatedParser(functools.partial(build_sandbox_processor, s.tenant_config),
                            IsolationLimits(timeout_s=s.parse_timeout_s,
                                            memory_mb=s.parse_memory_mb,
                                            max_docs_per_child=s.parse_max_docs_per_child))
    parser.prestart()  # the parser libraries load while the worker connects to its queue
    return PipelineService(
        db=core.db, store=core.store, parser=parser, embedder=embedder,
        count_tokens=count_tokens, chunking=s.tenant_config.chunking, queue=core.queue,
        tenant=s.tenant, work_dir=Path(s.work_dir) / "pipeline",
        ocr_languages=tuple(s.tenant_config.ocr.languages),
        intake=build_intake(core),
    )


def build_intake(core: Core) -> IntakeService:
    """The per-file intake judge with the tenant's limits and scanner: the API's for
    uploads, the worker's for the attachments its e-mails carry."""
    from data_plane.adapters.clamav.scanner import scanner_from_settings

    s = core.settings
    return IntakeService(core.db, core.store, core.queue, s.tenant_config.intake,
                         scanner=scanner_from_settings(s.clamd_socket, s.clamd_timeout_s))


def build_sandbox_processor(config: TenantConfig) -> ParseAndScan:
    """What the isolated parser child runs (called there, so Presidio, spaCy and the parser
    libraries load in the child, never in the worker): the router and the tenant's policy."""
    from data_plane.adapters.parsers.routing import ParserRouter

    silence_egress()
    return ParseAndScan(ParserRouter(), build_policy(config))


def build_policy(config: TenantConfig) -> PolicyService:
    """The tenant's policy step: Presidio (pattern-only unless NER is configured) and the
    raw-file hidden-text finders."""
    from data_plane.adapters.pii_presidio import PresidioPiiDetector
    from data_plane.adapters.safety_hidden import find_hidden

    return PolicyService.from_config(config, PresidioPiiDetector(ner=config.pii.ner),
                                     hidden_text=find_hidden)
