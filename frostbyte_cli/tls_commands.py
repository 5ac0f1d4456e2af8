"""``frostbyte tls ca`` — the control plane's CA certificate, which every tenant endpoint's
certificate chains to (SPEC §7). Registered on the root app by :mod:`frostbyte_cli.main`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from frostbyte_cli.shared import AdminTokenOpt, UrlOpt, deps_of, reports_errors
from frostbyte_common.tls import fingerprint

tls_app = typer.Typer(no_args_is_help=True, help="TLS: the CA tenant endpoints chain to.")


@tls_app.command("ca")
@reports_errors
def ca(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the PEM here (then point FROSTBYTE_CA_CERT at it); default: "
        "print it.")] = None,
    url: UrlOpt = None, admin_token: AdminTokenOpt = None,
) -> None:
    """Fetch the control plane's CA certificate and show its SHA-256 fingerprint."""
    deps = deps_of(ctx)
    with deps.control_plane(url, admin_token) as cp:
        pem = cp.ca_certificate()
    if out is None:
        typer.echo(pem, nl=False)
    else:
        out.write_text(pem, encoding="ascii")
        deps.err.print(f"wrote {out}; use it with: export FROSTBYTE_CA_CERT={out.resolve()}")
    deps.err.print(f"CA fingerprint {fingerprint(pem)}")
