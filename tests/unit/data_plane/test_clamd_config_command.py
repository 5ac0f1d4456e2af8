"""``python -m data_plane clamd-config``: the playbooks' process engine and the local provider
write the config their clamd runs with from this command, so a host's clamd is configured as
the local provider's; ``clamd-info`` tells the local provider where clamd and the shipped
signatures are (it does not import the data plane)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from data_plane.__main__ import main
from data_plane.adapters.clamav import SIGNATURES_DIR
from data_plane.adapters.clamav.daemon import clamd_binary, render_config
from data_plane.adapters.clamav.databases import SYSTEM_DATABASES, is_official


def test_the_command_prints_the_projects_clamd_config_without_any_settings(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("FROSTBYTE_DP_")]:
        monkeypatch.delenv(name)  # a host runs it before the data plane has an environment
    assert main(["clamd-config", "--socket", "/run/fb/clamd.sock", "--database", "/var/lib/c",
                 "--temp-dir", "/srv/fb/clamd/tmp", "--log-file", "/srv/fb/logs/clamd.log",
                 "--max-stream-bytes", str(600 * 1024 * 1024)]) == 0
    printed = capsys.readouterr().out
    assert printed == render_config(
        socket=Path("/run/fb/clamd.sock"), database=Path("/var/lib/c"),
        temp_dir=Path("/srv/fb/clamd/tmp"), log_file=Path("/srv/fb/logs/clamd.log"),
        max_stream_bytes=600 * 1024 * 1024)
    assert "LocalSocket /run/fb/clamd.sock" in printed and "StreamMaxLength 601M" in printed


def test_clamd_info_names_the_binary_and_the_shipped_signatures_without_any_settings(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("FROSTBYTE_DP_")]:
        monkeypatch.delenv(name)
    assert main(["clamd-info"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["binary"] == clamd_binary()
    if is_official(SYSTEM_DATABASES):  # freshclam has run on this host
        assert info["signatures"] == str(SYSTEM_DATABASES) and info["official"] is True
    else:
        assert info["signatures"] == str(SIGNATURES_DIR) and info["test_signatures"] is True
        assert (Path(info["signatures"]) / "frostbyte-test.ndb").is_file()
        assert info["official"] is False and info["databases"] == {}
