"""`frostbyte bundle verify|trust|status` on real tar files built by the real build code:
a good bundle passes; every kind of damage, tampering, hostile member, foreign signature and
downgrade is refused with its own exit code and a message naming the problem."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from frostbyte_cli.main import Deps, app
from offline_bundle.build import Built
from offline_bundle.keys import fingerprint
from tests.integration.offline_bundle.conftest import (
    KEY_A,
    KEY_B,
    BuildFn,
    copy_of,
    keep,
    public_pem,
    regular,
    rewrite,
)

FP_A, FP_B = fingerprint(KEY_A), fingerprint(KEY_B)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["bundle", *args], obj=Deps(width=200))
    return result.exit_code, result.output


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An install home with KEY_A pinned through the real `trust` command."""
    folder = tmp_path / "home"
    code, out = run("trust", str(public_pem(KEY_A, tmp_path / "a.pub")), "--home", str(folder))
    assert code == 0, out
    assert FP_A in out
    return folder


def verify(path: Path, home: Path, *extra: str) -> tuple[int, str]:
    return run("verify", str(path), "--home", str(home), *extra)


def install(home: Path, built: Built, which: str = "current") -> None:
    """What loading a bundle leaves behind: a release folder holding its manifest."""
    folder = home / which
    folder.mkdir(parents=True)
    with tarfile.open(built.path) as tar:
        stream = tar.extractfile("manifest.json")
        assert stream is not None
        (folder / "manifest.json").write_bytes(stream.read())


# -- passes ----------------------------------------------------------------------------------


def test_a_good_bundle_passes_and_says_what_it_holds(good: Built, home: Path) -> None:
    code, out = verify(good.path, home)
    assert code == 0, out
    assert "bundle verified" in out and "version 0.2.0" in out and "first install" in out
    assert f"{len(good.manifest.files)} files" in out
    assert f"pinned key {FP_A}" in out
    for name in ("clamd", "dataplane", "gateway", "postgres", "s3"):
        assert f"localhost/frostbyte/{name}:0.1.0" in out


def test_json_output_for_scripts(good: Built, home: Path) -> None:
    code, out = verify(good.path, home, "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["ok"] is True and data["version"] == "0.2.0" and data["signer"] == FP_A
    assert [i["name"] for i in data["images"]] == ["clamd", "dataplane", "gateway",
                                                   "postgres", "s3"]
    assert data["tar_bytes"] == good.size


def test_an_explicit_public_key_replaces_the_pinned_ones(good: Built, tmp_path: Path) -> None:
    empty_home = tmp_path / "nothing-pinned"
    code, out = verify(good.path, empty_home, "--public-key",
                       str(public_pem(KEY_A, tmp_path / "a.pub")))
    assert code == 0, out
    code, out = verify(good.path, empty_home, "--public-key",
                       str(public_pem(KEY_B, tmp_path / "b.pub")))
    assert code == 5 and FP_B[:16] in out and FP_A in out


# -- integrity (exit 3) ----------------------------------------------------------------------


def test_one_flipped_byte_in_an_image_archive_is_refused(good: Built, home: Path,
                                                         tmp_path: Path) -> None:
    path = copy_of(good, tmp_path)
    with tarfile.open(path) as tar:
        member = tar.getmember("images/dataplane.tar")
    with path.open("r+b") as handle:
        handle.seek(member.offset_data + 1000)
        byte = handle.read(1)
        handle.seek(member.offset_data + 1000)
        handle.write(bytes([byte[0] ^ 0x01]))
    code, out = verify(path, home)
    assert code == 3, out
    assert "REFUSED (integrity check)" in out
    listed = next(f for f in good.manifest.files if f.path == "images/dataplane.tar")
    with tarfile.open(path) as tar:
        stream = tar.extractfile("images/dataplane.tar")
        assert stream is not None
        found = hashlib.sha256(stream.read()).hexdigest()
    assert (f"altered: images/dataplane.tar sha256 {found[:12]}…, the manifest says "
            f"{listed.sha256[:12]}…") in out
    assert "what to do:" in out


def test_an_added_file_is_refused(good: Built, home: Path, tmp_path: Path) -> None:
    path = rewrite(good.path, tmp_path / "added.tar", keep,
                   extra=[regular("images/backdoor.tar", b"surprise")])
    code, out = verify(path, home)
    assert code == 3, out
    assert "unexpected: images/backdoor.tar is in the bundle but not in the manifest" in out


def test_a_removed_file_is_refused(good: Built, home: Path, tmp_path: Path) -> None:
    path = rewrite(good.path, tmp_path / "removed.tar",
                   lambda m, d: [] if m.name == "clamav/frostbyte-test.ndb" else [(m, d)])
    code, out = verify(path, home)
    assert code == 3, out
    assert "missing: clamav/frostbyte-test.ndb is listed in the manifest but not in the " \
           "bundle" in out


def test_a_truncated_tar_is_refused(good: Built, home: Path, tmp_path: Path) -> None:
    path = copy_of(good, tmp_path)
    with path.open("r+b") as handle:
        handle.truncate(good.size // 2)
    code, out = verify(path, home)
    assert code == 3, out
    assert "truncated" in out or "not a readable tar" in out


def test_something_that_is_not_a_tar_is_refused(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "frostbyte-bundle-9.tar"
    path.write_bytes(b"not a tar at all\n" * 100)
    code, out = verify(path, home)
    assert code == 3 and "not a readable tar" in out


def test_a_tampered_manifest_with_files_to_match_is_refused(good: Built, home: Path,
                                                            tmp_path: Path) -> None:
    """Rewriting the manifest consistently (a new version, still canonical, aggregate right)
    passes integrity, and the signature catches it."""
    from offline_bundle.manifest import Manifest, parse_manifest

    def bump(member: tarfile.TarInfo, data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
        if member.name != "manifest.json":
            return [(member, data)]
        m = parse_manifest(data)
        forged = Manifest(version="9.0.0", created=m.created, signer=m.signer,
                          signatures_date=m.signatures_date, images=m.images, files=m.files,
                          aggregate_sha256=m.aggregate_sha256).to_bytes()
        return [regular("manifest.json", forged)]

    code, out = verify(rewrite(good.path, tmp_path / "forged.tar", bump), home)
    assert code == 5, out
    assert "REFUSED (signature check)" in out
    assert f"not a valid signature of manifest.json by key {FP_A}" in out
    assert "altered after signing" in out


def test_a_path_that_is_not_a_bundle_file_is_an_error_not_a_refusal(home: Path,
                                                                    tmp_path: Path) -> None:
    code, out = verify(tmp_path / "nowhere.tar", home)
    assert code == 1 and "cannot open" in out and "REFUSED" not in out
    code, out = verify(tmp_path, home)
    assert code == 1 and "cannot open" in out


# -- unsafe members (exit 4) -----------------------------------------------------------------


def test_a_path_traversal_member_is_refused(good: Built, home: Path, tmp_path: Path) -> None:
    path = rewrite(good.path, tmp_path / "traversal.tar", keep,
                   extra=[regular("../../etc/cron.d/evil", b"* * * * * root sh\n")])
    code, out = verify(path, home)
    assert code == 4, out
    assert "'../../etc/cron.d/evil'" in out and "path traversal" in out


def test_an_absolute_member_is_refused(good: Built, home: Path, tmp_path: Path) -> None:
    path = rewrite(good.path, tmp_path / "absolute.tar", keep,
                   extra=[regular("/etc/passwd", b"root::0:0::/:/bin/sh\n")])
    code, out = verify(path, home)
    assert code == 4 and "absolute path" in out


def test_a_symlink_member_is_refused(good: Built, home: Path, tmp_path: Path) -> None:
    link = tarfile.TarInfo("models/all-MiniLM-L6-v2/vocab.txt")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/shadow"
    path = rewrite(good.path, tmp_path / "symlink.tar", keep, extra=[(link, b"")])
    code, out = verify(path, home)
    assert code == 4, out
    assert "is a symlink (to '/etc/shadow')" in out and "regular files only" in out


def test_a_member_that_appears_twice_is_refused(good: Built, home: Path,
                                                tmp_path: Path) -> None:
    path = rewrite(good.path, tmp_path / "twice.tar", keep,
                   extra=[regular("compose.yaml", b"services: {evil: {}}\n")])
    code, out = verify(path, home)
    assert code == 4 and "'compose.yaml' appears twice" in out


# -- signature (exits 5 and 6) ---------------------------------------------------------------


def test_a_bundle_signed_by_another_key_is_refused(make_bundle: BuildFn, home: Path) -> None:
    foreign = make_bundle(key=KEY_B)
    code, out = verify(foreign.path, home)
    assert code == 5, out
    assert f"signed by key {FP_B}, which is not pinned" in out
    assert FP_A[:16] in out  # the key that is pinned


def test_a_missing_signature_is_refused(good: Built, home: Path, tmp_path: Path) -> None:
    path = rewrite(good.path, tmp_path / "unsigned.tar",
                   lambda m, d: [] if m.name == "manifest.sig" else [(m, d)])
    code, out = verify(path, home)
    assert code == 5 and "not signed" in out


def test_without_a_pinned_key_it_says_how_to_pin_one(good: Built, tmp_path: Path) -> None:
    code, out = verify(good.path, tmp_path / "empty-home")
    assert code == 6, out
    assert "frostbyte bundle trust" in out and FP_A in out


# -- version (exit 7) ------------------------------------------------------------------------


def test_an_older_signed_bundle_is_refused(make_bundle: BuildFn, good: Built,
                                           home: Path) -> None:
    install(home, good)
    older = make_bundle(version="0.1.0")
    code, out = verify(older.path, home)
    assert code == 7, out
    assert "bundle version 0.1.0 is older than the installed version 0.2.0" in out
    assert "--allow-downgrade" in out
    code, out = verify(older.path, home, "--allow-downgrade")
    assert code == 0 and "downgrade" in out


def test_the_same_and_a_newer_version_pass(make_bundle: BuildFn, good: Built,
                                           home: Path) -> None:
    install(home, good)
    code, out = verify(good.path, home)
    assert code == 0 and "same version from 0.2.0" in out
    code, out = verify(make_bundle(version="0.10.0").path, home)
    assert code == 0 and "upgrade from 0.2.0" in out


def test_a_broken_install_home_is_reported(good: Built, home: Path) -> None:
    (home / "current").mkdir()
    (home / "current" / "manifest.json").write_text("{}")
    code, out = verify(good.path, home)
    assert code == 8 and "current release" in out


def test_a_refusal_as_json(good: Built, tmp_path: Path) -> None:
    code, out = verify(good.path, tmp_path / "empty-home", "--json")
    assert code == 6
    data = json.loads(out)
    assert data["ok"] is False and data["code"] == "NO_TRUSTED_KEY"
    assert data["step"] == "signature" and "frostbyte bundle trust" in data["hint"]


# -- trust and status ------------------------------------------------------------------------


def test_trust_is_idempotent_and_checks_an_expected_fingerprint(home: Path,
                                                                tmp_path: Path) -> None:
    code, out = run("trust", str(public_pem(KEY_A, tmp_path / "a2.pub")), "--home", str(home))
    assert code == 0 and "already pinned" in out
    code, out = run("trust", str(public_pem(KEY_B, tmp_path / "b.pub")), "--home", str(home),
                    "--expect-fingerprint", FP_A)
    assert code == 1 and f"has fingerprint {FP_B}, not {FP_A}" in out
    assert not (home / "trusted-keys" / f"{FP_B}.pub").exists()


def test_trust_refuses_a_file_that_is_not_a_public_key(home: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pub"
    bogus.write_text("hello\n")
    code, out = run("trust", str(bogus), "--home", str(home))
    assert code == 1 and "not a PEM public key" in out


def test_status_shows_installed_previous_and_pinned(make_bundle: BuildFn, good: Built,
                                                   home: Path) -> None:
    code, out = run("status", "--home", str(home))
    assert code == 0 and "installed: none" in out and FP_A in out
    install(home, good)
    install(home, make_bundle(version="0.1.0"), which="previous")
    code, out = run("status", "--home", str(home), "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["installed"]["version"] == "0.2.0"
    assert data["previous"]["version"] == "0.1.0"
    assert data["pinned_keys"] == [FP_A]


def test_the_home_comes_from_the_environment(good: Built, home: Path) -> None:
    result = CliRunner().invoke(app, ["bundle", "verify", str(good.path)],
                                obj=Deps(width=200), env={"FROSTBYTE_OFFLINE_HOME": str(home)})
    assert result.exit_code == 0, result.output
    shutil.rmtree(home / "trusted-keys")
    result = CliRunner().invoke(app, ["bundle", "verify", str(good.path)],
                                obj=Deps(width=200), env={"FROSTBYTE_OFFLINE_HOME": str(home)})
    assert result.exit_code == 6
