"""The install home of an offline machine: the pinned release keys and the installed releases.

    <home>/                              --home, else $FROSTBYTE_OFFLINE_HOME, else
                                         /var/lib/frostbyte-offline
      trusted-keys/<fingerprint>.pub     release public keys pinned by `frostbyte bundle trust`
      current/manifest.json              the installed release (``current`` is a folder or a
                                         link to one, e.g. releases/<version>)
      previous/manifest.json             the release before it, if any

``verify`` reads the pinned keys and the installed version from here; loading a bundle
(which writes ``current`` and ``previous``) is another module's work: :mod:`offline_bundle.install`
adds ``releases/``, ``install.json``, ``secrets/``, ``ca/``, ``ca.pem`` and ``containers.conf``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from offline_bundle.errors import BadKey, InstallHomeBroken
from offline_bundle.keys import fingerprint, public_key_from_pem, public_pem, read_key_file
from offline_bundle.manifest import MANIFEST_NAME, Manifest, ManifestInvalid, parse_manifest

HOME_ENV = "FROSTBYTE_OFFLINE_HOME"
DEFAULT_HOME = Path("/var/lib/frostbyte-offline")
KEYS_DIR = "trusted-keys"


def default_home(env: Mapping[str, str]) -> Path:
    """``$FROSTBYTE_OFFLINE_HOME`` when set, else /var/lib/frostbyte-offline."""
    value = env.get(HOME_ENV, "").strip()
    return Path(value) if value else DEFAULT_HOME


@dataclass(frozen=True)
class PinResult:
    fingerprint: str
    path: Path
    already_pinned: bool


@dataclass(frozen=True)
class InstallHome:
    """One install home (nothing is created until a key is pinned)."""

    root: Path

    @property
    def keys_dir(self) -> Path:
        return self.root / KEYS_DIR

    def pinned_keys(self) -> dict[str, Ed25519PublicKey]:
        """Fingerprint -> key of every pinned key; a file there that is not an Ed25519 public
        key, or whose name is not its fingerprint, is :class:`InstallHomeBroken`."""
        if not self.keys_dir.is_dir():
            return {}
        keys: dict[str, Ed25519PublicKey] = {}
        for path in sorted(self.keys_dir.glob("*.pub")):
            try:
                key = public_key_from_pem(read_key_file(path), str(path))
            except BadKey as exc:
                raise InstallHomeBroken(
                    exc.message, hint=f"remove {path} and pin the vendor's key again with "
                                      "`frostbyte bundle trust KEY.pub`") from exc
            fp = fingerprint(key)
            if path.stem != fp:
                raise InstallHomeBroken(
                    f"{path} holds key {fp}, not the key its name says",
                    hint=f"remove {path} and pin the key again with `frostbyte bundle trust`")
            keys[fp] = key
        return keys

    def pin(self, key: Ed25519PublicKey) -> PinResult:
        """Pin ``key`` (idempotent): ``trusted-keys/<fingerprint>.pub``, written atomically."""
        fp = fingerprint(key)
        path = self.keys_dir / f"{fp}.pub"
        if path.is_file() and fp in self.pinned_keys():
            return PinResult(fp, path, already_pinned=True)
        self.keys_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.keys_dir, prefix=".pin-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(public_pem(key))
            os.chmod(tmp, 0o644)  # noqa: PTH101 - a public key; readable by the operators
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return PinResult(fp, path, already_pinned=False)

    def release(self, which: str) -> Manifest | None:
        """The manifest of the ``current`` or ``previous`` release; None when there is none."""
        folder = self.root / which
        if not folder.exists():
            return None
        path = folder / MANIFEST_NAME
        try:
            return parse_manifest(path.read_bytes())
        except OSError as exc:
            raise InstallHomeBroken(
                f"the {which} release at {folder} has no readable {MANIFEST_NAME} "
                f"({exc.strerror or exc})",
                hint=f"repair or remove {folder}; the installed version decides whether a "
                     "bundle is a downgrade") from exc
        except ManifestInvalid as exc:
            raise InstallHomeBroken(
                f"the {which} release's {path} is not a bundle manifest: {exc}",
                hint=f"repair or remove {folder}") from exc

    def installed_version(self) -> str | None:
        manifest = self.release("current")
        return manifest.version if manifest else None
