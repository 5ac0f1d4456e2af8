"""``ObjectStore`` on a local folder: the embedded default and the test double for S3.

Writes are atomic: the bytes go to a temporary file in the destination folder, are
fsynced, and then ``os.replace`` puts them under the key — a reader sees the old object or
the new one, never half of one, and a crash leaves at most a stray temporary file (which
``list`` never reports).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from data_plane.domain.object_keys import RESERVED_PREFIX, validate_key, validate_prefix
from data_plane.errors import ObjectNotFound

# In-flight writes use RESERVED_PREFIX (keys may not), and listings skip it.
_COPY_CHUNK = 1024 * 1024

# Fills the temporary file of an atomic write.
_Writer = Callable[[BinaryIO], object]


class FilesystemObjectStore:
    """Objects as files under ``root``; a key's segments are its folders and file name."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._root.mkdir(parents=True, exist_ok=True)

    @property
    def root(self) -> Path:
        """The folder holding the objects."""
        return self._root

    def _path(self, key: str) -> Path:
        return self._root.joinpath(*validate_key(key))

    def put_file(self, key: str, source: Path, *, move: bool = False) -> None:
        """Store the file at ``source`` under ``key`` atomically (replace if present).
        ``move=True`` renames ``source`` into place when it lies on the store's filesystem
        (a multi-GB upload is then fsynced once instead of copied), else copies it."""
        if move and self._adopt(key, Path(source)):
            return
        with Path(source).open("rb") as src:
            self._write_atomically(key, lambda dst: shutil.copyfileobj(src, dst, _COPY_CHUNK))

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically."""
        self._write_atomically(key, lambda dst: dst.write(data))

    def _adopt(self, key: str, source: Path) -> bool:
        """Rename ``source`` to ``key`` after making its bytes durable; False when it lies
        on another filesystem (the caller copies instead)."""
        target = self._path(key)
        if target.is_dir():
            raise ValueError(f"object key names a folder of other objects: {key!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        with source.open("rb") as src:
            os.fsync(src.fileno())
        try:
            source.replace(target)  # atomic: a reader sees the old object or the new one
        except OSError as exc:
            if exc.errno == errno.EXDEV:
                return False
            raise
        _fsync_dir(target.parent)
        return True

    def _write_atomically(self, key: str, write: _Writer) -> None:
        target = self._path(key)
        if target.is_dir():
            raise ValueError(f"object key names a folder of other objects: {key!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=RESERVED_PREFIX, dir=target.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as dst:
                write(dst)
                dst.flush()
                os.fsync(dst.fileno())
            tmp.replace(target)  # os.replace: atomic within one filesystem
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)

    def open(self, key: str) -> BinaryIO:
        """Open the object for streaming reads; raises ``ObjectNotFound``."""
        path = self._path(key)
        try:
            return path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(f"no object under key {key!r}") from None

    def get_bytes(self, key: str) -> bytes:
        """Read a (small) object whole; raises ``ObjectNotFound``."""
        with self.open(key) as f:
            return f.read()

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        return self._path(key).is_file()

    def delete(self, key: str) -> bool:
        """Delete the object; deleting a missing key is not an error. True when an object
        was there. Empty folders left behind are pruned up to the root."""
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return False
        parent = path.parent
        while parent != self._root:
            try:
                parent.rmdir()
            except OSError:  # not empty, or a concurrent writer just used it
                break
            parent = parent.parent
        return True

    def ping(self) -> bool:
        """Whether the root folder is there and writable."""
        return self._root.is_dir() and os.access(self._root, os.W_OK | os.X_OK)

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys under ``prefix`` (a plain string prefix, as in S3), sorted."""
        validate_prefix(prefix)
        folder, _, _ = prefix.rpartition("/")
        start = self._root.joinpath(*folder.split("/")) if folder else self._root
        if not start.is_dir():
            return iter(())
        keys: list[str] = []
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if not d.startswith(RESERVED_PREFIX)]
            rel = Path(dirpath).relative_to(self._root).as_posix()
            base = "" if rel == "." else rel + "/"
            for name in filenames:
                if name.startswith(RESERVED_PREFIX):
                    continue
                key = base + name
                if key.startswith(prefix):
                    keys.append(key)
        keys.sort()
        return iter(keys)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; some filesystems refuse to open folders.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
