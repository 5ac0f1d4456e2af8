"""Which container engine an offline install uses, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from offline_bundle.engine import EngineFailed, detect


def fake_commands(folder: Path, *names: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = folder / name
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)
    return str(folder)


def test_podman_without_its_network_helpers_is_refused_with_what_to_install(
        tmp_path: Path) -> None:
    path = fake_commands(tmp_path / "bin", "podman", "podman-compose")
    helpers = tmp_path / "lib-podman"
    fake_commands(helpers, "netavark")  # aardvark-dns missing
    with pytest.raises(EngineFailed, match="without aardvark-dns") as refused:
        detect({"PATH": path}, tmp_path / "containers.conf", helper_dirs=[str(helpers)])
    assert "apt install netavark aardvark-dns" in refused.value.hint


def test_podman_with_its_network_helpers_is_used_with_the_installs_settings(
        tmp_path: Path) -> None:
    path = fake_commands(tmp_path / "bin", "podman", "podman-compose")
    helpers = tmp_path / "lib-podman"
    fake_commands(helpers, "netavark", "aardvark-dns")
    engine = detect({"PATH": path}, tmp_path / "containers.conf", helper_dirs=[str(helpers)])
    assert engine.name == "podman"
    assert engine.env["CONTAINERS_CONF"] == str(tmp_path / "containers.conf")


def test_neither_engine_is_refused(tmp_path: Path) -> None:
    path = fake_commands(tmp_path / "bin")
    with pytest.raises(EngineFailed, match="neither podman nor docker"):
        detect({"PATH": path}, tmp_path / "containers.conf")
