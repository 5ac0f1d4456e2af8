"""What the filesystem object store promises beyond the port: atomic writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_plane.adapters.objectstore_fs import FilesystemObjectStore


def test_failed_write_leaves_old_object_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FilesystemObjectStore(tmp_path)
    store.put_bytes("a/k", b"old")
    missing = tmp_path / "does-not-exist"
    with pytest.raises(FileNotFoundError):
        store.put_file("a/k", missing)

    class BoomError(Exception):
        pass

    def explode(*_: object) -> None:
        raise BoomError

    monkeypatch.setattr("os.fsync", explode)
    with pytest.raises(BoomError):
        store.put_bytes("a/k", b"new")
    assert store.get_bytes("a/k") == b"old"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["k"]


def test_stray_temp_files_are_not_listed(tmp_path: Path) -> None:
    store = FilesystemObjectStore(tmp_path)
    store.put_bytes("a/k", b"x")
    (tmp_path / "a" / ".fb-tmp-crashed").write_bytes(b"half")
    assert list(store.list()) == ["a/k"]
    with pytest.raises(ValueError):
        store.put_bytes("a/.fb-tmp-crashed", b"x")


def test_delete_prunes_empty_folders(tmp_path: Path) -> None:
    store = FilesystemObjectStore(tmp_path / "root")
    store.put_bytes("raw/ab/cd/f", b"x")
    store.delete("raw/ab/cd/f")
    assert list((tmp_path / "root").iterdir()) == []


def test_a_moved_upload_is_renamed_into_place_not_copied(tmp_path: Path) -> None:
    store = FilesystemObjectStore(tmp_path / "root")
    source = tmp_path / "scratch"
    source.write_bytes(b"upload")
    inode = source.stat().st_ino
    store.put_file("raw/ab/upload", source, move=True)
    assert not source.exists()
    assert (tmp_path / "root" / "raw" / "ab" / "upload").stat().st_ino == inode


def test_a_moved_upload_from_another_filesystem_is_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    source = tmp_path / "scratch"
    source.write_bytes(b"upload")
    real_replace = Path.replace

    def replace(self: Path, target: Path) -> Path:  # rename(2) across filesystems
        if self == source:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", replace)
    store = FilesystemObjectStore(tmp_path / "root")
    store.put_file("raw/upload", source, move=True)
    assert store.get_bytes("raw/upload") == b"upload"
