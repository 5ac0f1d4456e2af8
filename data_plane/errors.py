"""The data plane's errors, derived from ``frostbyte_common.errors``.

    FrostbyteError
    ├── ClientError
    │   ├── IdempotencyKeyInvalid  INVALID_IDEMPOTENCY_KEY (400): empty, > 255 or unprintable
    │   ├── ValidationFailed
    │   │   ├── IntakeRejected         INVALID_MANIFEST, DUPLICATE_NAME (batch-level)
    │   │   ├── AuditRangeInvalid      AUDIT_RANGE_INVALID: a proof between impossible sizes
    │   │   └── UnknownEmbeddingModel  EMBEDDING_MODEL_UNKNOWN: a model no registry entry names
    │   ├── Forbidden
    │   │   ├── InsufficientScope      INSUFFICIENT_SCOPE: the key lacks ingest/read/audit
    │   │   └── TenantSuspended        TENANT_SUSPENDED
    │   ├── NotFound
    │   │   ├── ObjectNotFound         OBJECT_NOT_FOUND: no object under that key
    │   │   ├── BatchNotFound          BATCH_NOT_FOUND
    │   │   ├── DocumentNotFound       DOCUMENT_NOT_FOUND
    │   │   └── AuditEventNotFound     AUDIT_EVENT_NOT_FOUND
    │   ├── Conflict
    │   │   ├── ModelMismatch          EMBEDDING_MODEL_MISMATCH: vectors of another model
    │   │   ├── ReembedInProgress      REEMBED_IN_PROGRESS: a re-embedding is already running
    │   │   ├── DocumentHeld           DOCUMENT_HELD: erasing a QUARANTINED/SCAN_PENDING file
    │   │   └── IdempotencyKeyReused   IDEMPOTENCY_KEY_REUSED: the key names another manifest
    │   ├── PayloadTooLarge
    │   │   ├── BatchTooLarge          BATCH_TOO_LARGE
    │   │   └── BodyTooLarge           BODY_TOO_LARGE: a body over its route's cap (shared)
    │   ├── RequestTimeout             REQUEST_TIMEOUT (408): the body stopped arriving (shared)
    │   └── TooManyRequests
    │       └── TooManyBatches         TOO_MANY_BATCHES (retry_after seconds)
    └── ServiceError
        ├── AuditSigningKeyMissing AUDIT_SIGNING_KEY_MISSING (503): checkpoints cannot be signed
        ├── AuditChainBroken       AUDIT_CHAIN_BROKEN: the stored chain fails verification
        ├── DatabaseSetupFailed    DATABASE_SETUP_FAILED: `prepare-database` lacks what it needs
        ├── ObjectTampered         OBJECT_TAMPERED: a stored object fails authentication
        └── DependencyUnavailable
            ├── DatabaseUnavailable    DATABASE_UNAVAILABLE: PostgreSQL unreachable, pool exhausted
            ├── EmbeddingUnavailable   EMBEDDING_UNAVAILABLE: model or embeddings API failed
            ├── IndexUnavailable       INDEX_UNAVAILABLE: Qdrant cannot be reached or opened
            ├── ObjectStoreUnavailable OBJECT_STORE_UNAVAILABLE: S3 down, failing or refusing us
            └── ScannerUnavailable     SCANNER_UNAVAILABLE: clamd down, timed out or refused

Per-file outcomes of an intake (REJECTED / QUARANTINED with a reason) are results, not
exceptions; ``IntakeRejected`` is for a batch refused as a whole. The HTTP mapping lives
in ``data_plane/api/errors.py`` only.
"""

from __future__ import annotations

from frostbyte_common.errors import (
    ClientError,
    Conflict,
    DependencyUnavailable,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ServiceError,
    TooManyRequests,
    ValidationFailed,
)

__all__ = [
    "AuditChainBroken",
    "AuditEventNotFound",
    "AuditRangeInvalid",
    "AuditSigningKeyMissing",
    "BatchNotFound",
    "BatchTooLarge",
    "DatabaseSetupFailed",
    "DatabaseUnavailable",
    "DocumentHeld",
    "DocumentNotFound",
    "EmbeddingUnavailable",
    "IdempotencyKeyInvalid",
    "IdempotencyKeyReused",
    "IndexUnavailable",
    "InsufficientScope",
    "IntakeRejected",
    "ModelMismatch",
    "ObjectNotFound",
    "ObjectStoreUnavailable",
    "ObjectTampered",
    "ReembedInProgress",
    "ScannerUnavailable",
    "TenantSuspended",
    "TooManyBatches",
    "UnknownEmbeddingModel",
]


class IntakeRejected(ValidationFailed):
    """A whole batch is refused before any file is looked at."""

    default_code = "INVALID_MANIFEST"
    INVALID_MANIFEST = "INVALID_MANIFEST"
    DUPLICATE_NAME = "DUPLICATE_NAME"


class InsufficientScope(Forbidden):
    """The vendor key is valid but lacks the scope the route needs."""

    default_code = "INSUFFICIENT_SCOPE"


class TenantSuspended(Forbidden):
    """The tenant is suspended: its data plane refuses vendor calls."""

    default_code = "TENANT_SUSPENDED"


class ObjectNotFound(NotFound):
    """No object is stored under the key."""

    default_code = "OBJECT_NOT_FOUND"


class BatchNotFound(NotFound):
    """No batch with that id in this tenant."""

    default_code = "BATCH_NOT_FOUND"


class DocumentNotFound(NotFound):
    """No document with that id in this tenant."""

    default_code = "DOCUMENT_NOT_FOUND"


class AuditEventNotFound(NotFound):
    """No audit event with that sequence number."""

    default_code = "AUDIT_EVENT_NOT_FOUND"


class AuditRangeInvalid(ValidationFailed):
    """A consistency proof was asked between sizes the chain cannot have."""

    default_code = "AUDIT_RANGE_INVALID"


class AuditChainBroken(ServiceError):
    """The stored chain fails verification, so no checkpoint is signed over it."""

    default_code = "AUDIT_CHAIN_BROKEN"


class AuditSigningKeyMissing(ServiceError):
    """No audit signing key is configured, so no checkpoint can be signed."""

    status_code = 503
    default_code = "AUDIT_SIGNING_KEY_MISSING"


class DatabaseSetupFailed(ServiceError):
    """`prepare-database` cannot make the tenant's role and database (a host-side command,
    never an HTTP answer)."""

    default_code = "DATABASE_SETUP_FAILED"


class ObjectTampered(ServiceError):
    """A stored object fails authentication, so none of its unauthenticated bytes are
    released: it was altered, truncated, extended or moved under another key, or it was
    never encrypted (stored in plaintext before encryption at rest)."""

    default_code = "OBJECT_TAMPERED"


class ModelMismatch(Conflict):
    """Vectors of one embedding model would be mixed with another model's collection."""

    default_code = "EMBEDDING_MODEL_MISMATCH"


class ReembedInProgress(Conflict):
    """A re-embedding of the tenant's chunks is running: one at a time."""

    default_code = "REEMBED_IN_PROGRESS"


class UnknownEmbeddingModel(ValidationFailed):
    """A model name that no entry of the registry (``domain.embedding_models``) has."""

    default_code = "EMBEDDING_MODEL_UNKNOWN"


class DocumentHeld(Conflict):
    """A vendor key asked to erase a document the intake holds apart (QUARANTINED, or
    PROCESSING with SCAN_PENDING): only an admin releases or purges it (SPEC §9)."""

    default_code = "DOCUMENT_HELD"


class IdempotencyKeyInvalid(ClientError):
    """The ``Idempotency-Key`` header is empty, longer than 255 characters or holds
    characters outside visible ASCII: refused before the body is read."""

    default_code = "INVALID_IDEMPOTENCY_KEY"


class IdempotencyKeyReused(Conflict):
    """The vendor key sent this ``Idempotency-Key`` (still live) with another manifest."""

    default_code = "IDEMPOTENCY_KEY_REUSED"


class BatchTooLarge(PayloadTooLarge):
    """The batch exceeds the tenant's file-count or byte limit."""

    default_code = "BATCH_TOO_LARGE"


class TooManyBatches(TooManyRequests):
    """The tenant has too many batches in flight; retry after ``retry_after`` seconds."""

    default_code = "TOO_MANY_BATCHES"


class EmbeddingUnavailable(DependencyUnavailable):
    """The embedding model could not be loaded or the embeddings API failed."""

    default_code = "EMBEDDING_UNAVAILABLE"


class DatabaseUnavailable(DependencyUnavailable):
    """The tenant's PostgreSQL cannot be reached (restarting, down, or no connection free
    in time): nothing was written; try again shortly."""

    default_code = "DATABASE_UNAVAILABLE"


class IndexUnavailable(DependencyUnavailable):
    """The vector index cannot be reached or opened (e.g. a local folder held by another
    process)."""

    default_code = "INDEX_UNAVAILABLE"


class ObjectStoreUnavailable(DependencyUnavailable):
    """The object store did not serve the call: unreachable or failing (5xx, SlowDown) for
    longer than the retry window, or refusing this tenant's credentials (access denied, an
    unknown key — a configuration fault that no retry mends). As a ``DependencyUnavailable``
    the API answers 503 (``status_code``), like a down index or scanner."""

    default_code = "OBJECT_STORE_UNAVAILABLE"


class ScannerUnavailable(DependencyUnavailable):
    """The malware scanner gave no verdict (down, timed out, refused the stream): the file
    is held (SCAN_PENDING), never passed unscanned."""

    default_code = "SCANNER_UNAVAILABLE"
