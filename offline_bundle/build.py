"""``build``: write ``frostbyte-bundle-<version>.tar`` in one streaming pass.

Members, in this order: every payload sorted by name (``clamav/``, ``compose.yaml``,
``images/<name>.tar``, ``models/<model name>/...``, ``sbom/<name>.cdx.json``), each hashed while
it is copied into the tar (an image archive is read once, in chunks, never held in memory);
then ``manifest.json`` (canonical, listing them all) and ``manifest.sig`` (the raw 64-byte
Ed25519 signature of ``manifest.json``'s bytes, which ``openssl pkeyutl -verify -rawin``
also checks). Headers are deterministic: PAX format, regular files only, mode 0644, uid/gid
0 with no owner names, every mtime the manifest's ``created`` time. The tar is written
beside the target as ``.partial`` and renamed when complete.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from frostbyte_common.canonical_json import canonical_bytes
from offline_bundle.errors import BuildFailed
from offline_bundle.inputs import ImageInput, Payload, folder_payloads, signature_databases
from offline_bundle.keys import fingerprint
from offline_bundle.manifest import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    FileEntry,
    ImageEntry,
    Manifest,
    ManifestInvalid,
    build_manifest,
    parse_version,
)
from offline_bundle.sbom import image_sbom

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class BuildInputs:
    """Everything a bundle is made of (found by :mod:`offline_bundle.inputs` or given)."""

    images: list[ImageInput]
    compose: Path
    model_dir: Path
    model_name: str
    clamav_dir: Path
    signatures_date: str


@dataclass(frozen=True)
class Built:
    path: Path
    manifest: Manifest
    signer: str
    size: int


def bundle_name(version: str) -> str:
    return f"frostbyte-bundle-{version}.tar"


def signatures_record(inputs: BuildInputs) -> bytes:
    """``clamav/SIGNATURES.json`` (listed, hashed and so signed in the manifest like every
    file): the signatures' date and, per official-format database, its version, signature
    count and build time; ``official`` when both main and daily are there (false: the
    project's test signatures, for evaluation only)."""
    databases = signature_databases(inputs.clamav_dir)
    return canonical_bytes({"date": inputs.signatures_date, "databases": databases,
                            "official": all(n in databases for n in ("main", "daily"))})


def payloads(inputs: BuildInputs, *, version: str, created: datetime) -> list[Payload]:
    """Every member but the manifest and its signature, sorted by name."""
    if not inputs.compose.is_file():
        raise BuildFailed(f"the compose file {inputs.compose} is missing",
                          hint="it is images/compose.yaml, written with the images")
    items = [Payload("compose.yaml", path=inputs.compose)]
    items.extend(Payload(f"images/{image.name}.tar", path=image.archive)
                 for image in inputs.images)
    items.extend(Payload(f"sbom/{image.name}.cdx.json",
                         data=image_sbom(image, bundle_version=version, created=created))
                 for image in inputs.images)
    items.extend(folder_payloads(inputs.model_dir, f"models/{inputs.model_name}"))
    items.extend(folder_payloads(inputs.clamav_dir, "clamav"))
    items.append(Payload("clamav/SIGNATURES_DATE", data=f"{inputs.signatures_date}\n".encode()))
    items.append(Payload("clamav/SIGNATURES.json", data=signatures_record(inputs)))
    names = [p.arcname for p in items]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BuildFailed(f"two inputs would both be packed as {', '.join(dupes)}",
                          hint="rename one of them (a signature file named SIGNATURES_DATE "
                               "or SIGNATURES.json?)")
    return sorted(items, key=lambda p: p.arcname)


class _Hashing(io.RawIOBase):
    """A reader that hashes and counts what is read through it."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.digest = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.inner.read(size)
        self.digest.update(data)
        self.count += len(data)
        return data


def _header(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


def _add(tar: tarfile.TarFile, item: Payload, mtime: int) -> FileEntry:
    if item.data is not None:
        tar.addfile(_header(item.arcname, len(item.data), mtime), io.BytesIO(item.data))
        return FileEntry(item.arcname, hashlib.sha256(item.data).hexdigest(), len(item.data))
    assert item.path is not None
    try:
        with item.path.open("rb") as handle:
            size = item.path.stat().st_size
            reader = _Hashing(handle)
            tar.addfile(_header(item.arcname, size, mtime), reader)
    except OSError as exc:
        raise BuildFailed(f"cannot pack {item.path} as {item.arcname}: {exc}",
                          hint="did the file change or vanish during the build?") from exc
    if reader.count != size:
        raise BuildFailed(f"{item.path} changed size while it was packed",
                          hint="run the build again when nothing writes to its inputs")
    return FileEntry(item.arcname, reader.digest.hexdigest(), size)


def build_bundle(inputs: BuildInputs, *, out_dir: Path, version: str, created: datetime,
                 key: Ed25519PrivateKey, on_member: Callable[[str, int], None] | None = None
                 ) -> Built:
    """Write the signed bundle into ``out_dir``; ``on_member(name, size)`` after each member."""
    try:
        parse_version(version)
    except ManifestInvalid as exc:
        raise BuildFailed(str(exc), hint="give --version as a PEP 440 version, e.g. 0.2.0"
                          ) from exc
    items = payloads(inputs, version=version, created=created)
    target = out_dir / bundle_name(version)
    partial = target.with_name(target.name + ".partial")
    out_dir.mkdir(parents=True, exist_ok=True)
    mtime = int(created.timestamp())
    signer = fingerprint(key)
    try:
        with partial.open("wb") as raw, tarfile.open(fileobj=raw, mode="w",
                                                     format=tarfile.PAX_FORMAT) as tar:
            files: list[FileEntry] = []
            for item in items:
                files.append(_add(tar, item, mtime))
                if on_member is not None:
                    on_member(item.arcname, files[-1].size)
            by_name = {f.path: f for f in files}
            images = [ImageEntry(name=i.name, ref=i.ref, id=i.id, digest=i.digest,
                                 archive=f"images/{i.name}.tar",
                                 size=by_name[f"images/{i.name}.tar"].size)
                      for i in inputs.images]
            try:
                manifest = build_manifest(version=version, created=created, signer=signer,
                                          signatures_date=inputs.signatures_date,
                                          images=images, files=files)
            except ManifestInvalid as exc:
                raise BuildFailed(f"the manifest would be invalid: {exc}",
                                  hint="check --version (PEP 440) and the image names") from exc
            manifest_bytes = manifest.to_bytes()
            signature = key.sign(manifest_bytes)
            for name, data in ((MANIFEST_NAME, manifest_bytes), (SIGNATURE_NAME, signature)):
                tar.addfile(_header(name, len(data), mtime), io.BytesIO(data))
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return Built(path=target, manifest=manifest, signer=signer, size=target.stat().st_size)
