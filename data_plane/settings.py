"""The data plane's one settings model. Built by ``DataPlaneSettings()`` in an entrypoint
(never at import); every field comes from ``FROSTBYTE_DP_*`` environment variables."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from frostbyte_common.tenant_config import TenantConfig


class DataPlaneSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FROSTBYTE_DP_", extra="ignore")

    tenant: str = Field(description="The tenant slug this data plane serves.")
    audit_chain: str | None = Field(
        None, description="The audit chain this data plane appends to: by default the "
        "tenant's slug; for a tenant restored from a backup, the chain of the tenant it was "
        "restored from, which it continues (every event's hash covers the chain's name).")
    database_url: SecretStr = Field(description="libpq conninfo of the tenant's own database.")
    object_store_root: Path | None = Field(
        None, description="Root folder of the filesystem object store: a test double, used "
        "only when no S3 endpoint is set.")
    s3_endpoint: str | None = Field(
        None, description="URL of the S3 server holding the tenant's bucket (SeaweedFS in the "
        "embedded default, MinIO or any S3 in production), e.g. http://127.0.0.1:8333.")
    s3_bucket: str | None = Field(None, description="The tenant's own bucket.")
    s3_access_key: SecretStr | None = Field(
        None, description="The tenant's S3 access key: it reaches only the tenant's bucket.")
    s3_secret_key: SecretStr | None = None
    s3_region: str = "us-east-1"
    object_data_keys: SecretStr | None = Field(
        None, description="The tenant's data keys (`kid:base64[,kid:base64...]`, the last one "
        "encrypts new objects) from its SOPS secrets: every object is AES-256-GCM encrypted "
        "with them. Required with S3; without it the filesystem double stores plaintext.")
    qdrant_path: Path | None = Field(
        None, description="Folder of the embedded vector index (Qdrant Edge, in the process "
        "that owns it: the API).")
    qdrant_url: str | None = Field(None, description="Qdrant server URL (instead of a path).")
    qdrant_api_key: SecretStr | None = None
    host: str = Field("127.0.0.1", description="Address the API listens on (TCP).")
    port: int = 8100
    socket: Path | None = Field(
        None, description="A Unix socket the API listens on instead of host:port: the local "
        "provider's process engine puts it in the tenant's folder, behind the tenant's TLS "
        "gateway, so the app has no TCP port at all.")
    header_timeout_s: float = Field(
        10.0, gt=0, description="Seconds a client has to send a request's line and headers "
        "(from its connection, or its first byte after a response); past it the connection "
        "is closed, so clients trickling headers cannot hold the server's connections.")
    body_timeout_s: float = Field(
        30.0, gt=0, description="Seconds a JSON body (at most 64 KiB) has to arrive whole, "
        "and an upload's next bytes to follow the previous ones; past it 408 "
        "REQUEST_TIMEOUT.")
    keep_alive_timeout_s: int = Field(
        5, gt=0, description="Seconds an idle connection is kept open between requests.")
    max_concurrency: int = Field(
        200, gt=0, description="Connections and requests the server takes at once; past it "
        "503 (the gateway in front limits each client further).")
    tenant_config: TenantConfig = Field(default_factory=TenantConfig)
    embedding_model_path: Path | None = Field(
        None, description="Local folder of the sentence-transformers model the tenant config "
        "names (`embedding.model`), overriding where it is otherwise found.")
    embedding_models_dir: Path | None = Field(
        None, description="Folder of baked embedding models, one sub-folder per registered "
        "model (e.g. `nomic-embed-text-v1.5/`, as the production images bake it); a model "
        "shipped in a PyPI package (all-MiniLM-L6-v2) is found without it.")
    online_embedding_url: str = "https://openrouter.ai/api/v1"
    online_embedding_api_key: SecretStr | None = Field(
        None, description="The tenant's embeddings API key (online mode), from its SOPS "
        "secrets; never logged.")
    worker_concurrency: int = 1
    db_pool_max_size: int = Field(
        8, gt=0, description="Connections this process's pool may open to the tenant "
        "database (the local provider gives each process a budget of its own).")
    queue_pool_max_size: int = Field(
        4, gt=0, description="Connections of the job queue's pool (procrastinate); a worker "
        "also holds one more for LISTEN.")
    idle_stop_s: float = Field(
        0.0, ge=0, description="Seconds without work after which the heavy parts are "
        "dropped: the worker, which loads its pipeline (parser child, embedding model) at "
        "its first job, re-executes itself as a light waiter; the API stops its "
        "query-embedding child. 0: loaded at start and kept (the default).")
    parse_timeout_s: float = Field(300.0, gt=0, description="Wall-clock limit of one "
                                   "document's parse; past it the document is PARSE_FAILED.")
    parse_memory_mb: int = Field(4096, gt=0, description="Resident-memory ceiling of a "
                                 "parser process; above it the document is PARSE_FAILED.")
    parse_max_docs_per_child: int = Field(100, gt=0, description="Documents a parser process "
                                          "handles before it is replaced (docling leaks).")
    work_dir: Path = Field(default_factory=lambda: Path(tempfile.gettempdir()) / "frostbyte-dp",
                           description="Scratch space for uploads and parsing.")
    log_level: str = "INFO"
    admin_database_url: SecretStr | None = Field(
        None, description="libpq conninfo of a superuser of a PostgreSQL that this host runs "
        "for the tenant alone (the process engine): `prepare-database` creates the service "
        "role and database with it. Never given to the API or the worker.")
    service_role: str | None = Field(
        None, description="Set when `migrate` runs as the migration role that owns the "
        "schema: the role the API and worker log in as. It is granted INSERT and SELECT on "
        "the audit schema and read-write (no DDL) on the other tables.")
    audit_signing_key: SecretStr | None = Field(
        None, description="Ed25519 key that signs audit checkpoints: PKCS#8 PEM or 32 raw "
        "bytes in base64.")
    audit_signing_key_file: Path | None = Field(
        None, description="A file holding the audit signing key (instead of the value).")
    audit_checkpoint_every_events: int = Field(
        1000, gt=0, description="Sign a checkpoint once this many events are unsigned.")
    audit_checkpoint_every_s: float = Field(
        60.0, gt=0, description="...or once the newest unsigned event is this old.")
    clamd_socket: Path | None = Field(
        None, description="Unix socket of the clamd that scans every received file "
        "(INSTREAM). Unset: files are not malware-scanned and /readyz says so.")
    clamd_timeout_s: float = Field(120.0, gt=0, description="Seconds one scan may take "
                                   "before the file is held as SCAN_PENDING.")
    idempotency_key_ttl_s: float = Field(
        86400.0, gt=0, description="Seconds an Idempotency-Key of POST /v1/batches names its "
        "batch (a replay returns its receipt); after that the value may name a new batch.")
    web_session_ttl_s: float = Field(
        8 * 3600.0, gt=0, description="Seconds a vendor's session on the web page lasts after "
        "she signs in with her key; then she signs in again.")
    clamd_allow_test_signatures: bool = Field(
        False, description="Let a clamd with only the project's test signatures (EICAR and "
        "test-file hashes, no official daily database) count as ready: for the test suite "
        "and `make demo` only. Off: /readyz is 503 until real signatures are loaded.")

    @model_validator(mode="after")
    def _one_object_store(self) -> DataPlaneSettings:
        if self.s3_endpoint is None:
            if self.object_store_root is None:
                raise ValueError("set FROSTBYTE_DP_S3_ENDPOINT (and its bucket and keys) or, "
                                 "for tests, FROSTBYTE_DP_OBJECT_STORE_ROOT")
            return self
        missing = [name for name in ("s3_bucket", "s3_access_key", "s3_secret_key",
                                     "object_data_keys") if getattr(self, name) is None]
        if missing:
            raise ValueError("with an S3 endpoint, also set " + ", ".join(
                f"FROSTBYTE_DP_{name.upper()}" for name in missing))
        return self

    @property
    def index_in_api(self) -> bool:
        """The embedded index (Qdrant Edge) admits one process per folder: then the API
        process owns the collection and runs the indexer; with a server, workers index."""
        return self.qdrant_url is None
