"""The ClamAV signature folder is configurable and described (issue 16, finding 9):
``clamd-info`` names FROSTBYTE_DP_CLAMD_SIGNATURES when set, with the versions and dates
of the official databases in it; ``clamd-config`` makes clamd pick up an updated folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from data_plane.__main__ import main
from data_plane.adapters.clamav import SIGNATURES_DIR
from data_plane.adapters.clamav.databases import describe, signatures_folder

DAILY = b"ClamAV-VDB:30 Nov 2026 09-34 +0000:27470:2077315:90:md5:dsig:svc:1796031240"
MAIN = b"ClamAV-VDB:16 Sep 2021 08-32 -0400:62:6647427:90:md5:dsig:svc:1631795520"


def _database(folder: Path, name: str, header: bytes) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(header.ljust(512, b" ") + b"\x1f\x8b body")


def test_clamd_info_names_the_configured_folder_and_its_databases(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "clamav"
    _database(folder, "main.cvd", MAIN)
    _database(folder, "daily.cld", DAILY)
    monkeypatch.setenv("FROSTBYTE_DP_CLAMD_SIGNATURES", str(folder))
    assert main(["clamd-info"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["signatures"] == str(folder)
    assert info["official"] is True and info["test_signatures"] is False
    assert info["databases"]["daily"] == {"version": 27470, "signatures": 2077315,
                                          "published": "2026-11-30T09:34:00Z"}
    assert info["databases"]["main"]["version"] == 62


def test_the_shipped_signatures_are_described_as_test_only() -> None:
    described = describe(SIGNATURES_DIR)
    assert described["test_signatures"] is True and described["official"] is False


def test_a_daily_without_main_is_not_official(tmp_path: Path) -> None:
    _database(tmp_path / "clamav", "daily.cvd", DAILY)
    assert describe(tmp_path / "clamav")["official"] is False
    assert signatures_folder({"FROSTBYTE_DP_CLAMD_SIGNATURES": "/srv/sigs"}) == Path("/srv/sigs")


def test_clamd_config_checks_its_folder_for_updates(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("FROSTBYTE_DP_")]:
        monkeypatch.delenv(name)
    base = ["clamd-config", "--socket", "/s", "--database", "/var/lib/clamav", "--temp-dir",
            "/t", "--log-file", "/l", "--max-stream-bytes", "1048576"]
    assert main(base) == 0
    assert "SelfCheck 600" in capsys.readouterr().out.splitlines()
    assert main([*base, "--self-check-s", "0"]) == 0
    assert "SelfCheck 0" in capsys.readouterr().out.splitlines()
