"""The manifest: one canonical byte form, the aggregate checksum a `sha256sum -c` file hashes
to, strict parsing of hostile input, safe member names."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from offline_bundle.manifest import (
    FileEntry,
    ImageEntry,
    ManifestInvalid,
    aggregate_sha256,
    build_manifest,
    parse_manifest,
    path_problem,
)

SIGNER = "ab" * 32
FILES = [
    FileEntry("images/dataplane.tar", "1" * 64, 300),
    FileEntry("compose.yaml", "2" * 64, 13),
    FileEntry("clamav/x.ndb", "3" * 64, 4),
]
IMAGES = [ImageEntry(name="dataplane", ref="localhost/frostbyte/dataplane:0.2.0", id="abc",
                     digest="sha256:" + "9" * 64, archive="images/dataplane.tar", size=300)]
CREATED = datetime(2026, 12, 1, 12, 30, 5, tzinfo=UTC)


def _manifest_json() -> dict[str, object]:
    manifest = build_manifest(version="0.2.0", created=CREATED, signer=SIGNER,
                              signatures_date="2026-11-29T21:18:13Z", images=IMAGES,
                              files=FILES)
    data: dict[str, object] = json.loads(manifest.to_bytes())
    return data


def _raw(data: dict[str, object]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_canonical_bytes_are_sorted_compact_json_and_round_trip() -> None:
    manifest = build_manifest(version="0.2.0", created=CREATED, signer=SIGNER,
                              signatures_date=None, images=IMAGES, files=FILES)
    raw = manifest.to_bytes()
    # sorted keys, no whitespace: what json.dumps gives with those options for ASCII content
    assert raw == _raw(json.loads(raw))
    assert b" " not in raw and b"\n" not in raw
    assert parse_manifest(raw) == manifest
    assert json.loads(raw)["created"] == "2026-12-01T12:30:05Z"


def test_files_are_sorted_by_path_whatever_the_input_order() -> None:
    a = build_manifest(version="0.2.0", created=CREATED, signer=SIGNER, signatures_date=None,
                       images=IMAGES, files=FILES)
    b = build_manifest(version="0.2.0", created=CREATED, signer=SIGNER, signatures_date=None,
                       images=IMAGES, files=list(reversed(FILES)))
    assert [f.path for f in a.files] == ["clamav/x.ndb", "compose.yaml", "images/dataplane.tar"]
    assert a.to_bytes() == b.to_bytes()


def test_a_reserialised_manifest_is_refused_as_not_canonical() -> None:
    data = _manifest_json()
    pretty = json.dumps(data, indent=2, sort_keys=True).encode()
    with pytest.raises(ManifestInvalid, match="canonical"):
        parse_manifest(pretty)


def test_duplicate_and_unknown_keys_are_refused() -> None:
    raw = _raw(_manifest_json())
    twice = raw.replace(b'{"aggregate_sha256"', b'{"version":"9.9.9","aggregate_sha256"', 1)
    with pytest.raises(ManifestInvalid, match="duplicate key"):
        parse_manifest(twice)
    data = _manifest_json()
    data["extra"] = 1
    with pytest.raises(ManifestInvalid, match="unknown field"):
        parse_manifest(_raw(data))


def test_aggregate_is_the_sha256_of_the_sha256sum_text() -> None:
    files = sorted(FILES, key=lambda f: f.path)
    text = (f"{'3' * 64}  clamav/x.ndb\n{'2' * 64}  compose.yaml\n"
            f"{'1' * 64}  images/dataplane.tar\n")
    assert aggregate_sha256(files) == hashlib.sha256(text.encode()).hexdigest()


def test_aggregate_changes_with_any_hash_or_path() -> None:
    base = aggregate_sha256(FILES)
    changed_hash = [FileEntry(FILES[0].path, "4" * 64, 300), *FILES[1:]]
    changed_path = [FileEntry("images/other.tar", "1" * 64, 300), *FILES[1:]]
    assert len({base, aggregate_sha256(changed_hash), aggregate_sha256(changed_path)}) == 3


def test_a_wrong_aggregate_or_unsorted_files_are_refused() -> None:
    data = _manifest_json()
    data["aggregate_sha256"] = "0" * 64
    with pytest.raises(ManifestInvalid, match="aggregate_sha256"):
        parse_manifest(_raw(data))
    data = _manifest_json()
    files = data["files"]
    assert isinstance(files, list)
    data["files"] = list(reversed(files))
    with pytest.raises(ManifestInvalid, match="not sorted"):
        parse_manifest(_raw(data))


def test_an_image_whose_archive_is_not_listed_is_refused() -> None:
    with pytest.raises(ManifestInvalid, match="not listed"):
        build_manifest(version="0.2.0", created=CREATED, signer=SIGNER, signatures_date=None,
                       images=IMAGES, files=FILES[1:])


@pytest.mark.parametrize("version", ["0.2", "1.0.0rc1", "2026.12.1", "0.1.0+local"])
def test_pep440_versions_are_accepted(version: str) -> None:
    data = _manifest_json()
    data["version"] = version
    assert parse_manifest(_raw(data)).version == version


def test_a_version_that_is_not_pep440_is_refused() -> None:
    data = _manifest_json()
    data["version"] = "latest"
    with pytest.raises(ManifestInvalid, match="PEP 440"):
        parse_manifest(_raw(data))


@pytest.mark.parametrize(("path", "problem"), [
    ("images/dataplane.tar", None),
    ("models/all-MiniLM-L6-v2/1_Pooling/config.json", None),
    ("../etc/passwd", "'..' component"),
    ("images/../../x", "'..' component"),
    ("/etc/passwd", "absolute path"),
    ("images//x.tar", "empty or '.' component"),
    ("./compose.yaml", "empty or '.' component"),
    ("images/", "empty or '.' component"),
    ("a\\b", "backslash"),
    ("a\nb", "control character"),
    ("", "empty name"),
])
def test_member_names(path: str, problem: str | None) -> None:
    found = path_problem(path)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_a_manifest_cannot_list_itself_or_an_unsafe_path() -> None:
    for bad in ("manifest.sig", "../x"):
        data = _manifest_json()
        files = data["files"]
        assert isinstance(files, list)
        files.insert(0, {"path": bad, "sha256": "5" * 64, "size": 1})
        with pytest.raises(ManifestInvalid):
            parse_manifest(_raw(data))
