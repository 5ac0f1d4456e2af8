"""A tenant's data keys for encryption at rest (SPEC §5.4), shared by both planes.

The control plane generates and rotates the keyring and keeps it in the tenant's SOPS
secrets as one string; the data plane parses that string and seals every object with the
current key, recording the key's id in the object so that older objects stay readable after
a rotation. Destroying the keyring on deprovision (crypto-shred) makes every copy of the
tenant's objects unreadable.

Text format: ``kid:base64key[,kid:base64key...]`` — the last entry is the current key. Key
ids are random (never derived from the key, so they reveal nothing about it). No error
message, ``repr`` or ``str`` ever contains key material.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Iterable

from frostbyte_common.errors import ServiceError

__all__ = ["KEY_BYTES", "DataKeyring", "UnknownDataKey"]

#: AES-256: every data key is 32 random bytes.
KEY_BYTES = 32
_KID_BYTES = 4  # 8 hex characters: ids only need to be unique within one tenant's ring
_KID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")


class UnknownDataKey(ServiceError, KeyError):
    """No key with this id in the keyring: it was destroyed (crypto-shred), or the data
    belongs to another tenant. A ``KeyError`` too, so mapping-style callers can catch it."""

    default_code = "DATA_KEY_UNKNOWN"

    def __init__(self, message: str, *, kid: str) -> None:
        super().__init__(message)
        self.kid = kid

    def __str__(self) -> str:
        # KeyError would show the message in quotes.
        return self.message


class DataKeyring:
    """An immutable, ordered set of data keys; the last one seals new objects."""

    __slots__ = ("_entries",)
    _entries: tuple[tuple[str, bytes], ...]

    def __init__(self, entries: Iterable[tuple[str, bytes]]) -> None:
        checked = tuple(entries)
        _check_entries(checked)
        object.__setattr__(self, "_entries", checked)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a DataKeyring is immutable; rotated() returns a new one")

    @classmethod
    def generate(cls) -> DataKeyring:
        """A keyring holding one fresh random key (a tenant's first)."""
        return cls([(_new_kid(()), secrets.token_bytes(KEY_BYTES))])

    @classmethod
    def parse(cls, text: str) -> DataKeyring:
        """Read the SOPS string form; raises ``ValueError`` naming the faulty entry by its
        position (and its id once that is known to be one), never echoing key material."""
        stripped = text.strip()
        if not stripped:
            raise ValueError("the data keyring is empty: expected 'kid:base64key[,...]'")
        return cls(_parse_entry(n, entry.strip()) for n, entry in enumerate(stripped.split(","), 1))

    def serialize(self) -> str:
        """The string form to store in the tenant's SOPS secrets (it holds the keys)."""
        return ",".join(
            f"{kid}:{base64.b64encode(key).decode('ascii')}" for kid, key in self._entries
        )

    def rotated(self) -> DataKeyring:
        """A new keyring with a fresh current key appended; the old keys stay for reading."""
        new = (_new_kid(self.ids), secrets.token_bytes(KEY_BYTES))
        return DataKeyring((*self._entries, new))

    @property
    def current_id(self) -> str:
        """The id of the key that seals new objects."""
        return self._entries[-1][0]

    @property
    def ids(self) -> tuple[str, ...]:
        """Every key id, oldest first."""
        return tuple(kid for kid, _ in self._entries)

    def key(self, kid: str) -> bytes:
        """The key with this id; raises ``UnknownDataKey`` naming the id."""
        for entry_kid, key in self._entries:
            if entry_kid == kid:
                return key
        raise UnknownDataKey(f"no data key with id {kid!r} in this keyring", kid=kid)

    def __repr__(self) -> str:
        return f"DataKeyring(ids={list(self.ids)!r}, current={self.current_id!r})"

    __str__ = __repr__


def _parse_entry(position: int, entry: str) -> tuple[str, bytes]:
    kid, sep, encoded = entry.partition(":")
    if not sep:
        raise ValueError(f"data keyring entry {position} is not of the form 'kid:base64key'")
    if not _KID_PATTERN.fullmatch(kid):
        # The "id" may be a misplaced key, so it is not shown.
        raise ValueError(
            f"data keyring entry {position}: the key id must be 1-32 letters, digits, '-' or '_'"
        )
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            f"data keyring entry {position} (key id {kid!r}) is not valid base64"
        ) from None
    return kid, key


def _check_entries(entries: tuple[tuple[str, bytes], ...]) -> None:
    if not entries:
        raise ValueError("a data keyring needs at least one key")
    seen: set[str] = set()
    for kid, key in entries:
        if not _KID_PATTERN.fullmatch(kid):
            raise ValueError("a data key id must be 1-32 letters, digits, '-' or '_'")
        if kid in seen:
            raise ValueError(f"the data keyring has key id {kid!r} twice")
        seen.add(kid)
        if len(key) != KEY_BYTES:
            raise ValueError(
                f"data key {kid!r} is {len(key)} bytes; a data key is {KEY_BYTES} bytes (AES-256)"
            )


def _new_kid(taken: Iterable[str]) -> str:
    used = set(taken)
    while (kid := secrets.token_hex(_KID_BYTES)) in used:
        pass
    return kid
