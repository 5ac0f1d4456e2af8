"""``python -m data_plane clamd-config``: the playbooks' process engine writes the config its
clamd runs with from this command, so a host's clamd is configured as the local provider's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from data_plane.__main__ import main
from data_plane.adapters.clamav.daemon import render_config


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
