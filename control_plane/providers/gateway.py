"""The TLS gateway of a local tenant: an nginx (Debian's ``nginx-light``) per tenant that
terminates HTTPS on the tenant's loopback port with the certificate the control plane's CA
issued, and proxies to the data plane's API on a Unix socket (SPEC §7: only the gateway faces
vendors). The image set runs the same server in its ``gateway`` image.
"""

from __future__ import annotations

import ipaddress
import shutil
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from control_plane.errors import ProvisioningFailed

_TEMPLATES = Environment(loader=PackageLoader("control_plane.providers", "templates"),
                         undefined=StrictUndefined, keep_trailing_newline=True,
                         autoescape=False)  # noqa: S701 - an nginx config, not HTML


@dataclass(frozen=True, slots=True)
class GatewayFiles:
    """Where a tenant's gateway keeps its config, key, certificate and scratch space."""

    root: Path  # <tenant>/gateway, 0700

    @property
    def config(self) -> Path:
        return self.root / "nginx.conf"

    @property
    def key(self) -> Path:
        return self.root / "server.key"

    @property
    def certificate(self) -> Path:
        """The server certificate followed by the CA's."""
        return self.root / "server.crt"

    @property
    def nginx_pid(self) -> Path:
        return self.root / "nginx.pid"

    @property
    def temp(self) -> Path:
        return self.root / "tmp"

    def make(self) -> None:
        for folder in (self.root, self.temp):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)


def nginx_binary() -> str:
    """nginx's path; ProvisioningFailed naming the Debian package when it is missing."""
    found = shutil.which("nginx") or next(
        (str(p) for p in (Path("/usr/sbin/nginx"), Path("/usr/bin/nginx")) if p.exists()), None)
    if found is None:
        raise ProvisioningFailed(
            "nginx is not installed (Debian package nginx-light): it is the TLS gateway "
            "in front of every local tenant's data plane; `make install` installs it")
    return found


def listen_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ipaddress.ip_address(host).version == 6 else f"{host}:{port}"


def render_config(files: GatewayFiles, *, slug: str, host: str, port: int, socket: Path,
                  error_log: Path | str, user: str | None) -> str:
    """The nginx config of one tenant's gateway. ``user``: whom its worker processes run
    as (the tenant's own account: they reach the API's socket, nothing of another tenant),
    None to leave nginx's user alone (we are not root). The master, started by root, reads
    the root-only key and certificate and binds the port; it never runs tenant input.
    ``error_log``: a file, or ``stderr``; the access log (JSON lines) goes to the same place
    (``access.log`` beside a file)."""
    access_log = "/dev/stderr" if str(error_log) == "stderr" \
        else Path(error_log).with_name("access.log")
    return _TEMPLATES.get_template("gateway-nginx.conf.j2").render(
        slug=slug, user=user, pid_file=files.nginx_pid, error_log=error_log,
        access_log=access_log,
        temp=files.temp, socket=socket, listen=listen_address(host, port),
        certificate=files.certificate, key=files.key)


def nginx_argv(binary: str, files: GatewayFiles, error_log: Path | str) -> list[str]:
    """Run in the foreground (the caller detaches and records the pid); ``-e`` keeps nginx
    off the system's log before it has read the config."""
    return [binary, "-e", str(error_log), "-p", str(files.root), "-c", str(files.config),
            "-g", "daemon off;"]
