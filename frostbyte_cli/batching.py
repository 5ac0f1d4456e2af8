"""From the paths on the command line to batches within the tenant's limits (pure, apart from
reading the files' names, sizes and bytes).

* :func:`collect_files`: files as given; a folder contributes every regular, non-hidden file
  in it and in its non-hidden sub-folders (recursively, sorted, symbolic links to folders
  not followed). A file's manifest ``name`` is its base name (a name with ``/`` would be
  ``UNSAFE_NAME``); its path inside the folder travels as the manifest metadata ``path``
  when it is in a sub-folder.
* :func:`plan_batches`: split into batches of at most ``max_files`` files and ``max_bytes``
  bytes (the tenant's ``max_batch_files`` and ``max_batch_bytes``), never two files of one
  name in a batch (the server would refuse the batch with ``DUPLICATE_NAME``): a file goes
  to the first batch it fits, so the order is kept as far as the limits allow.
* :func:`manifest_for` and :func:`idempotency_key_for`: the manifest of a batch and the
  ``Idempotency-Key`` derived from it. The same files give the same manifests and keys, so
  a re-run after a network error replays the batches already received (the first receipt,
  ``Idempotent-Replayed: true``) instead of sending them again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from frostbyte_cli.client import CliError, FileEntry

#: SPEC §9 "Tenant config" defaults, used when no limit is given.
DEFAULT_MAX_BATCH_FILES = 1000
DEFAULT_MAX_BATCH_BYTES = 5 * 1024**3
#: The data plane's limits on an ``Idempotency-Key`` and a ``client_ref``.
MAX_IDEMPOTENCY_KEY = 255
MAX_CLIENT_REF = 256
#: Prefix of a derived key: names the derivation, so that it can change without a clash.
KEY_PREFIX = "fbcli1-"
_HASH_BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file to send: where it is, its manifest name and its path inside the folder."""

    path: Path
    name: str
    relpath: str
    size: int


def _name_of(path: Path) -> str:
    # A name that is not UTF-8 goes escaped (the server answers UNSAFE_NAME for it).
    return os.fsencode(path.name).decode("utf-8", "backslashreplace")


def _walk(folder: Path) -> Iterable[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            if not name.startswith(".") and path.is_file():
                yield path


def collect_files(paths: Sequence[Path]) -> list[SourceFile]:
    """The files to send (see the module's docstring), each once."""
    found: list[SourceFile] = []
    seen: set[Path] = set()
    for given in paths:
        candidates = _walk(given) if given.is_dir() else [given]
        for path in candidates:
            real = path.resolve()
            if real in seen:
                continue
            seen.add(real)
            rel = path.relative_to(given) if given.is_dir() else Path(path.name)
            relpath = os.fsencode(rel.as_posix()).decode("utf-8", "backslashreplace")
            found.append(SourceFile(path=path, name=_name_of(path), relpath=relpath,
                                    size=path.stat().st_size))
    if not found:
        raise CliError("no files found in " + ", ".join(str(p) for p in paths),
                       code="NO_FILES")
    return found


def plan_batches(files: Sequence[SourceFile], *, max_files: int = DEFAULT_MAX_BATCH_FILES,
                 max_bytes: int = DEFAULT_MAX_BATCH_BYTES) -> list[list[SourceFile]]:
    """Split ``files`` into batches within the limits (see the module's docstring).

    A single file larger than ``max_bytes`` fits no batch: ``FILE_TOO_LARGE`` before
    anything is sent."""
    if max_files < 1 or max_bytes < 1:
        raise CliError("the batch limits must be at least 1", code="BAD_OPTION")
    too_big = [f for f in files if f.size > max_bytes]
    if too_big:
        shown = ", ".join(f"{f.relpath} ({f.size} bytes)" for f in too_big[:5])
        raise CliError(f"{len(too_big)} file(s) exceed the batch limit of {max_bytes} bytes on "
                       f"their own: {shown}; split them, or ask the admin to raise "
                       "max_batch_bytes", code="FILE_TOO_LARGE")
    batches: list[list[SourceFile]] = []
    sizes: list[int] = []
    names: list[set[str]] = []
    first_open = 0  # batches before it are full (by count): skip them
    for f in files:
        for i in range(first_open, len(batches) + 1):
            if i == len(batches):
                batches.append([])
                sizes.append(0)
                names.append(set())
            if (len(batches[i]) < max_files and sizes[i] + f.size <= max_bytes
                    and f.name not in names[i]):
                batches[i].append(f)
                sizes[i] += f.size
                names[i].add(f.name)
                break
        while first_open < len(batches) and len(batches[first_open]) >= max_files:
            first_open += 1
    return batches


def digest_files(files: Sequence[SourceFile],
                 on_bytes: Callable[[int], None] | None = None) -> dict[Path, FileEntry]:
    """sha256 and size of every file, read block by block; ``on_bytes`` is told each block
    (the hashing progress bar)."""
    entries: dict[Path, FileEntry] = {}
    for f in files:
        digest = hashlib.sha256()
        size = 0
        with f.path.open("rb") as fh:
            while block := fh.read(_HASH_BLOCK):
                digest.update(block)
                size += len(block)
                if on_bytes is not None:
                    on_bytes(len(block))
        entries[f.path] = FileEntry(path=f.path, name=f.name, sha256=digest.hexdigest(),
                                    size=size)
    return entries


def content_digest(files: Sequence[SourceFile], entries: dict[Path, FileEntry]) -> str:
    """sha256 over every file's path in its folder, sha256 and size: what a batch's default
    ``client_ref`` is named after, so that a re-run builds the same manifests."""
    listing = [[f.relpath, entries[f.path].sha256, entries[f.path].size] for f in files]
    return hashlib.sha256(json.dumps(listing, ensure_ascii=True).encode()).hexdigest()


def client_refs(base: str | None, digests: Sequence[str]) -> list[str]:
    """One ``client_ref`` per batch: by default ``frostbyte-cli-<digest of its files>`` (a
    batch whose files did not change keeps its manifest, hence its key, when files are
    added after it); ``base`` as given, with `` (i/n)`` when there are several batches."""
    count = len(digests)
    if base is None:
        return [f"frostbyte-cli-{d[:16]}" for d in digests]
    refs = [base if count == 1 else f"{base} ({i}/{count})" for i in range(1, count + 1)]
    if not base or any(len(r) > MAX_CLIENT_REF for r in refs):
        raise CliError(f"--client-ref must be 1 to {MAX_CLIENT_REF - 12} characters",
                       code="BAD_OPTION")
    return refs


def manifest_for(batch: Sequence[SourceFile], entries: dict[Path, FileEntry],
                 client_ref: str) -> dict[str, Any]:
    """The ``manifest`` part of one batch (SPEC §9): name, sha256 and size per file, and the
    metadata ``path`` of a file in a sub-folder."""
    files: list[dict[str, Any]] = []
    for f in batch:
        item = entries[f.path].manifest_entry()
        if f.relpath != f.name:
            item["metadata"] = {"path": f.relpath}
        files.append(item)
    return {"client_ref": client_ref, "files": files}


def idempotency_key_for(manifest: dict[str, Any]) -> str:
    """``fbcli1-`` + sha256 of the manifest as canonical JSON (sorted keys, no spaces): the
    same manifest, the same key (71 characters, visible ASCII)."""
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return KEY_PREFIX + hashlib.sha256(text.encode("ascii")).hexdigest()


def given_keys(key: str, count: int) -> list[str]:
    """Keys from the one given with ``--idempotency-key``: itself for one batch, ``KEY-i``
    for batch i of several."""
    keys = [key] if count == 1 else [f"{key}-{i}" for i in range(1, count + 1)]
    for k in keys:
        if not (1 <= len(k) <= MAX_IDEMPOTENCY_KEY and all("!" <= c <= "~" for c in k)):
            raise CliError(f"--idempotency-key must be 1 to {MAX_IDEMPOTENCY_KEY} visible "
                           f"ASCII characters (with a suffix -N per batch when there are "
                           f"several): {k[:40]!r}…", code="INVALID_IDEMPOTENCY_KEY")
    return keys
