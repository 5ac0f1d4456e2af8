"""Table-driven tests of the pure key and id functions."""

from __future__ import annotations

import uuid

import pytest

from data_plane.domain.object_keys import canonical_key, point_id_for, raw_key

SHA = "ab" + "cd" + "0" * 60


@pytest.mark.parametrize(
    ("sha256", "expected"),
    [
        (SHA, f"raw/ab/cd/{SHA}"),
        ("f" * 64, f"raw/ff/ff/{'f' * 64}"),
    ],
)
def test_raw_key(sha256: str, expected: str) -> None:
    assert raw_key(sha256) == expected


@pytest.mark.parametrize("bad", ["", "abc", SHA.upper(), SHA + "0", "g" * 64, "../" + SHA[3:]])
def test_raw_key_refuses_non_sha256(bad: str) -> None:
    with pytest.raises(ValueError):
        raw_key(bad)


@pytest.mark.parametrize(
    ("document_id", "expected"),
    [
        ("doc-1", "canonical/doc-1.json"),
        (
            "0f8c1e6a-53aa-4e4a-9c1f-0f7d2b8e4a11",
            "canonical/0f8c1e6a-53aa-4e4a-9c1f-0f7d2b8e4a11.json",
        ),
        ("a.b_c", "canonical/a.b_c.json"),
    ],
)
def test_canonical_key(document_id: str, expected: str) -> None:
    assert canonical_key(document_id) == expected


@pytest.mark.parametrize("bad", ["", "a/b", "..", "a..b", "/x", ".hidden", "a b", "a\\b"])
def test_canonical_key_refuses_unsafe_ids(bad: str) -> None:
    with pytest.raises(ValueError):
        canonical_key(bad)


def test_point_id_is_a_deterministic_uuid() -> None:
    first = point_id_for("chunk-1")
    assert first == point_id_for("chunk-1")
    assert str(uuid.UUID(first)) == first
    assert point_id_for("chunk-2") != first


def test_point_id_is_stable_across_releases() -> None:
    # Pinned: a changed namespace would orphan every point already indexed.
    assert point_id_for("chunk-1") == "1d4a8d4d-f91c-542a-88d6-d19289402650"


def test_point_id_refuses_empty() -> None:
    with pytest.raises(ValueError):
        point_id_for("")
