"""``verify``: read the bundle's tar once, as a stream, and run the three checks in order.

Nothing is extracted and nothing is trusted before it is checked: every member's header is
checked (a safe name, a regular file, not seen before) before its bytes are read; file data
is hashed in chunks, never held in memory; only ``manifest.json`` (size-capped) and
``manifest.sig`` are read whole. Then (1) integrity — the manifest is well formed and the
files found are exactly the files listed, by size and SHA-256, and the aggregate checksum
matches; (2) the Ed25519 signature over ``manifest.json`` against the pinned key(s);
(3) no downgrade against the installed release.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from offline_bundle.checks import check_signature, file_problems, listed, member_problem
from offline_bundle.errors import BundleError, IntegrityFailed, UnsafeMember
from offline_bundle.home import KEYS_DIR, InstallHome
from offline_bundle.keys import fingerprint
from offline_bundle.manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    SIGNATURE_NAME,
    FileEntry,
    Manifest,
    ManifestInvalid,
    aggregate_sha256,
    parse_manifest,
)
from offline_bundle.policy import Move, check_version

CHUNK = 1024 * 1024
MAX_MEMBERS = 100_000
MAX_SIGNATURE_BYTES = 1024
Progress = Callable[[int], None]

_DAMAGED_HINT = ("do not load it: copy the bundle again from the vendor's medium (or download "
                 "it again) and verify the new copy")
_HOSTILE_HINT = ("this tar was not written by `make bundle` and may be an attack: do not "
                 "extract or load it; get the bundle again from the vendor")


@dataclass(frozen=True)
class Scan:
    """What one pass over the tar found."""

    manifest_bytes: bytes | None
    signature: bytes | None
    files: dict[str, FileEntry]
    tar_size: int


@dataclass(frozen=True)
class Verified:
    """A bundle that passed all three checks."""

    path: Path
    manifest: Manifest
    signer: str
    installed: str | None
    move: Move
    tar_size: int


def _kind(member: tarfile.TarInfo) -> str:
    if member.issparse():
        return "sparse file"
    if member.isreg():
        return "file"
    if member.isdir():
        return "directory"
    if member.issym():
        return f"symlink (to {member.linkname!r})"
    if member.islnk():
        return f"hard link (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return "device"
    if member.isfifo():
        return "fifo"
    return "member of an unknown type"


def _read(stream: IO[bytes], member: tarfile.TarInfo, sink: Callable[[bytes], None],
          progress: Progress | None) -> int:
    total = 0
    while chunk := stream.read(CHUNK):
        sink(chunk)
        total += len(chunk)
        if progress is not None:
            progress(len(chunk))
    if total != member.size:
        raise IntegrityFailed(f"the tar is truncated: {member.name} has {total} of its "
                              f"{member.size} bytes", hint=_DAMAGED_HINT)
    return total


def scan(path: Path, progress: Progress | None = None) -> Scan:
    """One streaming pass: each member checked, hashed (or, for the manifest and its
    signature, read); :class:`UnsafeMember` at the first member that is not a safe regular
    file or that appears twice, :class:`IntegrityFailed` when the tar cannot be read."""
    files: dict[str, FileEntry] = {}
    small: dict[str, bytes] = {}
    try:
        raw = path.open("rb")
        tar_size = os.fstat(raw.fileno()).st_size
    except OSError as exc:
        raise BundleError(f"cannot open {path}: {exc.strerror or exc}", code="NO_BUNDLE",
                          hint="give the path of the bundle's .tar file") from exc
    try:
        with raw, tarfile.open(fileobj=raw, mode="r|") as tar:
            for count, member in enumerate(tar, start=1):
                if count > MAX_MEMBERS:
                    raise IntegrityFailed(f"the tar has more than {MAX_MEMBERS} members",
                                          hint=_HOSTILE_HINT)
                problem = member_problem(member.name, _kind(member))
                if problem:
                    raise UnsafeMember(f"unsafe tar member: {problem}", hint=_HOSTILE_HINT)
                if member.name in files or member.name in small:
                    raise UnsafeMember(f"unsafe tar member: {member.name!r} appears twice "
                                       "(extracting would keep only the last copy)",
                                       hint=_HOSTILE_HINT)
                stream = tar.extractfile(member)
                if stream is None:  # pragma: no cover - regular files always have data
                    raise IntegrityFailed(f"cannot read {member.name}", hint=_DAMAGED_HINT)
                if member.name in (MANIFEST_NAME, SIGNATURE_NAME):
                    cap = MAX_MANIFEST_BYTES if member.name == MANIFEST_NAME else (
                        MAX_SIGNATURE_BYTES)
                    if member.size > cap:
                        raise IntegrityFailed(f"{member.name} is {member.size} bytes, more "
                                              f"than a bundle's ever is ({cap})",
                                              hint=_HOSTILE_HINT)
                    parts: list[bytes] = []
                    _read(stream, member, parts.append, progress)
                    small[member.name] = b"".join(parts)
                    continue
                digest = hashlib.sha256()
                size = _read(stream, member, digest.update, progress)
                files[member.name] = FileEntry(member.name, digest.hexdigest(), size)
    except (tarfile.TarError, EOFError) as exc:
        raise IntegrityFailed(f"{path} is not a readable tar ({exc})",
                              hint=_DAMAGED_HINT) from exc
    except OSError as exc:  # a read error half-way: a bad medium
        raise IntegrityFailed(f"reading {path} failed: {exc.strerror or exc}",
                              hint=_DAMAGED_HINT) from exc
    return Scan(small.get(MANIFEST_NAME), small.get(SIGNATURE_NAME), files, tar_size)


def check_integrity(found: Scan) -> Manifest:
    """Step 1 on a finished scan: the manifest parses and the files are exactly those listed
    (none missing, none altered, none unexpected); the aggregate checksum of what was found
    is the manifest's."""
    if found.manifest_bytes is None:
        raise IntegrityFailed("the bundle has no manifest.json",
                              problems=listed(sorted(found.files)[:5]), hint=_DAMAGED_HINT)
    try:
        manifest = parse_manifest(found.manifest_bytes)
    except ManifestInvalid as exc:
        raise IntegrityFailed(f"manifest.json is malformed: {exc}", hint=_DAMAGED_HINT) from exc
    problems = file_problems(manifest.files, found.files)
    if problems:
        raise IntegrityFailed(
            f"{len(problems)} file(s) of the bundle do not match its manifest",
            problems=listed(problems), hint=_DAMAGED_HINT)
    computed = aggregate_sha256(sorted(found.files.values(), key=lambda f: f.path))
    if computed != manifest.aggregate_sha256:  # pragma: no cover - implied by the two above
        raise IntegrityFailed(f"aggregate checksum {computed[:12]}… is not the manifest's "
                              f"{manifest.aggregate_sha256[:12]}…", hint=_DAMAGED_HINT)
    return manifest


def verify_bundle(path: Path, home: InstallHome, *, public_key: Ed25519PublicKey | None = None,
                  allow_downgrade: bool = False, progress: Progress | None = None
                  ) -> Verified:
    """Verify the bundle at ``path`` for the install ``home``: integrity, then the signature
    (against ``public_key`` when given, else the keys pinned in ``home``), then the version
    (against the release installed in ``home``). Raises the refusal of the first failing
    step (:mod:`offline_bundle.errors`)."""
    found = scan(path, progress)
    manifest = check_integrity(found)
    if public_key is not None:
        pinned = {fingerprint(public_key): public_key}
        pinned_from = "--public-key"
    else:
        pinned = home.pinned_keys()
        pinned_from = str(home.root / KEYS_DIR)
    signer = check_signature(manifest, found.manifest_bytes or b"", found.signature, pinned,
                             pinned_from=pinned_from)
    installed = home.installed_version()
    move = check_version(manifest.version, installed, allow_downgrade=allow_downgrade)
    return Verified(path=path, manifest=manifest, signer=signer, installed=installed,
                    move=move, tar_size=found.tar_size)
