"""Encryption at rest (SPEC §5.4): an ``ObjectStore`` that seals every object before it
reaches the inner store (filesystem or S3), so a copy of the bucket is useless without the
tenant's data keyring, and destroying the keyring shreds every copy.

Each object is AES-256-GCM in segments (the STREAM construction of Hoang, Reyhanitabar,
Rogaway and Vizár, laid out as in Tink's streaming AEAD), so multi-GB files are sealed and
opened segment by segment and never held whole in memory. Layout, all integers big-endian::

    offset   size  field
    0        4     magic b"FBEO"
    4        1     format version (1)
    5        1     n, the length of the key id
    6        n     key id (ASCII): which key of the tenant's keyring sealed the object
    6+n      4     segment size S: plaintext bytes in every segment but the last
    10+n     16    salt: the per-object key is HKDF-SHA256(data key, salt)
    26+n     7     nonce prefix (random)
    33+n     ...   segments: ciphertext (S bytes, the last 0..S) + 16-byte GCM tag

Segment ``i`` is sealed with the nonce ``prefix || i (4 bytes) || last flag (1 byte)`` and the
associated data ``header || object key``. So a flipped bit, a reordered, dropped, truncated or
appended segment, a swapped header, and an object copied under another key all fail
authentication (``ObjectTampered``). The per-object key from a fresh random salt keeps
nonces unique however many objects one data key seals (a 7-byte random prefix alone would
risk collisions across millions of objects). Reading releases a segment's plaintext only
after its tag verified, so a reader sees authenticated bytes or an error — though an object
tampered in a late segment fails only when that segment is reached.

The object key is bound into every segment but stored nowhere, and keys carry no file names
(``data_plane.domain`` derives them from hashes), so the store learns nothing but sizes.
"""

from __future__ import annotations

import io
import os
import secrets
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from data_plane.domain.ports import ObjectStore
from data_plane.errors import ObjectTampered
from frostbyte_common.data_keys import DataKeyring, UnknownDataKey

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "DEFAULT_SEGMENT_SIZE",
    "FORMAT_VERSION",
    "MAGIC",
    "DecryptingReader",
    "EncryptedObjectStore",
]

MAGIC = b"FBEO"
FORMAT_VERSION = 1
DEFAULT_SEGMENT_SIZE = 1024 * 1024
# A header is read before it is authenticated: bounding the segment size it may claim
# bounds what a forged header can make a reader allocate.
_MIN_SEGMENT_SIZE = 1024
_MAX_SEGMENT_SIZE = 16 * 1024 * 1024
_MAX_SEGMENTS = 2**32  # the counter's four bytes
_TAG_BYTES = 16
_SALT_BYTES = 16
_PREFIX_BYTES = 7
_LEAD = struct.Struct(">4sBB")  # magic, version, key id length
_TAIL = struct.Struct(f">I{_SALT_BYTES}s{_PREFIX_BYTES}s")  # segment size, salt, prefix
_HKDF_INFO = b"frostbyte encrypted object v1"


class EncryptedObjectStore:
    """``ObjectStore`` decorator: seals objects with the keyring's current key on the way
    in, opens them with the key their header names on the way out.

    ``scratch_dir`` holds the sealed copy of a ``put_file`` until the inner store takes it
    over; put it on the inner store's filesystem (for the filesystem store) so that takes a
    rename, and outside the store's root.
    """

    def __init__(
        self,
        inner: ObjectStore,
        keyring: DataKeyring,
        scratch_dir: Path,
        *,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
    ) -> None:
        if not _MIN_SEGMENT_SIZE <= segment_size <= _MAX_SEGMENT_SIZE:
            raise ValueError(
                f"segment size must be {_MIN_SEGMENT_SIZE}..{_MAX_SEGMENT_SIZE} bytes, "
                f"not {segment_size}"
            )
        self._inner = inner
        self._keyring = keyring
        self._scratch_dir = Path(scratch_dir)
        self._segment_size = segment_size

    def put_file(self, key: str, source: Path, *, move: bool = False) -> None:
        """Seal the file at ``source`` into a scratch file, then hand that to the inner
        store. ``move=True``: the plaintext ``source`` is deleted once the object is stored."""
        self._scratch_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="sealing-", dir=self._scratch_dir)
        sealed = Path(name)
        try:
            with os.fdopen(fd, "wb") as dst, Path(source).open("rb") as src:
                self._seal(key, src, dst)
            self._inner.put_file(key, sealed, move=True)
        finally:
            sealed.unlink(missing_ok=True)
        if move:
            Path(source).unlink(missing_ok=True)

    def put_bytes(self, key: str, data: bytes) -> None:
        """Seal ``data`` (small: canonical JSON, reports) and store it under ``key``."""
        sealed = io.BytesIO()
        self._seal(key, io.BytesIO(data), sealed)
        self._inner.put_bytes(key, sealed.getvalue())

    def open(self, key: str) -> BinaryIO:
        """Open the object for streaming, authenticated reads. Raises ``ObjectNotFound``;
        ``ObjectTampered`` for an object that is not sealed or fails authentication (at
        once for the header and first segment, on ``read`` for later ones);
        ``UnknownDataKey`` when its key is not in the keyring."""
        return io.BufferedReader(DecryptingReader(self._inner.open(key), key, self._keyring))

    def get_bytes(self, key: str) -> bytes:
        """Read a (small) object whole, authenticated; raises as ``open`` does."""
        with self.open(key) as reader:
            return reader.read()

    def key_id_of(self, key: str) -> str:
        """The id of the data key that sealed the object, from its header alone (not
        authenticated: enough to tell which objects still need an old key)."""
        with self._inner.open(key) as raw:
            return _Header.read(raw, key).kid

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        return self._inner.exists(key)

    def delete(self, key: str) -> bool:
        """Delete the object; True when one was there."""
        return self._inner.delete(key)

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys under ``prefix``, sorted."""
        return self._inner.list(prefix)

    def ping(self) -> bool:
        """Whether the inner store answers now (readiness); never raises."""
        return self._inner.ping()

    def _seal(self, key: str, src: BinaryIO, dst: BinaryIO) -> None:
        kid = self._keyring.current_id
        header = _Header(
            kid=kid,
            segment_size=self._segment_size,
            salt=secrets.token_bytes(_SALT_BYTES),
            prefix=secrets.token_bytes(_PREFIX_BYTES),
        )
        cipher = _SegmentCipher(self._keyring.key(kid), header, key)
        dst.write(header.packed)
        current = _read_up_to(src, self._segment_size)
        index = 0
        while True:
            following = _read_up_to(src, self._segment_size)
            last = not following
            dst.write(cipher.seal(index, current, last=last))
            if last:
                return
            current, index = following, index + 1


class DecryptingReader(io.RawIOBase):
    """Reads a sealed object segment by segment, releasing only authenticated plaintext.

    Holds at most one segment (plus one look-ahead byte that tells whether the segment is
    the last); ``buffered`` says how much at any moment. Header and first segment are
    checked on construction, so a wrong key or a foreign object fails at ``open``.
    """

    def __init__(self, raw: BinaryIO, key: str, keyring: DataKeyring) -> None:
        super().__init__()
        self._raw = raw
        self._segment = b""  # the current segment's plaintext, authenticated
        self._position = 0  # how much of it was read
        self._carry = b""
        self._index = 0
        self._done = False
        try:
            header = _Header.read(raw, key)
            self._cipher = _SegmentCipher(_key_for(keyring, header.kid, key), header, key)
            self._sealed_size = header.segment_size + _TAG_BYTES
            self._next_segment()
        except BaseException:
            raw.close()
            raise

    @property
    def buffered(self) -> int:
        """Bytes held in memory now: the current segment's plaintext and the look-ahead
        byte."""
        return len(self._segment) + len(self._carry)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Copy plaintext into ``buffer``, opening the next segment when this one is spent;
        0 at the end of the object."""
        while self._position == len(self._segment):
            if self._done:
                return 0
            self._next_segment()
        target = memoryview(buffer).cast("B")
        count = min(len(target), len(self._segment) - self._position)
        target[:count] = self._segment[self._position : self._position + count]
        self._position += count
        return count

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
            self._segment = b""
        super().close()

    def _next_segment(self) -> None:
        self._segment = b""  # let the spent segment go before reading the next
        sealed = self._carry + _read_up_to(self._raw, self._sealed_size - len(self._carry))
        self._carry = self._raw.read(1)
        last = not self._carry
        self._segment = self._cipher.open(self._index, sealed, last=last)
        self._position = 0
        self._index += 1
        self._done = last


@dataclass(frozen=True, slots=True)
class _Header:
    kid: str
    segment_size: int
    salt: bytes
    prefix: bytes

    @property
    def packed(self) -> bytes:
        kid = self.kid.encode("ascii")
        return (
            _LEAD.pack(MAGIC, FORMAT_VERSION, len(kid))
            + kid
            + _TAIL.pack(self.segment_size, self.salt, self.prefix)
        )

    @classmethod
    def read(cls, raw: BinaryIO, key: str) -> _Header:
        """Parse the header at the start of ``raw``; ``ObjectTampered`` when there is none
        or it cannot be one this format writes."""
        lead = _read_up_to(raw, _LEAD.size)
        if len(lead) < _LEAD.size or lead[:4] != MAGIC:
            raise ObjectTampered(
                f"object {key!r} is not an encrypted object (no {MAGIC.decode()} header): it was "
                "stored in plaintext before encryption at rest, or not by this store; "
                "re-ingest its file"
            )
        _, version, kid_length = _LEAD.unpack(lead)
        if version != FORMAT_VERSION:
            raise ObjectTampered(
                f"object {key!r} has encryption format version {version}; "
                f"this build reads version {FORMAT_VERSION}"
            )
        rest = _read_up_to(raw, kid_length + _TAIL.size)
        if len(rest) < kid_length + _TAIL.size:
            raise ObjectTampered(f"object {key!r} ends inside its encryption header")
        segment_size, salt, prefix = _TAIL.unpack(rest[kid_length:])
        if not _MIN_SEGMENT_SIZE <= segment_size <= _MAX_SEGMENT_SIZE:
            raise ObjectTampered(
                f"object {key!r} claims a segment size of {segment_size} bytes, "
                "which this store never writes"
            )
        try:
            kid = rest[:kid_length].decode("ascii")
        except UnicodeDecodeError:
            raise ObjectTampered(f"object {key!r} has a key id that is not ASCII") from None
        return cls(kid=kid, segment_size=segment_size, salt=salt, prefix=prefix)


class _SegmentCipher:
    """AES-256-GCM under the object's own key, with STREAM nonces and the header and object
    key as associated data."""

    def __init__(self, data_key: bytes, header: _Header, key: str) -> None:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=header.salt, info=_HKDF_INFO)
        self._aead = AESGCM(hkdf.derive(data_key))
        self._prefix = header.prefix
        self._associated = header.packed + key.encode("utf-8")
        self._key = key

    def seal(self, index: int, plaintext: bytes, *, last: bool) -> bytes:
        return self._aead.encrypt(self._nonce(index, last), plaintext, self._associated)

    def open(self, index: int, sealed: bytes, *, last: bool) -> bytes:
        try:
            return self._aead.decrypt(self._nonce(index, last), sealed, self._associated)
        except InvalidTag:
            raise ObjectTampered(
                f"object {self._key!r} fails authentication at segment {index}: it was altered, "
                "truncated or extended, or moved from another key"
            ) from None

    def _nonce(self, index: int, last: bool) -> bytes:
        if index >= _MAX_SEGMENTS:
            raise ValueError("object too large for the encryption format (2**32 segments)")
        return self._prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def _key_for(keyring: DataKeyring, kid: str, key: str) -> bytes:
    try:
        return keyring.key(kid)
    except UnknownDataKey:
        raise UnknownDataKey(
            f"object {key!r} is sealed with data key {kid!r}, which this tenant's keyring does "
            "not hold: the key was destroyed, or this object is another tenant's",
            kid=kid,
        ) from None


def _read_up_to(stream: BinaryIO, size: int) -> bytes:
    """``size`` bytes, or fewer only at the end of the stream (network streams may return
    short reads before it)."""
    data = stream.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    missing = size - len(data)
    while missing and (more := stream.read(missing)):
        parts.append(more)
        missing -= len(more)
    return b"".join(parts)
