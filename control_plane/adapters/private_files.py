"""Files only the control plane's user may read (0600 in 0700 folders), written so that a
reader never sees half of one: the bytes go to a temporary file beside the target, are
fsynced, and only then take the target's name."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def _written_aside(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (0600), replacing it atomically and durably."""
    tmp = _written_aside(path, data)
    try:
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def create_private(path: Path, data: bytes) -> None:
    """Create ``path`` (0600) with ``data`` unless it exists: the first writer wins (the
    file is hard-linked into place, which fails if the name is taken)."""
    tmp = _written_aside(path, data)
    try:
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_folder(path.parent)


def shred_file(path: Path) -> bool:
    """Overwrite ``path`` with random bytes, fsync, then delete it (best effort on journaled
    or copy-on-write disks, where old blocks may survive); True when it is gone."""
    if path.exists():
        size = path.stat().st_size
        with path.open("r+b") as out:
            out.write(secrets.token_bytes(size))
            out.flush()
            os.fsync(out.fileno())
        path.unlink()
    return not path.exists()
