"""``frostbyte tenants backup SLUG``, ``frostbyte tenants backups list|delete|purge SLUG`` and
``frostbyte tenants restore ARCHIVE --as NEWSLUG`` (issue 18): per-tenant backups over the
control-plane API. Merged into the ``tenants`` group by :mod:`frostbyte_cli.main`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from frostbyte_cli import render
from frostbyte_cli.client import Tenant
from frostbyte_cli.shared import (
    AdminTokenOpt,
    JsonOpt,
    UrlOpt,
    deps_of,
    print_json,
    reports_errors,
)

# no name: frostbyte_cli.main merges its commands into `tenants`
backup_app = typer.Typer()
backups_app = typer.Typer(no_args_is_help=True, help="A tenant's backups: list, delete, purge.")
backup_app.add_typer(backups_app, name="backups")

_BACKUP_ID = re.compile(r"[0-9a-f]{32}")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _table(records: list[dict[str, Any]]) -> Table:
    table = Table("backup", "created (UTC)", "size", "objects", "audit events", "trigger",
                  "sha256")
    for r in records:
        manifest = r.get("manifest", {})
        table.add_row(r["backup_id"], str(r["created_at"])[:19], _size(int(r["size"])),
                      str(manifest.get("objects", "")), str(manifest.get("audit_events", "")),
                      r["trigger"], r["sha256"][:16] + "…")
    return table


@backup_app.command("backup")
@reports_errors
def tenants_backup(ctx: typer.Context, slug: str, json_out: JsonOpt = False,
                   url: UrlOpt = None, admin_token: AdminTokenOpt = None) -> None:
    """Back tenant SLUG up now: one archive (database dump, objects as stored, audit export,
    config, the keys that read them) encrypted to the tenant's backup key."""
    deps = deps_of(ctx)
    with deps.control_plane(url, admin_token) as cp, \
            deps.err.status(f"Backing up tenant {slug}…"):
        record = cp.backup(slug)
    if json_out:
        print_json(record)
    else:
        deps.out.print(_table([record]))
        deps.out.print(f"archive: {record['path']}")


@backups_app.command("list")
@reports_errors
def backups_list(ctx: typer.Context, slug: str, json_out: JsonOpt = False,
                 url: UrlOpt = None, admin_token: AdminTokenOpt = None) -> None:
    """The backups of tenant SLUG, newest first (also once it is deprovisioned)."""
    deps = deps_of(ctx)
    with deps.control_plane(url, admin_token) as cp:
        records = cp.backups(slug)
    if json_out:
        print_json({"backups": records})
    else:
        deps.out.print(_table(records))


@backups_app.command("delete")
@reports_errors
def backups_delete(ctx: typer.Context, slug: str, backup_id: str, json_out: JsonOpt = False,
                   url: UrlOpt = None, admin_token: AdminTokenOpt = None) -> None:
    """Delete one backup of tenant SLUG."""
    deps = deps_of(ctx)
    with deps.control_plane(url, admin_token) as cp:
        record = cp.delete_backups(slug, backup_id)
    if json_out:
        print_json(record)
    else:
        deps.out.print(f"backup {record['backup_id']} deleted")


@backups_app.command("purge")
@reports_errors
def backups_purge(
    ctx: typer.Context, slug: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    json_out: JsonOpt = False, url: UrlOpt = None, admin_token: AdminTokenOpt = None,
) -> None:
    """Delete every backup of tenant SLUG and destroy its backup key: no copy of its archives
    opens any more (the crypto-shred of its backups)."""
    deps = deps_of(ctx)
    if not yes:
        typer.confirm(f"Delete every backup of {slug} and destroy its backup key?",
                      abort=True)
    with deps.control_plane(url, admin_token) as cp:
        result = cp.delete_backups(slug)
    if json_out:
        print_json(result)
    else:
        deps.out.print(f"{len(result['deleted'])} backup(s) of {slug} deleted; backup key "
                       f"{'destroyed' if result['backup_key_destroyed'] else 'NOT destroyed'}")


@backup_app.command("restore")
@reports_errors
def tenants_restore(
    ctx: typer.Context,
    archive: Annotated[str, typer.Argument(
        help="A backup id (`frostbyte tenants backups list`), or the path of an archive "
             "file on the control plane's host.")],
    new_slug: Annotated[str, typer.Option("--as", help="The new tenant's slug.")],
    display_name: Annotated[str | None, typer.Option("--name", help="Its display name.")] = None,
    wait: Annotated[bool, typer.Option(help="Wait until it rests (ACTIVE, FAILED).")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait.")] = 900.0,
    json_out: JsonOpt = False, url: UrlOpt = None, admin_token: AdminTokenOpt = None,
) -> None:
    """Bring up a NEW tenant from a backup: same documents, same search answers, the audit
    chain continued and verifying, with a tenant.restored event; new credentials."""
    deps = deps_of(ctx)
    body: dict[str, Any] = {"slug": new_slug, "display_name": display_name}
    if _BACKUP_ID.fullmatch(archive):
        body["backup_id"] = archive
    else:
        path = Path(archive).expanduser()  # relative: to where the command runs
        body["archive"] = str(((deps.cwd or Path.cwd()) / path).resolve())
    with deps.control_plane(url, admin_token) as cp:
        tenant = cp.restore({k: v for k, v in body.items() if v is not None})
        if wait:
            with deps.err.status(f"Tenant {new_slug}: {tenant['state']}") as spinner:
                def show(t: Tenant) -> None:
                    spinner.update(f"Tenant {new_slug}: {t['state']}")

                tenant = cp.wait_for_state(new_slug, {"ACTIVE"}, timeout, show,
                                           poll_interval=deps.poll_interval)
    if json_out:
        print_json(tenant)
    else:
        deps.out.print(render.tenant_panel(tenant))
