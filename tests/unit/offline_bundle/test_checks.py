"""The integrity and signature checks as pure functions: each finding names the file or the
key, with what was expected and what was found."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from offline_bundle.checks import check_signature, file_problems, listed, member_problem
from offline_bundle.errors import NoTrustedKey, SignatureInvalid
from offline_bundle.keys import fingerprint
from offline_bundle.manifest import FileEntry, Manifest, build_manifest

KEY_A = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
KEY_B = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
LISTED = (FileEntry("compose.yaml", "a" * 64, 10), FileEntry("images/x.tar", "b" * 64, 20))


def _signed(key: Ed25519PrivateKey) -> tuple[Manifest, bytes, bytes]:
    manifest = build_manifest(version="0.2.0", created=datetime(2026, 12, 1, tzinfo=UTC),
                              signer=fingerprint(key), signatures_date=None, images=[],
                              files=list(LISTED))
    raw = manifest.to_bytes()
    return manifest, raw, key.sign(raw)


def test_matching_files_have_no_problems() -> None:
    assert file_problems(LISTED, {f.path: f for f in LISTED}) == []


def test_missing_altered_and_unexpected_files_are_each_named() -> None:
    found = {
        "images/x.tar": FileEntry("images/x.tar", "c" * 64, 20),
        "extra.txt": FileEntry("extra.txt", "d" * 64, 1),
    }
    problems = file_problems(LISTED, found)
    assert problems == [
        "missing: compose.yaml is listed in the manifest but not in the bundle",
        f"altered: images/x.tar sha256 {'c' * 12}…, the manifest says {'b' * 12}…",
        "unexpected: extra.txt is in the bundle but not in the manifest",
    ]


def test_a_size_difference_is_reported_as_such() -> None:
    found = {f.path: f for f in LISTED} | {"compose.yaml": FileEntry("compose.yaml", "a" * 64,
                                                                       11)}
    assert file_problems(LISTED, found) == [
        "altered: compose.yaml is 11 bytes, the manifest says 10"]


def test_long_lists_are_capped_with_a_count() -> None:
    capped = listed([f"p{i}" for i in range(25)])
    assert len(capped) == 21 and capped[-1] == "… and 5 more"


@pytest.mark.parametrize(("kind", "ok"), [("file", True), ("directory", False),
                                          ("symlink (to '/etc/passwd')", False),
                                          ("device", False)])
def test_only_regular_files_are_members(kind: str, ok: bool) -> None:
    problem = member_problem("images/x.tar", kind)
    assert (problem is None) is ok
    if not ok:
        assert problem is not None and kind in problem


def test_the_signature_of_the_pinned_key_passes() -> None:
    manifest, raw, sig = _signed(KEY_A)
    pinned = {fingerprint(KEY_A): KEY_A.public_key()}
    assert check_signature(manifest, raw, sig, pinned, pinned_from="test") == fingerprint(KEY_A)


def test_no_pinned_key_is_its_own_refusal() -> None:
    manifest, raw, sig = _signed(KEY_A)
    with pytest.raises(NoTrustedKey) as caught:
        check_signature(manifest, raw, sig, {}, pinned_from="/home/trusted-keys")
    assert "frostbyte bundle trust" in caught.value.hint
    assert any("/home/trusted-keys" in p for p in caught.value.problems)


def test_a_bundle_signed_by_another_key_names_signer_and_pinned() -> None:
    manifest, raw, sig = _signed(KEY_B)
    pinned = {fingerprint(KEY_A): KEY_A.public_key()}
    with pytest.raises(SignatureInvalid) as caught:
        check_signature(manifest, raw, sig, pinned, pinned_from="test")
    assert fingerprint(KEY_B) in caught.value.message and "not pinned" in caught.value.message
    assert fingerprint(KEY_A)[:16] in caught.value.problems[0]


def test_an_altered_manifest_under_the_pinned_signer_is_refused() -> None:
    manifest, raw, sig = _signed(KEY_A)
    pinned = {fingerprint(KEY_A): KEY_A.public_key()}
    with pytest.raises(SignatureInvalid, match="altered after signing"):
        check_signature(manifest, raw.replace(b"0.2.0", b"0.3.0"), sig, pinned,
                        pinned_from="test")


def test_an_unsigned_bundle_is_refused() -> None:
    manifest, raw, _ = _signed(KEY_A)
    with pytest.raises(SignatureInvalid, match="not signed"):
        check_signature(manifest, raw, None, {fingerprint(KEY_A): KEY_A.public_key()},
                        pinned_from="test")
