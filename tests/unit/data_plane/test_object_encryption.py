"""Encryption at rest: what leaves the data plane is sealed, reads are authenticated and
streamed, rotation keeps old objects readable, and a lost key or any tampering is refused."""

from __future__ import annotations

import hashlib
import random
import shutil
import tracemalloc
from pathlib import Path

import pytest

from data_plane.adapters.objectstore_encrypted import (
    DEFAULT_SEGMENT_SIZE,
    DecryptingReader,
    EncryptedObjectStore,
)
from data_plane.adapters.objectstore_fs import FilesystemObjectStore
from data_plane.errors import ObjectNotFound, ObjectTampered
from frostbyte_common.data_keys import DataKeyring, UnknownDataKey

SEGMENT = 1024  # the smallest segment size, so a few KiB span many segments
TAG = 16
CANARY = b"Patient 4711, SSN 078-05-1120, diagnosis: frostbite. "


def header_size(ring: DataKeyring) -> int:
    return 33 + len(ring.current_id)


def sample(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture
def inner(tmp_path: Path) -> FilesystemObjectStore:
    return FilesystemObjectStore(tmp_path / "bucket")


@pytest.fixture
def ring() -> DataKeyring:
    return DataKeyring.generate()


@pytest.fixture
def store(inner: FilesystemObjectStore, ring: DataKeyring, tmp_path: Path) -> EncryptedObjectStore:
    return EncryptedObjectStore(inner, ring, tmp_path / "scratch", segment_size=SEGMENT)


def flip(inner: FilesystemObjectStore, key: str, offset: int) -> None:
    sealed = bytearray(inner.get_bytes(key))
    sealed[offset] ^= 0x01
    inner.put_bytes(key, bytes(sealed))


# --- round trips ----------------------------------------------------------------------------

SIZES = [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 2 * SEGMENT, 7 * SEGMENT + 123]


@pytest.mark.parametrize("size", SIZES)
def test_bytes_round_trip(store: EncryptedObjectStore, size: int) -> None:
    data = sample(size)
    store.put_bytes("canonical/ab/doc", data)
    assert store.get_bytes("canonical/ab/doc") == data


@pytest.mark.parametrize("size", SIZES)
def test_files_round_trip_in_small_reads(
    store: EncryptedObjectStore, tmp_path: Path, size: int
) -> None:
    source = tmp_path / "upload"
    source.write_bytes(sample(size))
    store.put_file("raw/ab/doc", source)
    with store.open("raw/ab/doc") as reader:
        parts = list(iter(lambda: reader.read(100), b""))
        assert reader.read(100) == b""
    assert b"".join(parts) == source.read_bytes()


def test_sealing_costs_a_header_and_a_tag_per_segment(
    store: EncryptedObjectStore, inner: FilesystemObjectStore, ring: DataKeyring
) -> None:
    store.put_bytes("k", b"")
    assert len(inner.get_bytes("k")) == header_size(ring) + TAG
    store.put_bytes("k", sample(3 * SEGMENT + 5))
    assert len(inner.get_bytes("k")) == header_size(ring) + 3 * SEGMENT + 5 + 4 * TAG


def test_a_20_mb_file_streams_through_with_bounded_memory(
    inner: FilesystemObjectStore, ring: DataKeyring, tmp_path: Path
) -> None:
    store = EncryptedObjectStore(inner, ring, tmp_path / "scratch")
    data = sample(20 * 1024 * 1024 + 17)
    source = tmp_path / "big"
    source.write_bytes(data)
    store.put_file("raw/big", source, move=True)
    assert not source.exists()  # the plaintext scratch copy the caller gave up is gone
    digest = hashlib.sha256()
    tracemalloc.start()
    try:
        with store.open("raw/big") as reader:
            while block := reader.read(64 * 1024):
                digest.update(block)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest.digest() == hashlib.sha256(data).digest()
    assert peak < 3 * DEFAULT_SEGMENT_SIZE  # a segment or two, never the 20 MB


def test_a_reader_holds_at_most_a_segment(store: EncryptedObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "upload"
    source.write_bytes(sample(300 * SEGMENT + 1))
    store.put_file("raw/ab/doc", source)
    held = []
    with store.open("raw/ab/doc") as reader:
        assert isinstance(reader.raw, DecryptingReader)
        while reader.read(700):
            held.append(reader.raw.buffered)
    assert max(held) <= SEGMENT + 1
    assert min(held) > 0


def test_the_reader_is_a_proper_file_object(store: EncryptedObjectStore) -> None:
    store.put_bytes("k", b"line one\nline two\n")
    reader = store.open("k")
    assert reader.readable()
    assert reader.readline() == b"line one\n"
    assert reader.read() == b"line two\n"
    reader.close()
    assert reader.closed
    with pytest.raises(ValueError):
        reader.read()


# --- nothing readable at rest ---------------------------------------------------------------


def test_no_plaintext_reaches_the_inner_store(
    store: EncryptedObjectStore, inner: FilesystemObjectStore, tmp_path: Path
) -> None:
    source = tmp_path / "upload"
    source.write_bytes(CANARY * 200)
    store.put_file("raw/ab/doc", source)
    store.put_bytes("canonical/ab/doc", CANARY * 3)
    stored = b"".join(path.read_bytes() for path in inner.root.rglob("*") if path.is_file())
    assert len(stored) > len(CANARY) * 203
    for fragment in (CANARY, CANARY[:16], b"078-05-1120", b"frostbite"):
        assert fragment not in stored
    assert list((tmp_path / "scratch").iterdir()) == []  # no sealed leftovers either


def test_the_same_bytes_twice_are_sealed_differently(
    store: EncryptedObjectStore, inner: FilesystemObjectStore
) -> None:
    store.put_bytes("k", CANARY)
    first = inner.get_bytes("k")
    store.put_bytes("k", CANARY)
    second = inner.get_bytes("k")
    assert len(first) == len(second)
    ciphertext = slice(len(first) - len(CANARY) - TAG, len(first) - TAG)
    assert first[ciphertext] != second[ciphertext]  # a fresh key stream, not just a new tag


# --- keys and rotation ----------------------------------------------------------------------


def test_rotation_keeps_old_objects_readable_and_seals_new_ones_with_the_new_key(
    inner: FilesystemObjectStore, ring: DataKeyring, tmp_path: Path
) -> None:
    before = EncryptedObjectStore(inner, ring, tmp_path / "scratch", segment_size=SEGMENT)
    before.put_bytes("old", sample(5 * SEGMENT))
    rotated = ring.rotated()
    after = EncryptedObjectStore(inner, rotated, tmp_path / "scratch", segment_size=SEGMENT)
    after.put_bytes("new", b"fresh")
    assert after.get_bytes("old") == sample(5 * SEGMENT)
    assert after.key_id_of("old") == ring.current_id
    assert after.key_id_of("new") == rotated.current_id != ring.current_id
    with pytest.raises(UnknownDataKey, match=rotated.current_id):
        before.get_bytes("new")  # a ring from before the rotation lacks the new key


def test_a_ring_without_the_old_key_cannot_read_old_objects(
    store: EncryptedObjectStore, inner: FilesystemObjectStore, ring: DataKeyring, tmp_path: Path
) -> None:
    store.put_bytes("canonical/ab/doc", CANARY)
    new_only = DataKeyring.parse(ring.rotated().serialize().split(",")[-1])
    reader = EncryptedObjectStore(inner, new_only, tmp_path / "scratch")
    with pytest.raises(UnknownDataKey) as caught:
        reader.get_bytes("canonical/ab/doc")
    assert caught.value.kid == ring.current_id
    assert ring.current_id in str(caught.value)
    assert "destroyed" in str(caught.value)
    assert "another tenant" in str(caught.value)


def test_a_copy_of_the_bucket_is_unreadable_once_the_key_is_destroyed(
    store: EncryptedObjectStore, inner: FilesystemObjectStore, tmp_path: Path
) -> None:
    store.put_bytes("canonical/ab/doc", CANARY)
    copy = shutil.copytree(inner.root, tmp_path / "backup")
    # Deprovision destroys the ring; the tenant (or anyone) only has a fresh one.
    restored = EncryptedObjectStore(
        FilesystemObjectStore(copy), DataKeyring.generate(), tmp_path / "scratch"
    )
    with pytest.raises(UnknownDataKey):
        restored.get_bytes("canonical/ab/doc")


def test_another_tenants_ring_with_the_same_key_id_cannot_read(
    store: EncryptedObjectStore, inner: FilesystemObjectStore, ring: DataKeyring, tmp_path: Path
) -> None:
    store.put_bytes("k", CANARY)
    other = DataKeyring([(ring.current_id, bytes(32))])
    with pytest.raises(ObjectTampered):
        EncryptedObjectStore(inner, other, tmp_path / "scratch").get_bytes("k")


# --- tampering ------------------------------------------------------------------------------


def test_every_header_byte_is_authenticated(
    store: EncryptedObjectStore, inner: FilesystemObjectStore, ring: DataKeyring
) -> None:
    store.put_bytes("k", sample(2 * SEGMENT))
    original = inner.get_bytes("k")
    for offset in range(header_size(ring)):
        flip(inner, "k", offset)
        with pytest.raises((ObjectTampered, UnknownDataKey)):
            store.get_bytes("k")
        inner.put_bytes("k", original)
    assert store.get_bytes("k") == sample(2 * SEGMENT)


@pytest.mark.parametrize(
    "where",
    ["first body byte", "last body byte of a middle segment", "first tag byte", "last byte"],
)
def test_a_flipped_bit_in_the_body_or_a_tag_is_refused(
    store: EncryptedObjectStore, inner: FilesystemObjectStore, ring: DataKeyring, where: str
) -> None:
    store.put_bytes("k", sample(3 * SEGMENT + 10))
    start, sealed = header_size(ring), SEGMENT + TAG
    offset = {
        "first body byte": start,
        "last body byte of a middle segment": start + sealed + SEGMENT - 1,
        "first tag byte": start + SEGMENT,
        "last byte": len(inner.get_bytes("k")) - 1,
    }[where]
    flip(inner, "k", offset)
    with pytest.raises(ObjectTampered, match="fails authentication"):
        store.get_bytes("k")


def test_only_authenticated_segments_are_released_before_a_tampered_one(
    store: EncryptedObjectStore, inner: FilesystemObjectStore, ring: DataKeyring
) -> None:
    data = sample(4 * SEGMENT)
    store.put_bytes("k", data)
    flip(inner, "k", header_size(ring) + 2 * (SEGMENT + TAG) + 5)  # inside segment 2
    released = bytearray()
    with store.open("k") as reader, pytest.raises(ObjectTampered, match="segment 2"):
        # Below the buffered wrapper, to see exactly what the decryption hands out.
        while block := reader.raw.read(100):
            released += block
    assert released == data[: 2 * SEGMENT]


def rewrite_segments(
    inner: FilesystemObjectStore, key: str, ring: DataKeyring, change: str
) -> None:
    blob = inner.get_bytes(key)
    head, body = blob[: header_size(ring)], blob[header_size(ring) :]
    sealed = SEGMENT + TAG
    segments = [body[i : i + sealed] for i in range(0, len(body), sealed)]
    if change == "truncate the last segment":
        segments[-1] = segments[-1][:-1]
    elif change == "drop the last segment":
        segments.pop()
    elif change == "drop a middle segment":
        segments.pop(1)
    elif change == "swap two segments":
        segments[0], segments[1] = segments[1], segments[0]
    elif change == "append a copy of a segment":
        segments.append(segments[0])
    elif change == "append a byte":
        segments.append(b"\x00")
    inner.put_bytes(key, head + b"".join(segments))


@pytest.mark.parametrize(
    "change",
    [
        "truncate the last segment",
        "drop the last segment",
        "drop a middle segment",
        "swap two segments",
        "append a copy of a segment",
        "append a byte",
    ],
)
def test_reordered_truncated_or_extended_objects_are_refused(
    store: EncryptedObjectStore, inner: FilesystemObjectStore, ring: DataKeyring, change: str
) -> None:
    store.put_bytes("k", sample(4 * SEGMENT))  # four full segments, the last one flagged
    rewrite_segments(inner, "k", ring, change)
    with pytest.raises(ObjectTampered):
        store.get_bytes("k")


def test_objects_swapped_between_keys_are_refused(
    store: EncryptedObjectStore, inner: FilesystemObjectStore
) -> None:
    store.put_bytes("raw/aa/one", b"first document")
    store.put_bytes("raw/bb/two", b"second document")
    one, two = inner.get_bytes("raw/aa/one"), inner.get_bytes("raw/bb/two")
    inner.put_bytes("raw/aa/one", two)
    inner.put_bytes("raw/bb/two", one)
    for key in ("raw/aa/one", "raw/bb/two"):
        with pytest.raises(ObjectTampered, match="moved from another key"):
            store.get_bytes(key)


def test_an_object_stored_in_plaintext_before_encryption_is_refused(
    store: EncryptedObjectStore, inner: FilesystemObjectStore
) -> None:
    inner.put_bytes("raw/ab/legacy", CANARY)
    inner.put_bytes("raw/ab/empty", b"")
    for key in ("raw/ab/legacy", "raw/ab/empty"):
        with pytest.raises(ObjectTampered, match="plaintext before encryption at rest"):
            store.open(key)
        with pytest.raises(ObjectTampered, match="not an encrypted object"):
            store.key_id_of(key)


def test_a_forged_header_cannot_make_the_reader_allocate_a_huge_segment(
    store: EncryptedObjectStore, inner: FilesystemObjectStore, ring: DataKeyring
) -> None:
    store.put_bytes("k", b"x")
    flip(inner, "k", 6 + len(ring.current_id))  # top byte of the segment size
    with pytest.raises(ObjectTampered, match="segment size"):
        store.open("k")


# --- the rest of the port -------------------------------------------------------------------


def test_listing_existence_and_deletion_pass_through(store: EncryptedObjectStore) -> None:
    store.put_bytes("raw/ab/one", b"1")
    store.put_bytes("canonical/ab/one", b"2")
    assert list(store.list("raw/")) == ["raw/ab/one"]
    assert store.exists("raw/ab/one")
    assert store.delete("raw/ab/one")
    assert not store.exists("raw/ab/one")
    assert not store.delete("raw/ab/one")
    assert list(store.list()) == ["canonical/ab/one"]


@pytest.mark.parametrize("answers", [True, False])
def test_readiness_is_the_inner_stores(tmp_path: Path, answers: bool) -> None:
    class Inner(FilesystemObjectStore):
        def ping(self) -> bool:
            return answers

    ring = DataKeyring.generate()
    assert EncryptedObjectStore(Inner(tmp_path / "b"), ring, tmp_path / "s").ping() is answers


def test_a_missing_object_is_not_found(store: EncryptedObjectStore) -> None:
    for read in (store.open, store.get_bytes, store.key_id_of):
        with pytest.raises(ObjectNotFound):
            read("raw/ab/missing")


def test_a_replaced_object_reads_as_the_new_one(store: EncryptedObjectStore) -> None:
    store.put_bytes("k", b"old")
    store.put_bytes("k", b"new")
    assert store.get_bytes("k") == b"new"
