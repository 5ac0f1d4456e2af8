"""The control plane's error tree, derived from :mod:`frostbyte_common.errors`.

    FrostbyteError
    ├── ClientError
    │   ├── ValidationFailed            422
    │   │   ├── InvalidSlug             422 INVALID_SLUG (shared: frostbyte_common.errors)
    │   │   ├── InvalidConfig           422 INVALID_CONFIG (shared: frostbyte_common.errors)
    │   │   ├── InvalidVersion          422 INVALID_VERSION (not a release version, or the one
    │   │   │                               the tenant runs)
    │   │   ├── ProviderNotAvailable    422 PROVIDER_NOT_AVAILABLE
    │   │   ├── EmbeddingModelUnknown   422 EMBEDDING_MODEL_UNKNOWN (the data plane knows no
    │   │   │                               such embedding model)
    │   │   └── BackupInvalid           422 BACKUP_INVALID (an archive that does not decrypt
    │   │                                   or does not match its manifest)
    │   ├── Unauthenticated             401 UNAUTHENTICATED
    │   ├── RequestTimeout              408 REQUEST_TIMEOUT (shared: the body stopped arriving)
    │   ├── PayloadTooLarge
    │   │   └── BodyTooLarge            413 BODY_TOO_LARGE (shared: a body over 64 KiB)
    │   ├── NotFound
    │   │   ├── TenantNotFound          404 TENANT_NOT_FOUND
    │   │   ├── VendorKeyNotFound       404 VENDOR_KEY_NOT_FOUND
    │   │   ├── JobNotFound             404 JOB_NOT_FOUND
    │   │   ├── DocumentNotFound        404 DOCUMENT_NOT_FOUND (no such quarantined document)
    │   │   ├── ReleaseNotFound         404 RELEASE_NOT_FOUND (no data-plane release of that
    │   │   │                               version here)
    │   │   ├── AdminTokenNotFound      404 ADMIN_TOKEN_NOT_FOUND
    │   │   └── BackupNotFound          404 BACKUP_NOT_FOUND
    │   ├── Forbidden
    │   │   └── InsufficientRole        403 INSUFFICIENT_ROLE (a viewer token changing things)
    │   └── Conflict
    │       ├── TenantExists            409 TENANT_EXISTS
    │       ├── InvalidTransition       409 INVALID_TRANSITION
    │       ├── TenantNotActive         409 TENANT_NOT_ACTIVE
    │       ├── ConcurrentUpdate        409 CONCURRENT_UPDATE
    │       ├── SchemaAhead             409 SCHEMA_AHEAD (an update to a release older than
    │       │                               the tenant's database schema)
    │       ├── ReleaseExists           409 RELEASE_EXISTS (a release of that version is built)
    │       ├── LastAdminToken          409 LAST_ADMIN_TOKEN
    │       ├── ReembedInProgress       409 REEMBED_IN_PROGRESS (a re-embedding is running)
    │       └── BackupNotSupported      409 BACKUP_NOT_SUPPORTED (the tenant's provider
    │                                       cannot back up or restore)
    └── ServiceError
        ├── ProvisioningFailed          500 PROVISIONING_FAILED (a provider step failed)
        │   ├── DataPlaneError          502 DATA_PLANE_ERROR (a data-plane command failed)
        │   └── UpdateRolledBack        500 UPDATE_ROLLED_BACK (an update failed; the provider
        │                                   put the previous release back, healthy)
        ├── InsufficientCapacity        503 INSUFFICIENT_CAPACITY (this machine cannot host
        │                                   one more local tenant: connections, memory)
        ├── LocalRuntimeError           500 LOCAL_RUNTIME_ERROR (``frostbyte local up/down``)
        └── SecretStoreError            500 SECRET_STORE_ERROR (sops/age failed)

Messages never carry secrets (passwords, tokens, keys). The HTTP mapping lives in exactly one
place: :mod:`control_plane.api.errors`.
"""

from __future__ import annotations

from frostbyte_common.errors import (
    Conflict,
    Forbidden,
    InvalidConfig,
    InvalidSlug,
    NotFound,
    ServiceError,
    Unauthenticated,
    ValidationFailed,
)

__all__ = [
    "AdminTokenNotFound",
    "BackupInvalid",
    "BackupNotFound",
    "BackupNotSupported",
    "ConcurrentUpdate",
    "DataPlaneError",
    "DocumentNotFound",
    "EmbeddingModelUnknown",
    "InsufficientCapacity",
    "InsufficientRole",
    "InvalidConfig",
    "InvalidSlug",
    "InvalidTransition",
    "InvalidVersion",
    "JobNotFound",
    "LastAdminToken",
    "LocalRuntimeError",
    "ProviderNotAvailable",
    "ProvisioningFailed",
    "ReembedInProgress",
    "ReleaseExists",
    "ReleaseNotFound",
    "SchemaAhead",
    "SecretStoreError",
    "TenantExists",
    "TenantNotActive",
    "TenantNotFound",
    "Unauthenticated",
    "UpdateRolledBack",
    "VendorKeyNotFound",
]


class ProviderNotAvailable(ValidationFailed):
    default_code = "PROVIDER_NOT_AVAILABLE"


class TenantNotFound(NotFound):
    default_code = "TENANT_NOT_FOUND"


class VendorKeyNotFound(NotFound):
    default_code = "VENDOR_KEY_NOT_FOUND"


class JobNotFound(NotFound):
    default_code = "JOB_NOT_FOUND"


class AdminTokenNotFound(NotFound):
    default_code = "ADMIN_TOKEN_NOT_FOUND"


class InsufficientRole(Forbidden):
    default_code = "INSUFFICIENT_ROLE"


class LastAdminToken(Conflict):
    default_code = "LAST_ADMIN_TOKEN"


class TenantExists(Conflict):
    default_code = "TENANT_EXISTS"


class InvalidTransition(Conflict):
    """A lifecycle action that the tenant's current state does not allow (SPEC §3)."""

    default_code = "INVALID_TRANSITION"


class TenantNotActive(Conflict):
    default_code = "TENANT_NOT_ACTIVE"


class ConcurrentUpdate(Conflict):
    """The tenant changed state between read and write; the caller may retry."""

    default_code = "CONCURRENT_UPDATE"


class ProvisioningFailed(ServiceError):
    default_code = "PROVISIONING_FAILED"


class DataPlaneError(ProvisioningFailed):
    status_code = 502
    default_code = "DATA_PLANE_ERROR"


class InsufficientCapacity(ServiceError):
    """The machine cannot host one more local tenant (PostgreSQL connection slots, memory);
    the message says which and what to do. Raised before the tenant is recorded."""

    status_code = 503
    default_code = "INSUFFICIENT_CAPACITY"


class LocalRuntimeError(ServiceError):
    default_code = "LOCAL_RUNTIME_ERROR"


class SecretStoreError(ServiceError):
    default_code = "SECRET_STORE_ERROR"


class DocumentNotFound(NotFound):
    """The tenant's data plane holds no quarantined document with that id."""

    default_code = "DOCUMENT_NOT_FOUND"


class InvalidVersion(ValidationFailed):
    default_code = "INVALID_VERSION"


class ReleaseNotFound(NotFound):
    default_code = "RELEASE_NOT_FOUND"


class ReleaseExists(Conflict):
    default_code = "RELEASE_EXISTS"


class SchemaAhead(Conflict):
    default_code = "SCHEMA_AHEAD"


class UpdateRolledBack(ProvisioningFailed):
    """An update's new release did not come up (healthy, reporting its version); the
    provider put the previous one back and it is healthy. ``reason`` says what failed."""

    default_code = "UPDATE_ROLLED_BACK"

    def __init__(self, reason: str, *, endpoint: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.endpoint = endpoint


class BackupNotFound(NotFound):
    default_code = "BACKUP_NOT_FOUND"


class BackupInvalid(ValidationFailed):
    """The archive cannot be trusted: it does not decrypt with any backup key this control
    plane holds, or a member is missing, unexpected or not what the manifest says."""

    default_code = "BACKUP_INVALID"


class BackupFailed(ProvisioningFailed):
    """A store of the tenant (its database, its bucket, its key files) could not be read or
    written while backing it up or restoring it: the message says which and why. Within a
    restore's provisioning job it fails the step like any provisioning failure."""

    status_code = 502
    default_code = "BACKUP_FAILED"


class BackupNotSupported(Conflict):
    """The tenant's provider cannot back up or restore (yet): only the local provider's
    process engine can."""

    default_code = "BACKUP_NOT_SUPPORTED"


class EmbeddingModelUnknown(ValidationFailed):
    """The tenant's data plane knows no embedding model of that name (its registry)."""

    default_code = "EMBEDDING_MODEL_UNKNOWN"


class ReembedInProgress(Conflict):
    """A re-embedding of the tenant is running already: one at a time."""

    default_code = "REEMBED_IN_PROGRESS"
