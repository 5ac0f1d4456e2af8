"""The control plane's certificate authority, kept in a folder of its state (SPEC §7).

``<folder>/ca.key`` (0600, in a 0700 folder) and ``<folder>/ca.pem`` are made on first use;
the CA certificate is what the CLI, the web page and vendors trust for every tenant endpoint.
Issued server keys are never kept here: the provider that asked for one installs it where the
tenant's gateway reads it.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Sequence
from pathlib import Path

from control_plane.adapters.private_files import write_private
from frostbyte_common import tls


class FileCertificateAuthority:
    """Implements :class:`control_plane.domain.ports.CertificateAuthority`."""

    def __init__(self, folder: Path, *, name: str = "Frostbyte tenant endpoints CA") -> None:
        self._folder = folder
        self._name = name
        self._lock = threading.Lock()
        self._authority: tls.KeyAndCertificate | None = None

    @property
    def certificate_file(self) -> Path:
        """The CA certificate (PEM), readable by anyone: it is public."""
        self._load()
        return self._folder / "ca.pem"

    def certificate_pem(self) -> str:
        return self._load().cert_pem

    def issue(self, hosts: Sequence[str], *, common_name: str) -> tls.KeyAndCertificate:
        return tls.issue_server(self._load(), hosts, common_name=common_name)

    def _load(self) -> tls.KeyAndCertificate:
        with self._lock:
            if self._authority is None:
                self._authority = self._load_or_make()
            return self._authority

    def _load_or_make(self) -> tls.KeyAndCertificate:
        self._folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        key_file, cert_file = self._folder / "ca.key", self._folder / "ca.pem"
        with (self._folder / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another control-plane process may be here too
            if not key_file.exists():
                made = tls.new_authority(self._name)
                write_private(key_file, made.key_pem.encode("ascii"))
                tmp = cert_file.with_suffix(".tmp")
                tmp.write_text(made.cert_pem, encoding="ascii")
                tmp.chmod(0o644)
                tmp.replace(cert_file)
            authority = tls.KeyAndCertificate(key_file.read_text(encoding="ascii"),
                                              cert_file.read_text(encoding="ascii"))
        if not tls.signed_by(authority.cert_pem, authority.cert_pem):
            raise ValueError(f"{cert_file} is not the self-signed certificate of {key_file}")
        return authority
