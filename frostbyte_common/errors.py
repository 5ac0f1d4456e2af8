"""Base of every Frostbyte error tree.

    FrostbyteError                 code, message; never carries secrets or document text
    ├── ClientError                the caller can fix it (4xx): bad input, auth, state
    │   ├── ValidationFailed       422
    │   │   ├── InvalidSlug        422 INVALID_SLUG (:mod:`frostbyte_common.slugs`)
    │   │   └── InvalidConfig      422 INVALID_CONFIG (firewall policy, network plan, config)
    │   ├── Unauthenticated        401
    │   ├── Forbidden              403
    │   ├── NotFound               404
    │   ├── Conflict               409
    │   ├── RequestTimeout         408 REQUEST_TIMEOUT: the request body stopped arriving
    │   ├── PayloadTooLarge        413
    │   │   └── BodyTooLarge       413 BODY_TOO_LARGE: a body over its route's cap
    │   └── TooManyRequests        429 (retry_after seconds)
    └── ServiceError               our side or a dependency failed (5xx)
        └── DependencyUnavailable  503: a store, queue or scanner is down

Each package (control_plane, data_plane) derives its own errors from these, and each app
maps them to HTTP in exactly one place (its ``api/errors.py``).
"""

from __future__ import annotations


class FrostbyteError(Exception):
    """An error with a stable machine-readable ``code`` and a human ``message``."""

    status_code = 500
    default_code = "INTERNAL"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code


class ClientError(FrostbyteError):
    status_code = 400
    default_code = "BAD_REQUEST"


class ValidationFailed(ClientError):
    status_code = 422
    default_code = "VALIDATION_FAILED"


class InvalidSlug(ValidationFailed):
    """A tenant slug that is not a DNS label of at most 30 characters."""

    default_code = "INVALID_SLUG"


class InvalidConfig(ValidationFailed):
    """A tenant or deployment setting that cannot be applied (message safe to show)."""

    default_code = "INVALID_CONFIG"


class Unauthenticated(ClientError):
    status_code = 401
    default_code = "UNAUTHENTICATED"


class Forbidden(ClientError):
    status_code = 403
    default_code = "FORBIDDEN"


class NotFound(ClientError):
    status_code = 404
    default_code = "NOT_FOUND"


class Conflict(ClientError):
    status_code = 409
    default_code = "CONFLICT"


class PayloadTooLarge(ClientError):
    status_code = 413
    default_code = "PAYLOAD_TOO_LARGE"


class BodyTooLarge(PayloadTooLarge):
    """A request body over what its route takes (refused before or while it is read:
    :mod:`frostbyte_common.request_guard`)."""

    default_code = "BODY_TOO_LARGE"


class RequestTimeout(ClientError):
    """The request body did not arrive in time (a client that stalls or trickles)."""

    status_code = 408
    default_code = "REQUEST_TIMEOUT"


class TooManyRequests(ClientError):
    status_code = 429
    default_code = "TOO_MANY_REQUESTS"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class ServiceError(FrostbyteError):
    status_code = 500
    default_code = "INTERNAL"


class DependencyUnavailable(ServiceError):
    status_code = 503
    default_code = "DEPENDENCY_UNAVAILABLE"
