"""The pure parts of ``frostbyte batch submit``: folders read recursively, files split into
batches within the limits, the manifests and the Idempotency-Keys derived from them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from frostbyte_cli.batching import (
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_BATCH_FILES,
    SourceFile,
    client_refs,
    collect_files,
    content_digest,
    digest_files,
    given_keys,
    idempotency_key_for,
    manifest_for,
    plan_batches,
)
from frostbyte_cli.client import CliError
from frostbyte_common.tenant_config import IntakeConfig


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def fake_files(n: int, size: int = 1, names: int | None = None) -> list[SourceFile]:
    return [SourceFile(path=Path(f"/x/{i}"), name=f"f{i % names if names else i}.txt",
                       relpath=f"d{i}/f{i}.txt", size=size) for i in range(n)]


def test_defaults_are_the_tenant_configs_defaults() -> None:
    intake = IntakeConfig()
    assert intake.max_batch_files == DEFAULT_MAX_BATCH_FILES
    assert intake.max_batch_bytes == DEFAULT_MAX_BATCH_BYTES


def test_folders_are_read_recursively_without_hidden_files_or_folders(tmp_path: Path) -> None:
    root = tree(tmp_path / "in", {"a.txt": b"a", "sub/b.txt": b"b", "sub/deeper/c.md": b"c",
                                  ".hidden": b"h", ".git/config": b"g", "sub/.x/d.txt": b"d"})
    loose = tree(tmp_path, {"loose.pdf": b"%PDF"}) / "loose.pdf"
    found = collect_files([root, loose, root / "a.txt"])  # a.txt given twice: sent once
    assert [(f.relpath, f.name, f.size) for f in found] == [
        ("a.txt", "a.txt", 1), ("sub/b.txt", "b.txt", 1), ("sub/deeper/c.md", "c.md", 1),
        ("loose.pdf", "loose.pdf", 4)]


def test_an_empty_folder_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "empty" / ".hidden").mkdir(parents=True)
    with pytest.raises(CliError) as info:
        collect_files([tmp_path / "empty"])
    assert info.value.code == "NO_FILES"


def test_1200_files_make_two_batches_of_1000_and_200_in_order() -> None:
    files = fake_files(1200)
    batches = plan_batches(files)
    assert [len(b) for b in batches] == [1000, 200]
    assert [f for b in batches for f in b] == files


def test_the_byte_limit_splits_too() -> None:
    batches = plan_batches(fake_files(10, size=300), max_files=1000, max_bytes=1000)
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert all(sum(f.size for f in b) <= 1000 for b in batches)


def test_two_files_of_one_name_never_share_a_batch() -> None:
    files = fake_files(6, names=2)  # f0.txt and f1.txt, three of each
    batches = plan_batches(files, max_files=100)
    assert len(batches) == 3
    for batch in batches:
        assert len({f.name for f in batch}) == len(batch)
    assert sorted(f.relpath for b in batches for f in b) == sorted(f.relpath for f in files)


def test_a_file_over_the_byte_limit_is_refused_before_anything_is_sent() -> None:
    files = [*fake_files(2, size=10), SourceFile(Path("/x/big"), "big.pdf", "big.pdf", 2000)]
    with pytest.raises(CliError) as info:
        plan_batches(files, max_bytes=1000)
    assert info.value.code == "FILE_TOO_LARGE" and "big.pdf" in info.value.message


def test_hashing_reports_every_byte_and_the_manifest_carries_the_sub_folder_path(
        tmp_path: Path) -> None:
    big = bytes(range(256)) * 5000  # > 1 MiB: two blocks
    root = tree(tmp_path / "in", {"a.txt": b"alpha", "sub/big.bin": big})
    files = collect_files([root])
    seen: list[int] = []
    entries = digest_files(files, seen.append)
    assert sum(seen) == 5 + len(big) and len(seen) == 3
    manifest = manifest_for(files, entries, "ref")
    assert manifest == {"client_ref": "ref", "files": [
        {"name": "a.txt", "sha256": hashlib.sha256(b"alpha").hexdigest(), "size": 5},
        {"name": "big.bin", "sha256": hashlib.sha256(big).hexdigest(), "size": len(big),
         "metadata": {"path": "sub/big.bin"}}]}


def test_the_key_is_derived_from_the_manifest_and_fits_the_servers_rule() -> None:
    manifest = {"client_ref": "r", "files": [{"name": "a.txt", "sha256": "0" * 64, "size": 1}]}
    key = idempotency_key_for(manifest)
    assert key == idempotency_key_for(json.loads(json.dumps(manifest)))
    assert key == "fbcli1-" + hashlib.sha256(json.dumps(
        manifest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert len(key) <= 255 and all("!" <= c <= "~" for c in key)
    for changed in ({**manifest, "client_ref": "r2"},
                    {**manifest, "files": [{**manifest["files"][0], "size": 2}]},
                    {**manifest, "files": [{**manifest["files"][0], "name": "b.txt"}]}):
        assert idempotency_key_for(changed) != key


def test_a_rerun_builds_the_same_refs_and_keys(tmp_path: Path) -> None:
    root = tree(tmp_path / "in", {f"d{i % 3}/f{i}.txt": b"x%d" % i for i in range(7)})

    def build() -> list[str]:
        files = collect_files([root])
        entries = digest_files(files)
        batches = plan_batches(files, max_files=3)
        refs = client_refs(None, [content_digest(b, entries) for b in batches])
        return [idempotency_key_for(manifest_for(b, entries, r))
                for b, r in zip(batches, refs, strict=True)]

    first = build()
    assert first == build() and len(set(first)) == 3
    (root / "d2" / "f9.txt").write_bytes(b"added last")  # sorted after every other file
    grown = build()
    assert grown[:2] == first[:2] and grown[2] != first[2]  # only the last batch changed
    (root / "d0" / "f0.txt").write_bytes(b"changed")
    assert build()[0] != first[0]


def test_client_refs_number_several_batches() -> None:
    digests = ["ab" * 32, "cd" * 32]
    assert client_refs("Nov invoices", digests[:1]) == ["Nov invoices"]
    assert client_refs("Nov invoices", digests) == ["Nov invoices (1/2)", "Nov invoices (2/2)"]
    assert client_refs(None, digests) == ["frostbyte-cli-" + "ab" * 8,
                                          "frostbyte-cli-" + "cd" * 8]
    with pytest.raises(CliError):
        client_refs("x" * 256, digests)


def test_a_given_key_gets_a_suffix_per_batch_and_must_stay_valid() -> None:
    assert given_keys("k", 1) == ["k"]
    assert given_keys("k", 3) == ["k-1", "k-2", "k-3"]
    for bad, count in (("x" * 254, 2), ("has space", 1), ("", 1)):
        with pytest.raises(CliError) as info:
            given_keys(bad, count)
        assert info.value.code == "INVALID_IDEMPOTENCY_KEY"
