"""The ObjectStore contract: every adapter passes the same tests.

Adding an adapter is one entry in ``ADAPTERS``. "s3" runs against a real SeaweedFS (one per
test session, a fresh bucket and tenant key per test); "encrypted-s3" is what a data plane
runs — the encrypting decorator over S3 — and "encrypted-filesystem" the double it tests on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from data_plane.adapters.objectstore_encrypted import EncryptedObjectStore
from data_plane.adapters.objectstore_fs import FilesystemObjectStore
from data_plane.adapters.objectstore_s3 import S3ObjectStore
from data_plane.domain.ports import ObjectStore
from data_plane.errors import ObjectNotFound
from frostbyte_common.data_keys import DataKeyring


def _s3_store(request: pytest.FixtureRequest, _tmp: Path) -> ObjectStore:
    tenant = request.getfixturevalue("s3_tenant")
    return S3ObjectStore(tenant.endpoint, tenant.bucket, tenant.access_key, tenant.secret_key)


def _encrypted(inner: Callable[[pytest.FixtureRequest, Path], ObjectStore]
               ) -> Callable[[pytest.FixtureRequest, Path], ObjectStore]:
    return lambda request, tmp: EncryptedObjectStore(inner(request, tmp), DataKeyring.generate(),
                                                     tmp / "scratch")


def _filesystem(_request: pytest.FixtureRequest, tmp: Path) -> ObjectStore:
    return FilesystemObjectStore(tmp / "objects")


ADAPTERS: dict[str, Callable[[pytest.FixtureRequest, Path], ObjectStore]] = {
    "filesystem": _filesystem,
    "s3": _s3_store,
    "encrypted-filesystem": _encrypted(_filesystem),
    "encrypted-s3": _encrypted(_s3_store),
}


@pytest.fixture(params=sorted(ADAPTERS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    yield ADAPTERS[request.param](request, tmp_path)


def test_a_working_store_answers_its_readiness_ping(store: ObjectStore) -> None:
    assert store.ping() is True


def test_put_bytes_then_get(store: ObjectStore) -> None:
    store.put_bytes("a/b/c.txt", b"hello")
    assert store.get_bytes("a/b/c.txt") == b"hello"
    assert store.exists("a/b/c.txt")


def test_put_replaces(store: ObjectStore) -> None:
    store.put_bytes("k", b"old")
    store.put_bytes("k", b"new")
    assert store.get_bytes("k") == b"new"


def test_put_empty_object(store: ObjectStore) -> None:
    store.put_bytes("empty", b"")
    assert store.exists("empty")
    assert store.get_bytes("empty") == b""


def test_put_file_streams_a_large_file(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    data = bytes(range(256)) * 20_000  # ~5 MB, several copy chunks
    source.write_bytes(data)
    store.put_file("raw/big.bin", source)
    with store.open("raw/big.bin") as f:
        head = f.read(1000)
        rest = f.read()
    assert head + rest == data


def test_put_file_with_move_stores_the_bytes_and_replaces(store: ObjectStore,
                                                           tmp_path: Path) -> None:
    store.put_bytes("raw/upload", b"old")
    source = tmp_path / "scratch-upload"
    source.write_bytes(b"uploaded bytes")
    store.put_file("raw/upload", source, move=True)
    assert store.get_bytes("raw/upload") == b"uploaded bytes"
    assert list(store.list("raw/")) == ["raw/upload"]


def test_missing_object_raises_not_found(store: ObjectStore) -> None:
    assert not store.exists("nope")
    with pytest.raises(ObjectNotFound):
        store.get_bytes("nope")
    with pytest.raises(ObjectNotFound):
        store.open("no/such/key")


def test_a_folder_prefix_is_not_an_object(store: ObjectStore) -> None:
    store.put_bytes("dir/file", b"x")
    assert not store.exists("dir")
    with pytest.raises(ObjectNotFound):
        store.get_bytes("dir")


def test_delete_is_idempotent(store: ObjectStore) -> None:
    store.put_bytes("x/y", b"1")
    store.delete("x/y")
    assert not store.exists("x/y")
    store.delete("x/y")
    store.delete("never/was")
    assert list(store.list()) == []


def test_delete_says_whether_an_object_was_there(store: ObjectStore) -> None:
    store.put_bytes("raw/ab/cd/abcd", b"1")
    assert store.delete("raw/ab/cd/abcd") is True
    assert store.delete("raw/ab/cd/abcd") is False
    assert store.delete("raw/ab") is False  # a folder of other objects is not an object
    store.put_bytes("raw/ab/cd/other", b"2")
    assert store.delete("raw/ab") is False
    assert store.exists("raw/ab/cd/other")


def test_delete_keeps_siblings(store: ObjectStore) -> None:
    store.put_bytes("x/y", b"1")
    store.put_bytes("x/z", b"2")
    store.delete("x/y")
    assert list(store.list()) == ["x/z"]


def test_list_sorted_and_by_prefix(store: ObjectStore) -> None:
    keys = ["raw/ab/2", "raw/ab/1", "raw/abc", "canonical/d.json", "raw/b/9"]
    for key in keys:
        store.put_bytes(key, key.encode())
    assert list(store.list()) == sorted(keys)
    assert list(store.list("raw/")) == ["raw/ab/1", "raw/ab/2", "raw/abc", "raw/b/9"]
    assert list(store.list("raw/ab")) == ["raw/ab/1", "raw/ab/2", "raw/abc"]
    assert list(store.list("raw/ab/")) == ["raw/ab/1", "raw/ab/2"]
    assert list(store.list("canonical/d.json")) == ["canonical/d.json"]
    assert list(store.list("nothing/")) == []


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "../escape", "a/../../b", "a//b", "a/./b", "a/", "a\\b", "a\x00b"],
)
def test_bad_keys_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.put_bytes(key, b"x")
    with pytest.raises(ValueError):
        store.exists(key)
    with pytest.raises(ValueError):
        store.get_bytes(key)
    with pytest.raises(ValueError):
        store.delete(key)


def test_bad_prefix_is_refused(store: ObjectStore) -> None:
    with pytest.raises(ValueError):
        list(store.list("../"))
    with pytest.raises(ValueError):
        list(store.list("/abs"))
