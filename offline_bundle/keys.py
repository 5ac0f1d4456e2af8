"""Ed25519 keys of the bundle: loading, fingerprints, signing, and the development key.

A key's fingerprint is the SHA-256 (64 lowercase hex digits) of its raw 32-byte public key —
what ``build`` prints, ``manifest.json`` names as ``signer`` and ``frostbyte bundle trust``
prints for the admin to compare with the one the vendor gave out of band.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from offline_bundle.errors import BadKey

#: where a checkout keeps its development signing key (relative to the project root)
DEV_KEY_PATH = Path(".local") / "bundle" / "signing-key.pem"
SIGNING_KEY_ENV = "FROSTBYTE_BUNDLE_SIGNING_KEY"
MAX_KEY_FILE_BYTES = 64 * 1024


def fingerprint(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """SHA-256 (hex) of the raw public key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def short(fp: str) -> str:
    """The first 16 hex digits of a fingerprint, for tables (messages give it whole)."""
    return fp[:16]


def private_key_from_pem(material: bytes, source: str) -> Ed25519PrivateKey:
    """An unencrypted PKCS#8 PEM Ed25519 private key, or :class:`BadKey` naming ``source``."""
    try:
        key = serialization.load_pem_private_key(material, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise BadKey(f"{source} is not an unencrypted PKCS#8 PEM private key ({exc})",
                     hint="make one with `openssl genpkey -algorithm ed25519 -out KEY.pem`"
                     ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise BadKey(f"{source} is a {type(key).__name__}, not an Ed25519 key",
                     hint="bundles are signed with Ed25519: `openssl genpkey -algorithm "
                          "ed25519 -out KEY.pem`")
    return key


def public_key_from_pem(material: bytes, source: str) -> Ed25519PublicKey:
    """A PEM Ed25519 public key (SubjectPublicKeyInfo, ``-----BEGIN PUBLIC KEY-----``)."""
    try:
        key = serialization.load_pem_public_key(material)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise BadKey(f"{source} is not a PEM public key ({exc})",
                     hint="use the release public key the vendor gave you (a file starting "
                          "with -----BEGIN PUBLIC KEY-----)") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise BadKey(f"{source} is a {type(key).__name__}, not an Ed25519 public key",
                     hint="use the Ed25519 release public key the vendor gave you")
    return key


def read_key_file(path: Path) -> bytes:
    """A key file's bytes (small files only), or :class:`BadKey`."""
    try:
        if path.stat().st_size > MAX_KEY_FILE_BYTES:
            raise BadKey(f"{path} is too large to be a key file")
        return path.read_bytes()
    except OSError as exc:
        raise BadKey(f"cannot read key file {path}: {exc.strerror or exc}") from exc


def public_pem(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)


def signature_verifies(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def resolve_signing_key(option: Path | None, env: dict[str, str], project_root: Path
                        ) -> tuple[Ed25519PrivateKey, Path | None]:
    """The build's signing key and, when it is the development key, its public key file.

    ``option`` (``--signing-key``) wins; else ``$FROSTBYTE_BUNDLE_SIGNING_KEY``, a path to a
    PKCS#8 PEM file or the PEM text itself; else the checkout's development key, made once at
    ``.local/bundle/signing-key.pem`` (0600) with ``signing-key.pub`` beside it."""
    if option is not None:
        return private_key_from_pem(read_key_file(option), str(option)), None
    value = env.get(SIGNING_KEY_ENV, "").strip()
    if value.startswith("-----BEGIN"):
        return private_key_from_pem(value.encode(), f"${SIGNING_KEY_ENV}"), None
    if value:
        return private_key_from_pem(read_key_file(Path(value)), value), None
    return dev_signing_key(project_root / DEV_KEY_PATH)


def dev_signing_key(path: Path) -> tuple[Ed25519PrivateKey, Path]:
    """The development key at ``path``: read back, or made once (0600 in a 0700 folder)."""
    pub = path.with_suffix(".pub")
    if path.exists():
        key = private_key_from_pem(read_key_file(path), str(path))
    else:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    if not pub.exists() or pub.read_bytes() != public_pem(key):
        pub.write_bytes(public_pem(key))
    return key, pub
