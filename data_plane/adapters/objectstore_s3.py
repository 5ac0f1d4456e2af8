"""``ObjectStore`` on S3 (MinIO in production, SeaweedFS on build machines), via the minio SDK.

One store is one tenant's bucket, reached with that tenant's own key (which reaches nothing
else). Semantics match the filesystem store the contract tests pin: the same key rule
(:mod:`data_plane.domain.object_keys`), a single PUT replaces an object atomically, a
"folder" (a prefix of other keys) is not an object, ``delete`` says whether one was there,
``list`` is sorted.

Failures: a transient one (connection refused/reset, a timeout, HTTP 5xx, ``SlowDown``) is
retried under the project's one policy (:class:`frostbyte_common.retry.RetryPolicy`); when it
gives up, :class:`~data_plane.errors.ObjectStoreUnavailable` is raised — a
``DependencyUnavailable``, so the API answers 503. A refused key (access denied, unknown key,
bad signature) raises the same error at once: no retry mends credentials. The SDK's own
urllib3 retries are switched off so that only the policy (and its bound) applies.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError
from pydantic import SecretStr

from data_plane.domain.object_keys import validate_key, validate_prefix
from data_plane.errors import ObjectNotFound, ObjectStoreUnavailable
from frostbyte_common.retry import ExponentialBackoff, RetriesExhausted, RetryPolicy

T = TypeVar("T")

#: about 8 s of retrying (0.5 + 1 + 2 + 4, jittered) before a call gives up
DEFAULT_RETRY = RetryPolicy(attempts=5, backoff=ExponentialBackoff(base=0.5, cap=4.0))

_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchObject", "ResourceNotFound"})
_REFUSED = frozenset({
    "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled",
    "NoSuchBucket", "AccountProblem", "InvalidToken", "ExpiredToken",
})
_TRANSIENT_CODES = frozenset({
    "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout",
    "RequestTimeTooSkewed", "OperationAborted",
})


class _Transient(Exception):
    """A failure worth another try (what the retry policy retries)."""


class S3ObjectStore:
    """Objects in one bucket; ``endpoint`` is a URL (``http://127.0.0.1:8333``; https when
    the scheme says so). ``retry`` bounds how long a failing call is retried and
    ``timeout_s`` how long one request may take to connect and then between bytes."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        access_key: str,
        secret_key: SecretStr | str,
        *,
        region: str = "us-east-1",
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout_s: float = 30.0,
        part_size: int = 16 * 1024 * 1024,
    ) -> None:
        url = urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.netloc or url.path not in ("", "/"):
            raise ValueError(f"S3 endpoint must be http(s)://host[:port]: {endpoint!r}")
        secret = secret_key.get_secret_value() if isinstance(secret_key, SecretStr) else secret_key
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=min(timeout_s, 5.0), read=timeout_s),
            retries=False,
            maxsize=10,
        )
        # region given: the SDK never asks the server where the bucket lives
        self._client = Minio(url.netloc, access_key=access_key, secret_key=secret,
                             secure=url.scheme == "https", region=region, http_client=http)
        # readiness must answer while the server hangs: its own client, a 2 s limit
        self._probe = Minio(url.netloc, access_key=access_key, secret_key=secret,
                            secure=url.scheme == "https", region=region,
                            http_client=urllib3.PoolManager(
                                timeout=urllib3.Timeout(connect=2.0, read=2.0),
                                retries=False, maxsize=1))
        self._bucket = bucket
        self._retry = retry
        self._part_size = part_size

    @property
    def bucket(self) -> str:
        return self._bucket

    def put_file(self, key: str, source: Path, *, move: bool = False) -> None:
        """Upload the file at ``source`` under ``key`` (multipart when large); with
        ``move=True`` the source is removed once the object is stored."""
        validate_key(key)
        self._call(lambda: self._client.fput_object(
            self._bucket, key, str(source), part_size=self._part_size))
        if move:
            Path(source).unlink(missing_ok=True)

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` (one PUT: readers see the old or the new object)."""
        validate_key(key)
        self._call(lambda: self._client.put_object(
            self._bucket, key, io.BytesIO(data), len(data)))

    def open(self, key: str) -> BinaryIO:
        """Stream the object; closing the reader gives its connection back to the pool.
        Raises ``ObjectNotFound``."""
        validate_key(key)
        response = self._call(lambda: self._client.get_object(self._bucket, key), key=key)
        return io.BufferedReader(_ResponseReader(response, key))

    def get_bytes(self, key: str) -> bytes:
        """Read a (small) object whole; raises ``ObjectNotFound``."""
        with self.open(key) as f:
            return f.read()

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        validate_key(key)
        try:
            self._call(lambda: self._client.stat_object(self._bucket, key), key=key)
        except ObjectNotFound:
            return False
        return True

    def delete(self, key: str) -> bool:
        """Delete the object; a missing key is not an error. True when an object was there
        (S3's DELETE does not say, so the object is looked up first)."""
        if not self.exists(key):
            return False
        self._call(lambda: self._client.remove_object(self._bucket, key))
        return True

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys under ``prefix`` (a plain string prefix), sorted; read whole before the first
        one is returned, so that a failure is retried and raised here, not mid-iteration."""
        validate_prefix(prefix)
        keys = self._call(lambda: [
            obj.object_name
            for obj in self._client.list_objects(self._bucket, prefix=prefix or None,
                                                 recursive=True)
            if obj.object_name is not None and not obj.is_dir
        ])
        return iter(sorted(keys))

    def ping(self) -> bool:
        """Whether the bucket answers to these credentials now (for /readyz): one try of at
        most ~2 s, no retry, never raises."""
        try:
            return self._probe.bucket_exists(self._bucket)
        except Exception:  # readiness: any failure is "not ready"
            return False

    def _call(self, fn: Callable[[], T], *, key: str | None = None) -> T:
        """``fn()`` under the retry policy, its failures turned into the port's errors."""
        try:
            return self._retry.call(lambda: self._attempt(fn, key), retry_on=(_Transient,))
        except RetriesExhausted as exc:
            cause = exc.last_error.__cause__ or exc.last_error
            raise ObjectStoreUnavailable(
                f"object store bucket {self._bucket!r} unavailable after {exc.attempts} "
                f"attempt(s): {cause}") from cause

    def _attempt(self, fn: Callable[[], T], key: str | None) -> T:
        try:
            return fn()
        except S3Error as exc:
            if key is not None and exc.code in _NOT_FOUND:
                raise ObjectNotFound(f"no object under key {key!r}") from None
            if exc.code in _REFUSED:
                raise ObjectStoreUnavailable(
                    f"object store refused access to bucket {self._bucket!r}: {exc.code}"
                ) from exc
            if exc.code in _TRANSIENT_CODES or exc.response.status >= 500:
                raise _Transient(str(exc)) from exc
            raise
        except (ServerError, InvalidResponseError) as exc:
            if _status(exc) >= 500 or _status(exc) in (408, 429):
                raise _Transient(str(exc)) from exc
            raise
        except urllib3.exceptions.HTTPError as exc:  # refused, reset, timed out
            raise _Transient(str(exc)) from exc


def _status(exc: ServerError | InvalidResponseError) -> int:
    if isinstance(exc, ServerError):
        return exc.status_code
    return int(exc._code)  # the SDK keeps the status only there


class _ResponseReader(io.RawIOBase):
    """An object's body as a raw stream; a failure mid-read is ``ObjectStoreUnavailable``
    (the read cannot be resumed transparently), and closing releases the connection."""

    def __init__(self, response: urllib3.BaseHTTPResponse, key: str) -> None:
        self._response = response
        self._key = key

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            return self._response.readinto(buffer)
        except urllib3.exceptions.HTTPError as exc:
            raise ObjectStoreUnavailable(
                f"object {self._key!r}: the connection failed mid-read: {exc}") from exc

    def close(self) -> None:
        if not self.closed:
            self._response.close()
            self._response.release_conn()
        super().close()
