"""Vendor API keys: format, generation and hashing (shared by the issuing control plane and
the verifying data plane). Keys are 256-bit random, so a plain SHA-256 is a safe verifier;
only the hash is ever stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX = "fbk"
SCOPES = ("ingest", "read", "audit")
#: The scope of the control plane's own credential on a data plane (suspension, quarantine
#: release and purge); never given to a vendor key.
CONTROL_SCOPE = "control"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key_id: str
    key: str  # shown once
    sha256: str


def generate_key() -> IssuedKey:
    key_id = secrets.token_hex(6)
    key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    return IssuedKey(key_id=key_id, key=key, sha256=hash_key(key))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_id_of(key: str) -> str | None:
    """The key id embedded in a presented key, or None if it is not one of ours."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 12:
        return None
    return parts[1]


def matches(key: str, stored_sha256: str) -> bool:
    return hmac.compare_digest(hash_key(key), stored_sha256)
