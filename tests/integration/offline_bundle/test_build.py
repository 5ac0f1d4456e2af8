"""The build on synthetic inputs: what the tar holds, its SBOMs, deterministic headers and
bytes, the signature openssl also checks, and `python -m offline_bundle build` end to end
(development key, release key, missing inputs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from offline_bundle.build import BuildInputs, Built, build_bundle
from offline_bundle.inputs import (
    default_clamav_dir,
    default_model_dir,
    load_images,
    signatures_date,
)
from offline_bundle.keys import fingerprint
from offline_bundle.manifest import parse_manifest
from tests.integration.offline_bundle.conftest import (
    CREATED,
    IMAGES,
    KEY_A,
    public_pem,
    write_images,
)

ROOT = Path(__file__).resolve().parents[3]


def _members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return tar.getmembers()


def _read(path: Path, name: str) -> bytes:
    with tarfile.open(path) as tar:
        stream = tar.extractfile(name)
        assert stream is not None
        return stream.read()


def test_the_tar_holds_everything_the_manifest_lists_and_nothing_else(good: Built) -> None:
    names = [m.name for m in _members(good.path)]
    assert names[-2:] == ["manifest.json", "manifest.sig"]
    assert names[:-2] == sorted(names[:-2]) == [f.path for f in good.manifest.files]
    for name in IMAGES:
        assert f"images/{name}.tar" in names and f"sbom/{name}.cdx.json" in names
    assert {"compose.yaml", "clamav/frostbyte-test.ndb", "clamav/SIGNATURES_DATE",
            "models/all-MiniLM-L6-v2/config.json",
            "models/all-MiniLM-L6-v2/1_Pooling/config.json",
            "models/all-MiniLM-L6-v2/model.safetensors"} <= set(names)
    assert _read(good.path, "clamav/SIGNATURES_DATE") == b"2026-11-29T21:18:13Z\n"
    manifest = parse_manifest(_read(good.path, "manifest.json"))
    assert manifest == good.manifest and manifest.signer == fingerprint(KEY_A)
    assert [(i.name, i.digest) for i in manifest.images][:2] == [
        ("clamd", f"sha256:{0:064x}"), ("dataplane", f"sha256:{1:064x}")]


def test_headers_are_deterministic_regular_files_owned_by_root(good: Built) -> None:
    for member in _members(good.path):
        assert member.isreg()
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
        assert member.mtime == int(CREATED.timestamp()) and member.mode == 0o644


def test_the_same_inputs_give_the_same_bytes(inputs: BuildInputs, good: Built,
                                             tmp_path: Path) -> None:
    again = build_bundle(inputs, out_dir=tmp_path, version="0.2.0", created=CREATED, key=KEY_A)
    assert again.path.read_bytes() == good.path.read_bytes()


def test_one_sbom_per_image_with_debian_and_python_purls(good: Built) -> None:
    sbom = json.loads(_read(good.path, "sbom/dataplane.cdx.json"))
    assert sbom["bomFormat"] == "CycloneDX" and sbom["specVersion"] == "1.6"
    assert sbom["metadata"]["component"]["type"] == "container"
    assert sbom["metadata"]["component"]["name"] == "dataplane"
    purls = {c["purl"] for c in sbom["components"]}
    assert purls == {
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u9?arch=amd64",
        "pkg:deb/debian/dataplane-bin@1:1.0-1?arch=amd64",
        "pkg:pypi/typing-extensions@4.12.2",
        "pkg:pypi/frostbyte@0.1.0",
    }
    gateway = json.loads(_read(good.path, "sbom/gateway.cdx.json"))
    assert {c["purl"] for c in gateway["components"]} == {
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u9?arch=amd64",
        "pkg:deb/debian/gateway-bin@1:1.0-1?arch=amd64"}


def test_the_sboms_are_valid_cyclonedx(good: Built) -> None:
    from cyclonedx.exception import MissingOptionalDependencyException
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    validator = JsonStrictValidator(SchemaVersion.V1_6)
    for name in IMAGES:
        try:
            error = validator.validate_str(_read(good.path, f"sbom/{name}.cdx.json").decode())
        except MissingOptionalDependencyException:
            pytest.skip("cyclonedx validation needs jsonschema, not installed here")
        assert error is None, f"{name}: {error}"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl")
def test_openssl_checks_the_signature_too(good: Built, tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_bytes(_read(good.path, "manifest.json"))
    (tmp_path / "manifest.sig").write_bytes(_read(good.path, "manifest.sig"))
    done = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey",
                           str(public_pem(KEY_A, tmp_path / "a.pub")), "-rawin", "-in",
                           str(tmp_path / "manifest.json"), "-sigfile",
                           str(tmp_path / "manifest.sig")], capture_output=True, text=True)
    assert done.returncode == 0 and "Signature Verified Successfully" in done.stdout


def test_signatures_date_reads_freshclam_headers(tmp_path: Path) -> None:
    header = b"ClamAV-VDB:14 Nov 2026 08-23 -0500:27455:355000:90:sig:clamav:1700000000"
    (tmp_path / "daily.cvd").write_bytes(header.ljust(512, b" ") + b"\x1f\x8b rest")
    (tmp_path / "main.cvd").write_bytes(
        b"ClamAV-VDB:16 Sep 2021 08-32 -0400:62:6647427:90:x".ljust(512, b" "))
    assert signatures_date(tmp_path) == "2026-11-14T13:23:00Z"


def test_the_default_inputs_are_the_shipped_model_and_signatures() -> None:
    assert (default_model_dir() / "config.json").is_file()
    assert (default_clamav_dir() / "frostbyte-test.ndb").is_file()


def test_images_json_as_images_build_writes_it(tmp_path: Path) -> None:
    """``{"images": [...]}``, an archive named by file name or null (``<name>.tar``), and a
    package dpkg knows but that is not installed (no version): left out of the SBOM."""
    folder = write_images(tmp_path / "images")
    listing = json.loads((folder / "images.json").read_text())
    listing[0]["archive"] = None
    (folder / "images.json").write_text(json.dumps({"images": listing}))
    inventory = json.loads((folder / "clamd.inventory.json").read_text())
    inventory["debian"].append({"name": "old-conffiles", "version": "", "arch": "amd64"})
    (folder / "clamd.inventory.json").write_text(json.dumps(inventory))
    images = load_images(folder)
    assert [i.name for i in images] == list(IMAGES)
    assert images[0].archive == folder / "clamd.tar"
    assert [p.name for p in images[0].debian] == ["clamd-bin", "libc6"]


# -- python -m offline_bundle build ----------------------------------------------------------


def _build_cli(root: Path, *args: str, env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "FROSTBYTE_BUNDLE_SIGNING_KEY"}
    return subprocess.run(
        [sys.executable, "-m", "offline_bundle", "build", "--root", str(root),
         "--images-dir", str(root / "images"), "--compose", str(root / "compose.yaml"),
         "--model-dir", str(root / "model"), "--clamav-dir", str(root / "clamav"), *args],
        capture_output=True, text=True, cwd=ROOT, env={**base, **(env or {})}, timeout=60)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    write_images(root / "images")
    (root / "compose.yaml").write_text("services: {}\n")
    (root / "model").mkdir()
    (root / "model" / "config.json").write_text("{}\n")
    (root / "clamav").mkdir()
    (root / "clamav" / "x.ndb").write_text("x\n")
    return root


def test_build_with_the_development_key_says_so_and_verifies(checkout: Path,
                                                             tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from frostbyte_cli.main import Deps, app

    done = _build_cli(checkout, "--version", "0.3.0")
    assert done.returncode == 0, done.stderr
    key_file = checkout / ".local" / "bundle" / "signing-key.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    dev_key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert isinstance(dev_key, Ed25519PrivateKey)
    assert "signed with the DEVELOPMENT key" in done.stderr
    assert fingerprint(dev_key) in done.stderr
    assert "for tests and development only" in done.stderr
    assert "bundle size:" in done.stdout and "build time:" in done.stdout
    bundle = checkout / "dist" / "frostbyte-bundle-0.3.0.tar"
    result = CliRunner().invoke(app, [
        "bundle", "verify", str(bundle), "--home", str(tmp_path / "h"), "--public-key",
        str(key_file.with_suffix(".pub"))], obj=Deps(width=200))
    assert result.exit_code == 0, result.output
    # the same key next time, not a new one
    again = _build_cli(checkout, "--version", "0.3.1")
    assert again.returncode == 0 and fingerprint(dev_key) in again.stderr


def test_build_with_a_release_key_from_the_environment(checkout: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "release.pem"
    key_file.write_bytes(KEY_A.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    done = _build_cli(checkout, "--version", "0.3.0",
                      env={"FROSTBYTE_BUNDLE_SIGNING_KEY": str(key_file)})
    assert done.returncode == 0, done.stderr
    assert "DEVELOPMENT" not in done.stderr + done.stdout
    assert f"signed by {fingerprint(KEY_A)}" in done.stdout
    assert not (checkout / ".local").exists()


def test_build_without_images_says_to_run_make_images(checkout: Path) -> None:
    (checkout / "images" / "images.json").unlink()
    done = _build_cli(checkout)
    assert done.returncode == 1
    assert "the image list is missing" in done.stderr and "make images" in done.stderr
    assert not list(checkout.glob("dist/*"))
    assert not (checkout / ".local").exists()  # a build that cannot run makes no key


def test_build_refuses_a_missing_archive_and_leaves_no_partial_tar(checkout: Path) -> None:
    (checkout / "images" / "s3.tar").unlink()
    done = _build_cli(checkout)
    assert done.returncode == 1 and "the archive of image s3 is missing" in done.stderr
    assert not list(checkout.glob("dist/*"))
