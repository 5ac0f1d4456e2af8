"""The namespace test hosts need root, iproute2, nftables and OpenSSH's sshd."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hosts.harness import SSHD, Lab


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "nft", "ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"needs {tool} (Debian: iproute2, nftables, openssh-client)"
    if not Path(SSHD).exists():
        return "needs sshd (Debian: openssh-server)"
    return None


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("hosts")
    root.chmod(0o755)
    made = Lab(root)
    try:
        made.up()
        yield made
    finally:
        made.close()
