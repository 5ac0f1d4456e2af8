"""The control plane's error tree, derived from :mod:`frostbyte_common.errors`.

    FrostbyteError
    ├── ClientError
    │   ├── ValidationFailed            422
    │   │   ├── InvalidSlug             422 INVALID_SLUG (shared: frostbyte_common.errors)
    │   │   ├── InvalidConfig           422 INVALID_CONFIG (shared: frostbyte_common.errors)
    │   │   └── ProviderNotAvailable    422 PROVIDER_NOT_AVAILABLE
    │   ├── Unauthenticated             401 UNAUTHENTICATED
    │   ├── RequestTimeout              408 REQUEST_TIMEOUT (shared: the body stopped arriving)
    │   ├── PayloadTooLarge
    │   │   └── BodyTooLarge            413 BODY_TOO_LARGE (shared: a body over 64 KiB)
    │   ├── NotFound
    │   │   ├── TenantNotFound          404 TENANT_NOT_FOUND
    │   │   ├── VendorKeyNotFound       404 VENDOR_KEY_NOT_FOUND
    │   │   ├── JobNotFound             404 JOB_NOT_FOUND
    │   │   ├── DocumentNotFound        404 DOCUMENT_NOT_FOUND (no such quarantined document)
    │   │   └── AdminTokenNotFound      404 ADMIN_TOKEN_NOT_FOUND
    │   ├── Forbidden
    │   │   └── InsufficientRole        403 INSUFFICIENT_ROLE (a viewer token changing things)
    │   └── Conflict
    │       ├── TenantExists            409 TENANT_EXISTS
    │       ├── InvalidTransition       409 INVALID_TRANSITION
    │       ├── TenantNotActive         409 TENANT_NOT_ACTIVE
    │       ├── ConcurrentUpdate        409 CONCURRENT_UPDATE
    │       └── LastAdminToken          409 LAST_ADMIN_TOKEN
    └── ServiceError
        ├── ProvisioningFailed          500 PROVISIONING_FAILED (a provider step failed)
        │   └── DataPlaneError          502 DATA_PLANE_ERROR (a data-plane command failed)
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
    "ConcurrentUpdate",
    "DataPlaneError",
    "DocumentNotFound",
    "InsufficientCapacity",
    "InsufficientRole",
    "InvalidConfig",
    "InvalidSlug",
    "InvalidTransition",
    "JobNotFound",
    "LastAdminToken",
    "LocalRuntimeError",
    "ProviderNotAvailable",
    "ProvisioningFailed",
    "SecretStoreError",
    "TenantExists",
    "TenantNotActive",
    "TenantNotFound",
    "Unauthenticated",
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
