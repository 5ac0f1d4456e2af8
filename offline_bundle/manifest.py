"""The bundle's manifest: what it holds, its canonical bytes and the aggregate checksum (pure).

``manifest.json`` is RFC 8785 canonical JSON (:func:`frostbyte_common.canonical_json.
canonical_bytes`): keys sorted, no insignificant whitespace, one byte form per value; the
Ed25519 signature in ``manifest.sig`` is over exactly those bytes. Fields:

    format            "frostbyte-bundle/1"
    version           the release, a PEP 440 version ("0.1.0")
    created           UTC build time, "YYYY-MM-DDTHH:MM:SSZ"
    signer            SHA-256 fingerprint (hex) of the Ed25519 public key that signed it
    signatures_date   date of the ClamAV signatures shipped in clamav/ (or null)
    images            [{name, ref, id, digest, archive, size}], sorted by name
    files             [{path, sha256, size}] of every member of the tar except manifest.json and
                      manifest.sig, sorted by path (Unicode code points, i.e. UTF-8 bytes)
    aggregate_sha256  see :func:`aggregate_sha256`

The aggregate checksum is the SHA-256 (hex) of the UTF-8 text made of one line per file entry,
in the manifest's order, each ``<sha256 hex><two spaces><path><LF>`` — exactly the checksum
file ``sha256sum`` writes and ``sha256sum -c`` reads, so an extracted bundle can be checked by
hand with the same text.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from packaging.version import InvalidVersion, Version

from frostbyte_common.canonical_json import canonical_bytes

FORMAT = "frostbyte-bundle/1"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
#: the two members the file list does not cover (they cover it)
SELF_NAMES = frozenset({MANIFEST_NAME, SIGNATURE_NAME})
#: a manifest larger than this is not read (the tar is hostile input)
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_PATH_CHARS = 1024

_HEX64 = re.compile(r"[0-9a-f]{64}")
_IMAGE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_CREATED = "%Y-%m-%dT%H:%M:%SZ"


class ManifestInvalid(ValueError):
    """``manifest.json`` is not a manifest of this format (the message says which field)."""


@dataclass(frozen=True)
class FileEntry:
    """One member of the bundle: its path inside the tar, SHA-256 (hex) and size in bytes."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ImageEntry:
    """One image: its name, reference, image id, digest and archive (a path in ``files``)."""

    name: str
    ref: str
    id: str
    digest: str
    archive: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """A parsed, well-formed manifest (not yet checked against the tar or the signature)."""

    version: str
    created: str
    signer: str
    signatures_date: str | None
    images: tuple[ImageEntry, ...]
    files: tuple[FileEntry, ...]
    aggregate_sha256: str

    @property
    def total_size(self) -> int:
        """Bytes of every listed file (the tar adds its headers and the manifest)."""
        return sum(f.size for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": self.version,
            "created": self.created,
            "signer": self.signer,
            "signatures_date": self.signatures_date,
            "images": [vars(i) for i in self.images],
            "files": [vars(f) for f in self.files],
            "aggregate_sha256": self.aggregate_sha256,
        }

    def to_bytes(self) -> bytes:
        """The canonical bytes that are written as ``manifest.json`` and signed."""
        return canonical_bytes(self.to_json())


def aggregate_sha256(files: tuple[FileEntry, ...] | list[FileEntry]) -> str:
    """SHA-256 of the ``sha256sum`` text of ``files`` in the order given (see module doc)."""
    digest = hashlib.sha256()
    for entry in files:
        digest.update(f"{entry.sha256}  {entry.path}\n".encode())
    return digest.hexdigest()


def path_problem(path: str) -> str | None:
    """Why ``path`` is not a safe member name, or None. Safe: relative, '/'-separated, no
    empty, '.' or '..' component, no backslash and no control character — one spelling per
    file, and nothing that can land outside the folder it is extracted into."""
    if not path:
        return "an empty name"
    if len(path) > MAX_PATH_CHARS:
        return f"a name longer than {MAX_PATH_CHARS} characters"
    if path.startswith("/"):
        return "an absolute path"
    if "\\" in path:
        return "a backslash in the name"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
        return "a control character in the name"
    parts = path.split("/")
    if ".." in parts:
        return "a '..' component (path traversal)"
    if any(part in ("", ".") for part in parts):
        return "an empty or '.' component"
    return None


def parse_version(text: str) -> Version:
    """A PEP 440 version, or :class:`ManifestInvalid`."""
    try:
        return Version(text)
    except InvalidVersion as exc:
        raise ManifestInvalid(f"version {text!r} is not a PEP 440 version") from exc


def format_created(moment: datetime) -> str:
    """``moment`` as the manifest's ``created`` text (UTC, whole seconds)."""
    return moment.astimezone(UTC).strftime(_CREATED)


def build_manifest(*, version: str, created: datetime, signer: str,
                   signatures_date: str | None, images: list[ImageEntry],
                   files: list[FileEntry]) -> Manifest:
    """The manifest of these files and images: sorted, aggregate computed, then validated
    exactly as a reader will (so a build never writes a manifest ``verify`` would refuse)."""
    ordered = tuple(sorted(files, key=lambda f: f.path))
    manifest = Manifest(version=version, created=format_created(created), signer=signer,
                        signatures_date=signatures_date,
                        images=tuple(sorted(images, key=lambda i: i.name)), files=ordered,
                        aggregate_sha256=aggregate_sha256(ordered))
    return parse_manifest(manifest.to_bytes())


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ManifestInvalid(f"duplicate key(s) {', '.join(dupes)}")
    return dict(pairs)


def _field(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in obj:
        raise ManifestInvalid(f"{where}: no {key!r}")
    value = obj[key]
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise ManifestInvalid(f"{where}: {key!r} is not a {kind.__name__}")
    return value


def _exact_keys(obj: Any, keys: set[str], where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ManifestInvalid(f"{where} is not an object")
    extra = sorted(set(obj) - keys)
    if extra:
        raise ManifestInvalid(f"{where}: unknown field(s) {', '.join(extra)}")
    return obj


def _file_entry(obj: Any, index: int) -> FileEntry:
    where = f"files[{index}]"
    obj = _exact_keys(obj, {"path", "sha256", "size"}, where)
    path = _field(obj, "path", str, where)
    sha = _field(obj, "sha256", str, where)
    size = _field(obj, "size", int, where)
    problem = path_problem(path)
    if problem:
        raise ManifestInvalid(f"{where}: path {path!r} has {problem}")
    if path in SELF_NAMES:
        raise ManifestInvalid(f"{where}: {path} cannot list itself")
    if not _HEX64.fullmatch(sha):
        raise ManifestInvalid(f"{where}: sha256 of {path} is not 64 lowercase hex digits")
    if size < 0:
        raise ManifestInvalid(f"{where}: negative size for {path}")
    return FileEntry(path=path, sha256=sha, size=size)


def _image_entry(obj: Any, index: int) -> ImageEntry:
    where = f"images[{index}]"
    obj = _exact_keys(obj, {"name", "ref", "id", "digest", "archive", "size"}, where)
    name = _field(obj, "name", str, where)
    if not _IMAGE_NAME.fullmatch(name):
        raise ManifestInvalid(f"{where}: image name {name!r} is not a lowercase slug")
    return ImageEntry(name=name, ref=_field(obj, "ref", str, where),
                      id=_field(obj, "id", str, where),
                      digest=_field(obj, "digest", str, where),
                      archive=_field(obj, "archive", str, where),
                      size=_field(obj, "size", int, where))


def parse_manifest(raw: bytes) -> Manifest:
    """Parse and validate ``manifest.json``'s bytes. They must be the canonical form of what
    they hold (one byte form per manifest: what is signed is what is read); the file list
    sorted and unique; every image archive listed with its size; the aggregate right."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestInvalid(f"larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestInvalid(f"not JSON: {exc}") from exc
    obj = _exact_keys(data, {"format", "version", "created", "signer", "signatures_date",
                             "images", "files", "aggregate_sha256"}, "the manifest")
    fmt = _field(obj, "format", str, "the manifest")
    if fmt != FORMAT:
        raise ManifestInvalid(f"format {fmt!r} is not {FORMAT!r}")
    version = _field(obj, "version", str, "the manifest")
    parse_version(version)
    created = _field(obj, "created", str, "the manifest")
    try:
        datetime.strptime(created, _CREATED)
    except ValueError as exc:
        raise ManifestInvalid(f"created {created!r} is not YYYY-MM-DDTHH:MM:SSZ") from exc
    signer = _field(obj, "signer", str, "the manifest")
    if not _HEX64.fullmatch(signer):
        raise ManifestInvalid("signer is not a SHA-256 fingerprint (64 lowercase hex digits)")
    signatures_date = obj.get("signatures_date")
    if signatures_date is not None and not isinstance(signatures_date, str):
        raise ManifestInvalid("signatures_date is neither text nor null")
    files = tuple(_file_entry(f, i)
                  for i, f in enumerate(_field(obj, "files", list, "the manifest")))
    for before, after in itertools.pairwise(files):
        if before.path >= after.path:
            raise ManifestInvalid(f"files are not sorted and unique at {after.path!r}")
    images = tuple(_image_entry(m, i)
                   for i, m in enumerate(_field(obj, "images", list, "the manifest")))
    listed = {f.path: f for f in files}
    for image in images:
        entry = listed.get(image.archive)
        if entry is None:
            raise ManifestInvalid(f"image {image.name}: archive {image.archive} is not listed")
        if entry.size != image.size:
            raise ManifestInvalid(f"image {image.name}: size {image.size} differs from the "
                                  f"listed archive's {entry.size}")
    if len({i.name for i in images}) != len(images):
        raise ManifestInvalid("an image name appears twice")
    aggregate = _field(obj, "aggregate_sha256", str, "the manifest")
    if aggregate != aggregate_sha256(files):
        raise ManifestInvalid(f"aggregate_sha256 {aggregate[:16]}… does not match the file "
                              f"list (computed {aggregate_sha256(files)[:16]}…)")
    manifest = Manifest(version=version, created=created, signer=signer,
                        signatures_date=signatures_date, images=images, files=files,
                        aggregate_sha256=aggregate)
    if manifest.to_bytes() != raw:
        raise ManifestInvalid("not in canonical form (RFC 8785): it was re-serialised or "
                              "edited after it was built")
    return manifest


def human_size(num: float) -> str:
    """``1.5 GiB``: a byte count as the bundle commands print it."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if num < 1024 or unit == "GiB":
            return f"{num:.0f} {unit}" if unit == "B" else f"{num:.1f} {unit}"
        num /= 1024
    raise AssertionError("unreachable")
