"""Where the CLI connects: flags, then environment, then the local stack's state.

Control plane: ``--url`` / ``FROSTBYTE_URL``, else ``http://127.0.0.1:8000`` (the local
stack's default port); ``--admin-token`` / ``FROSTBYTE_ADMIN_TOKEN``, else the file
``<state dir>/admin_token`` that ``frostbyte local up`` writes (mode 0600). The state dir is
``$FROSTBYTE_STATE_DIR`` or ``<project root>/.local``, the project root being the nearest
directory holding ``pyproject.toml`` from the working directory upwards (else the working
directory itself).

Tenant endpoint: ``--endpoint`` / ``FROSTBYTE_ENDPOINT`` and ``--key`` / ``FROSTBYTE_KEY``;
there is no local fallback (vendor keys are shown once and never stored). Its certificate must
chain to the system's CAs or to the control plane's CA: the file ``FROSTBYTE_CA_CERT`` names
(``frostbyte tls ca --out FILE`` fetches it), else the local stack's ``<state dir>/ca/ca.pem``
when there is one.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from frostbyte_cli.client import CliError

LOCAL_CONTROL_PLANE_URL = "http://127.0.0.1:8000"


def project_root(start: Path | None = None) -> Path:
    """The nearest directory from ``start`` (default: CWD) upwards with a pyproject.toml."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "pyproject.toml").is_file():
            return candidate
    return here


def state_dir(root: Path, env: Mapping[str, str] | None = None) -> Path:
    """``$FROSTBYTE_STATE_DIR`` if set, else ``<root>/.local`` (as the local runtime does)."""
    env = os.environ if env is None else env
    override = env.get("FROSTBYTE_STATE_DIR")
    return Path(override).resolve() if override else (root / ".local").resolve()


@dataclass(frozen=True)
class ControlPlaneTarget:
    url: str
    admin_token: str
    token_source: str  # "flag or FROSTBYTE_ADMIN_TOKEN" or the token file's path


def control_plane_target(url: str | None, admin_token: str | None, *, root: Path,
                         env: Mapping[str, str] | None = None) -> ControlPlaneTarget:
    """Resolve the control plane's URL and admin token (see the module docstring)."""
    resolved_url = (url or LOCAL_CONTROL_PLANE_URL).rstrip("/")
    if admin_token:
        return ControlPlaneTarget(resolved_url, admin_token.strip(),
                                  "--admin-token or FROSTBYTE_ADMIN_TOKEN")
    token_file = state_dir(root, env) / "admin_token"
    try:
        token = token_file.read_text(encoding="ascii").strip()
    except OSError:
        token = ""
    if not token:
        raise CliError(
            f"no admin token: set FROSTBYTE_ADMIN_TOKEN (or --admin-token), or start the "
            f"local stack with `frostbyte local up` (it writes {token_file})",
            code="NO_ADMIN_TOKEN")
    return ControlPlaneTarget(resolved_url, token, str(token_file))


def tenant_trust(root: Path, env: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """What a tenant endpoint's certificate may chain to (see the module docstring)."""
    env = os.environ if env is None else env
    context = ssl.create_default_context()
    named = env.get("FROSTBYTE_CA_CERT")
    ca_file = Path(named) if named else state_dir(root, env) / "ca" / "ca.pem"
    if named or ca_file.is_file():
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise CliError(f"cannot use the CA certificate {ca_file}: {exc}; fetch it with "
                           "`frostbyte tls ca --out FILE`", code="BAD_CA_CERT") from None
    return context


@dataclass(frozen=True)
class TenantTarget:
    endpoint: str
    key: str


def tenant_target(endpoint: str | None, key: str | None) -> TenantTarget:
    """The tenant endpoint and vendor key; both are required."""
    missing = [name for name, value in (("FROSTBYTE_ENDPOINT (--endpoint)", endpoint),
                                        ("FROSTBYTE_KEY (--key)", key)) if not value]
    if missing:
        raise CliError(
            f"set {' and '.join(missing)}; `frostbyte keys create SLUG --scope ingest "
            f"--scope read --json` prints a key and its tenant's endpoint",
            code="NO_TENANT_ENDPOINT")
    assert endpoint is not None and key is not None
    return TenantTarget(endpoint.rstrip("/"), key.strip())
