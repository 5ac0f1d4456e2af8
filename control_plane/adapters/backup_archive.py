"""Backup archives on the control plane's disk (issue 18): each tenant's backup age key, the
encrypted archive files, and unpacking one with every check a restore needs.

Layout under ``<state_dir>``:

* ``secrets/backups/<slug>.agekey`` (0600, folder 0700): the tenant's *backup* identity,
  made at its first backup. Its tenant's deprovisioning leaves it (and the backups) in place —
  the one exception to crypto-shred, which the runbook states; ``frostbyte tenants backups
  purge`` destroys the backups and then this key.
* ``backups/<slug>/<backup_id>.tar.age`` (0600, folders 0700): one archive, a tar of the
  members of :mod:`control_plane.domain.backups` encrypted with age (``pyrage``) to that
  identity. It is written beside its final name and renamed into place once complete.

The tar is staged in a 0700 folder under ``backups/.staging`` (root's, like the rest of the
state folder) and deleted when the archive is written or unpacked.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from control_plane.adapters.private_files import create_private, shred_file
from control_plane.domain.backups import (
    MANIFEST,
    BackupManifest,
    manifest_problems,
    member_name_problem,
)
from control_plane.errors import BackupInvalid, SecretStoreError

_CHUNK = 1 << 20


def sha256_file(path: Path) -> tuple[str, int]:
    """``(sha256 hex, size)`` of a file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as source:
        while block := source.read(_CHUNK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _pyrage() -> Any:
    try:
        import pyrage  # type: ignore[import-untyped]
    except ImportError:
        raise SecretStoreError("pyrage is not installed (pip install pyrage)") from None
    return pyrage


class BackupFiles:
    """The backup keys and archives under one state folder."""

    def __init__(self, state_dir: Path) -> None:
        self._state = state_dir.resolve()

    @property
    def keys_dir(self) -> Path:
        return self._state / "secrets" / "backups"

    @property
    def archives_dir(self) -> Path:
        return self._state / "backups"

    def key_file(self, slug: str) -> Path:
        return self.keys_dir / f"{slug}.agekey"

    def archive_path(self, slug: str, backup_id: str) -> Path:
        return self.archives_dir / slug / f"{backup_id}.tar.age"

    # -- keys -------------------------------------------------------------------------------
    def recipient(self, slug: str) -> str:
        """The tenant's backup recipient; its identity is made now if it has none."""
        pyrage = _pyrage()
        path = self.key_file(slug)
        if not path.exists():
            self.keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            with contextlib.suppress(FileExistsError):  # another backup made it meanwhile
                create_private(path, str(pyrage.x25519.Identity.generate()).encode("ascii"))
        return str(self._identity(path).to_public())

    def _identity(self, path: Path) -> Any:
        return _pyrage().x25519.Identity.from_str(path.read_text(encoding="ascii").strip())

    def has_key(self, slug: str) -> bool:
        return self.key_file(slug).exists()

    @staticmethod
    def digest(path: Path) -> tuple[str, int]:
        return sha256_file(path)

    def identities(self) -> list[Any]:
        """Every backup identity this control plane holds (an archive names no tenant on
        the outside: the one that opens it is the one it was made for)."""
        if not self.keys_dir.is_dir():
            return []
        return [self._identity(p) for p in sorted(self.keys_dir.glob("*.agekey"))]

    def destroy_key(self, slug: str) -> bool:
        """Overwrite and delete the tenant's backup key; True when it is gone."""
        return shred_file(self.key_file(slug))

    # -- staging ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A private (0700) scratch folder, deleted on exit."""
        parent = self.archives_dir / ".staging"
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(parent.parent, 0o700)  # noqa: PTH101 - the archives are root's alone
        folder = Path(tempfile.mkdtemp(dir=parent))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # -- writing ----------------------------------------------------------------------------
    def write(self, slug: str, backup_id: str, members: Path,
              manifest: BackupManifest, scratch: Path) -> tuple[Path, int, str]:
        """Tar ``manifest`` and the files under ``members`` (their paths relative to it are
        the member names), encrypt to the tenant's backup key and put the archive in place.
        ``(path, size, sha256)`` of the archive."""
        recipient = _pyrage().x25519.Recipient.from_str(self.recipient(slug))
        tar_path = scratch / "archive.tar"
        (scratch / MANIFEST).write_bytes(manifest.to_bytes())
        with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
            tar.add(scratch / MANIFEST, arcname=MANIFEST, recursive=False)
            for member in sorted(manifest.members, key=lambda m: m.name):
                tar.add(members / member.name, arcname=member.name, recursive=False)
        final = self.archive_path(slug, backup_id)
        final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = final.with_name(final.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out, tar_path.open("rb") as source:
            _pyrage().encrypt_io(source, out, [recipient])
            out.flush()
            os.fsync(out.fileno())
        tar_path.unlink()
        partial.replace(final)
        sha256, size = sha256_file(final)
        return final, size, sha256

    # -- reading ----------------------------------------------------------------------------
    def unpack(self, archive: Path, into: Path) -> BackupManifest:
        """Decrypt ``archive`` with the backup keys held here and unpack it into ``into``,
        checking every member against the manifest. :class:`BackupInvalid` when it does not
        decrypt (changed, truncated, or made for a key this control plane does not hold),
        holds anything but regular files, or a member is missing, unexpected or altered."""
        identities = self.identities()
        if not identities:
            raise BackupInvalid("this control plane holds no backup key: the archive cannot "
                                "be opened here")
        tar_path = into / "archive.tar"
        fd = os.open(tar_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as out, archive.open("rb") as source:
                _pyrage().decrypt_io(source, out, identities)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                raise BackupInvalid(f"no archive at {archive}") from None
            raise BackupInvalid(f"the archive {archive.name} does not decrypt: it was changed "
                                "or cut short (age's authentication failed)") from None
        except Exception as exc:  # pyrage.DecryptError: no key of ours opens it
            raise BackupInvalid(f"the archive {archive.name} does not decrypt with any backup "
                                f"key held here ({exc})") from None
        members = into / "members"
        members.mkdir(mode=0o700)
        present: dict[str, tuple[str, int]] = {}
        manifest_bytes: bytes | None = None
        try:
            with tarfile.open(tar_path, "r:") as tar:
                for info in tar:
                    if (why := member_name_problem(info.name)) is not None or \
                            not info.isfile():
                        raise BackupInvalid(f"the archive holds {info.name!r}, which a backup "
                                            f"never holds ({why or 'not a regular file'})")
                    if info.name == MANIFEST:
                        handle = tar.extractfile(info)
                        assert handle is not None
                        manifest_bytes = handle.read(16 << 20)
                        continue
                    if info.name in present:
                        raise BackupInvalid(f"the archive holds {info.name!r} twice")
                    tar.extract(info, members, filter="data")
                    present[info.name] = sha256_file(members / info.name)
        except tarfile.TarError as exc:
            raise BackupInvalid(f"the archive's contents are not a tar: {exc}") from None
        finally:
            tar_path.unlink(missing_ok=True)
        if manifest_bytes is None:
            raise BackupInvalid("the archive has no manifest.json")
        manifest = BackupManifest.parse(manifest_bytes)
        problems = manifest_problems(manifest, present)
        if problems:
            raise BackupInvalid("the archive does not match its manifest: "
                                + "; ".join(problems[:5]))
        return manifest
