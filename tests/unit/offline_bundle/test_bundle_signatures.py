"""ClamAV signatures in the offline bundle (issue 16, finding 9): the bundle records the
version and date of each database it ships (``clamav/SIGNATURES.json``, listed and so
signed in the manifest), and a newer signature folder can be put onto an installed set
without a new bundle (``Installer.install_signatures``: fill the volume, restart clamd,
wait until /readyz is 200 — which it is only with an official database)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from offline_bundle.home import InstallHome
from offline_bundle.inputs import signature_databases
from offline_bundle.install import WrongState
from tests.integration.offline_bundle.conftest import KEY_A, write_inputs
from tests.unit.offline_bundle.test_install import FakeEngine, Quick, bundle

DAILY = b"ClamAV-VDB:30 Nov 2026 09-34 +0000:27470:2077315:90:md5:dsig:svc:1796031240"
MAIN = b"ClamAV-VDB:16 Sep 2021 08-32 -0400:62:6647427:90:md5:dsig:svc:1631795520"


def _official(folder: Path) -> Path:
    folder.mkdir()
    (folder / "main.cvd").write_bytes(MAIN.ljust(512, b" ") + b"\x1f\x8b main")
    (folder / "daily.cld").write_bytes(DAILY.ljust(512, b" ") + b"daily")
    (folder / "daily.cvd").write_bytes(  # an older .cvd beside the updated .cld
        DAILY.replace(b":27470:", b":27400:").ljust(512, b" "))
    return folder


def _installer(tmp_path: Path) -> tuple[Quick, FakeEngine]:
    home = InstallHome(tmp_path / "home")
    home.pin(KEY_A.public_key())
    said: list[str] = []
    installer = Quick(home, say=said.append)
    engine = FakeEngine()
    installer._engine = engine  # type: ignore[assignment]
    return installer, engine


def test_the_bundle_records_each_databases_version_and_date(tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path / "in")
    _official(tmp_path / "sigs")
    for path in (tmp_path / "sigs").iterdir():
        path.replace(inputs.clamav_dir / path.name)
    built = bundle(inputs, tmp_path / "out", "0.2.0")
    with tarfile.open(built) as tar:
        member = tar.extractfile("clamav/SIGNATURES.json")
        assert member is not None
        record = json.loads(member.read())
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert record["official"] is True
    assert record["databases"]["daily"] == {"file": "daily.cld", "version": 27470,
                                            "signatures": 2077315,
                                            "published": "2026-11-30T09:34:00Z"}
    assert record["databases"]["main"]["version"] == 62
    assert "clamav/SIGNATURES.json" in {f["path"] for f in manifest["files"]}


def test_test_signatures_are_recorded_as_not_official(tmp_path: Path) -> None:
    assert signature_databases(write_inputs(tmp_path / "in").clamav_dir) == {}


def test_a_newer_folder_goes_onto_the_installed_set_and_clamd_restarts(tmp_path: Path) -> None:
    installer, engine = _installer(tmp_path)
    with pytest.raises(WrongState, match="nothing is installed"):
        installer.install_signatures(_official(tmp_path / "sigs"))
    installer.load(bundle(write_inputs(tmp_path / "in"), tmp_path / "d", "0.2.0"),
                   tenant="acme", publish="127.0.0.1:8443")
    engine.calls.clear()
    installer.install_signatures(tmp_path / "sigs")
    assert engine.calls[0] == ("fill", "frostbyte-acme_clamav-db", "daily.cld", "daily.cvd",
                               "main.cvd")
    assert ("run", "restart", "frostbyte-acme_clamd_1") in engine.calls
