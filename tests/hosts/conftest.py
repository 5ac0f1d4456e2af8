"""The namespace test hosts need root, iproute2, nftables, OpenSSH's sshd, util-linux's
setpriv and PostgreSQL's and ClamAV's server binaries (the data plane runs for real)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hosts.harness import SSHD, Lab

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("control_plane", "data_plane", "frostbyte_common", "frostbyte_cli")
POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "nft", "ssh", "ssh-keygen", "setpriv"):
        if shutil.which(tool) is None:
            return f"needs {tool} (Debian: iproute2, nftables, openssh-client, util-linux)"
    if not Path(SSHD).exists():
        return "needs sshd (Debian: openssh-server)"
    if not (POSTGRES_BIN / "postgres").exists() or shutil.which("clamd") is None:
        return "needs PostgreSQL 15 and clamd (Debian: postgresql-15, clamav-daemon)"
    return None


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    # Directly under /tmp, 0755: the hosts' PostgreSQL runs as `postgres`, which must pass
    # through these folders (pytest's own tmp folders are 0700, root's).
    root = Path(tempfile.mkdtemp(prefix="fb-hosts-"))
    root.chmod(0o755)
    made = Lab(root)
    try:
        made.up()
        yield made
    finally:
        made.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def release_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this checkout (the process engine's release), built from a copy of the
    packages so the working tree gets no build folders."""
    source = tmp_path_factory.mktemp("release-src")
    shutil.copy2(ROOT / "pyproject.toml", source / "pyproject.toml")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("release")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--wheel-dir", str(out),
                    str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = out.glob("frostbyte-*.whl")
    return wheel


@pytest.fixture(scope="session")
def broken_wheel(release_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same release, except that every data-plane command fails at once (as a release
    whose migration breaks would)."""
    out = tmp_path_factory.mktemp("broken") / release_wheel.name
    with zipfile.ZipFile(release_wheel) as good, zipfile.ZipFile(out, "w") as bad:
        for item in good.infolist():
            data = good.read(item)
            if item.filename == "data_plane/__main__.py":
                data = b"raise SystemExit('this release never becomes ready')\n"
            bad.writestr(item, data)
    return out
