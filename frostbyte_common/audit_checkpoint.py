"""Signed checkpoints of the audit stream: (tree size, Merkle root, time) signed with Ed25519.

The signature covers the RFC 8785 canonical JSON of ``{tenant, tree_size, root_hash,
signed_at, key_id}``; ``key_id`` names the public key (``ed25519:`` + the first 16 hex of
its SHA-256), so a verifier can tell which key an auditor must trust.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from frostbyte_common.canonical_json import canonical_bytes


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The raw 32-byte public key, base64."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return _b64(public.public_bytes(serialization.Encoding.Raw,
                                    serialization.PublicFormat.Raw))


def key_id_of(public_key_b64: str) -> str:
    return "ed25519:" + hashlib.sha256(base64.b64decode(public_key_b64)).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    tenant: str
    tree_size: int
    root_hash: str
    signed_at: datetime
    key_id: str
    public_key: str
    signature: str

    def signed_bytes(self) -> bytes:
        return canonical_bytes({"tenant": self.tenant, "tree_size": self.tree_size,
                                "root_hash": self.root_hash,
                                "signed_at": self.signed_at.astimezone(UTC).isoformat(),
                                "key_id": self.key_id})

    def to_json(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "tree_size": self.tree_size, "root_hash": self.root_hash,
                "signed_at": self.signed_at.astimezone(UTC).isoformat(),
                "key_id": self.key_id, "public_key": self.public_key,
                "signature": self.signature}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        signed_at = datetime.fromisoformat(str(data["signed_at"]))
        size = data["tree_size"]
        if not isinstance(size, int) or isinstance(size, bool):
            raise TypeError("tree_size must be an integer")
        return cls(tenant=str(data["tenant"]), tree_size=size,
                   root_hash=str(data["root_hash"]), signed_at=signed_at,
                   key_id=str(data["key_id"]), public_key=str(data["public_key"]),
                   signature=str(data["signature"]))


def sign_checkpoint(key: Ed25519PrivateKey, *, tenant: str, tree_size: int, root_hash: str,
                    signed_at: datetime | None = None) -> Checkpoint:
    public = public_key_text(key)
    unsigned = Checkpoint(tenant=tenant, tree_size=tree_size, root_hash=root_hash,
                          signed_at=signed_at or datetime.now(UTC), key_id=key_id_of(public),
                          public_key=public, signature="")
    signature = _b64(key.sign(unsigned.signed_bytes()))
    return Checkpoint(unsigned.tenant, unsigned.tree_size, unsigned.root_hash,
                      unsigned.signed_at, unsigned.key_id, unsigned.public_key, signature)


def checkpoint_problem(checkpoint: Checkpoint, *, trusted_public_key: str | None = None
                       ) -> str | None:
    """Why the checkpoint's signature does not hold, or None when it does. With
    ``trusted_public_key`` the checkpoint must also be signed by that key."""
    if trusted_public_key is not None and checkpoint.public_key != trusted_public_key:
        return "signed by another key than the trusted public key"
    try:
        raw = base64.b64decode(checkpoint.public_key, validate=True)
        public = Ed25519PublicKey.from_public_bytes(raw)
        signature = base64.b64decode(checkpoint.signature, validate=True)
    except ValueError:
        return "public key or signature is not valid base64 Ed25519 material"
    if key_id_of(checkpoint.public_key) != checkpoint.key_id:
        return "key_id does not name the public key"
    try:
        public.verify(signature, checkpoint.signed_bytes())
    except InvalidSignature:
        return "Ed25519 signature does not verify"
    return None


def load_signing_key(material: bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM (PKCS#8), from its 32-byte seed in hex (64 digits: what
    the control plane generates into a tenant's secrets) or from the seed in base64."""
    text = material.strip()
    if text.startswith(b"-----BEGIN"):
        key = serialization.load_pem_private_key(text, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the audit signing key is not an Ed25519 key")
        return key
    # 64 hex digits are also valid base64 (of 48 bytes, never a seed): hex is tried first
    if len(text) == 64 and all(c in b"0123456789abcdefABCDEF" for c in text):
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text.decode("ascii")))
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(text, validate=True))


def write_new_signing_key(path: Path) -> Ed25519PrivateKey:
    """Generate a key into ``path`` as PKCS#8 PEM, mode 0600 from the start; an existing
    file is kept and loaded instead."""
    if path.exists():
        return load_signing_key(path.read_bytes())
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return key
