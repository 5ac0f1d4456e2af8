"""``frostbyte admin tokens create|list|revoke`` — admin API tokens (roles ``admin`` and
``viewer``; viewers may only read). Registered on the root app by :mod:`frostbyte_cli.main`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from frostbyte_cli.shared import (
    AdminTokenOpt,
    JsonOpt,
    UrlOpt,
    deps_of,
    print_json,
    reports_errors,
)

admin_app = typer.Typer(no_args_is_help=True, help="Control-plane administration (admin).")
tokens_app = typer.Typer(no_args_is_help=True,
                         help="Admin API tokens: create, list, revoke (stored hashed).")
admin_app.add_typer(tokens_app, name="tokens")


class Role(StrEnum):
    admin = "admin"
    viewer = "viewer"


@tokens_app.command("create")
@reports_errors
def tokens_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Who or what holds the token.")],
    role: Annotated[Role, typer.Option(help="viewer: read only; admin: everything.")] = (
        Role.viewer),
    json_out: JsonOpt = False, url: UrlOpt = None, admin_token: AdminTokenOpt = None,
) -> None:
    """Create a token; it is printed once and never again (only its hash is kept)."""
    deps = deps_of(ctx)
    with deps.control_plane(url, admin_token) as cp:
        issued = cp.create_admin_token(name, role.value)
    if json_out:
        print_json(issued)
        return
    deps.out.print(f"Admin token [bold]{issued['token_id']}[/] ({issued['name']}, "
                   f"{issued['role']}):")
    deps.out.print(issued["token"], markup=False, highlight=False, soft_wrap=True)
    deps.out.print("[bold yellow]This token is shown once[/]: store it now.")


@tokens_app.command("list")
@reports_errors
def tokens_list(ctx: typer.Context, json_out: JsonOpt = False, url: UrlOpt = None,
                admin_token: AdminTokenOpt = None) -> None:
    """List tokens (ids, names, roles, revocation) — never the tokens."""
    deps = deps_of(ctx)
    with deps.control_plane(url, admin_token) as cp:
        tokens = cp.admin_tokens()
    if json_out:
        print_json({"tokens": tokens})
        return
    table = Table(title="Admin tokens")
    for column in ("token id", "name", "role", "created by", "created", "revoked"):
        table.add_column(column)
    for t in tokens:
        table.add_row(t["token_id"], t["name"], t["role"], t["created_by"],
                      str(t["created_at"]), str(t.get("revoked_at") or "—"))
    deps.out.print(table)


@tokens_app.command("revoke")
@reports_errors
def tokens_revoke(ctx: typer.Context, token_id: str, json_out: JsonOpt = False,
                  url: UrlOpt = None, admin_token: AdminTokenOpt = None) -> None:
    """Revoke a token at once (the last admin token cannot be revoked)."""
    deps = deps_of(ctx)
    with deps.control_plane(url, admin_token) as cp:
        revoked = cp.revoke_admin_token(token_id)
    if json_out:
        print_json(revoked)
    else:
        deps.out.print(f"revoked {revoked['token_id']} ({revoked['name']})")
