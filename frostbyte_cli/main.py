"""``frostbyte``: the admin and vendor command line (SPEC §9, "CLI and scripting").

Control-plane commands read ``FROSTBYTE_URL`` and ``FROSTBYTE_ADMIN_TOKEN`` (flags override);
without them they use the local stack (``http://127.0.0.1:8000`` and the admin token file in
``<project root>/.local`` or ``$FROSTBYTE_STATE_DIR``; see :mod:`frostbyte_cli.targets`).
Vendor commands read ``FROSTBYTE_ENDPOINT`` and ``FROSTBYTE_KEY``.

Exit codes and the JSON form of errors (``--json``): :mod:`frostbyte_cli.exit_codes`, also
in ``frostbyte --help``. Shell completion: ``frostbyte --install-completion`` (bash, zsh,
fish, PowerShell), or ``--show-completion`` to print the script.

Tests inject an HTTP transport (and a fake local runtime) through ``Deps``:
``CliRunner().invoke(app, args, obj=Deps(transport=httpx.MockTransport(handler)))``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from frostbyte_cli import (
    admin_commands,
    audit_commands,
    backup_commands,
    batch_commands,
    bundle_commands,
    doctor_command,
    document_commands,
    embedding_commands,
    lifecycle_commands,
    release_commands,
    render,
    tls_commands,
)
from frostbyte_cli.client import CliError, Tenant
from frostbyte_cli.exit_codes import EXIT_CODE_HELP
from frostbyte_cli.shared import (
    AdminTokenOpt,
    Deps,
    EndpointOpt,
    JsonErrorsGroup,
    JsonOpt,
    KeyOpt,
    UrlOpt,
    deps_of,
    print_json,
    reports_errors,
)
from frostbyte_common.version import __version__

__all__ = ["Deps", "app"]


class Scope(StrEnum):
    ingest = "ingest"
    read = "read"
    audit = "audit"


# -- the app ---------------------------------------------------------------------------------

# Shell completion is Typer's (--install-completion / --show-completion on the root).
app = typer.Typer(name="frostbyte", cls=JsonErrorsGroup, no_args_is_help=True,
                  add_completion=True, epilog=EXIT_CODE_HELP,
                  help="Frostbyte: tenants, vendor keys, batches, search and the local stack.")
local_app = typer.Typer(no_args_is_help=True, help="Start and stop the local stack.")
tenants_app = typer.Typer(no_args_is_help=True, help="Create and inspect tenants (admin).")
keys_app = typer.Typer(no_args_is_help=True, help="Issue vendor keys (admin).")
audit_app = audit_commands.audit_app
app.add_typer(local_app, name="local")
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")
app.add_typer(batch_commands.batch_app, name="batch")
app.add_typer(audit_app, name="audit")
app.add_typer(admin_commands.admin_app, name="admin")
app.add_typer(document_commands.documents_app, name="documents")
app.add_typer(document_commands.quarantine_app, name="quarantine")
app.add_typer(bundle_commands.bundle_app, name="bundle")
app.add_typer(tls_commands.tls_app, name="tls")
app.add_typer(release_commands.releases_app, name="releases")
# `tenants suspend|resume|retry|cancel|deprovision|config|keys|rotate|watch|quarantine`
# (issue 7): merged into the group, after create, list and show
tenants_app.add_typer(lifecycle_commands.lifecycle_app)
# `tenants backup|backups|restore` (issue 18)
tenants_app.add_typer(backup_commands.backup_app)
# `tenants reembed|set-embedding-key` (issue 18)
tenants_app.add_typer(embedding_commands.embedding_app)
# `doctor <tenant>`: the consistency of the tenant's three stores (issue 14)
app.command("doctor")(doctor_command.doctor)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"frostbyte {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the installed version and exit.")] = False,
) -> None:
    """Frostbyte: tenants, vendor keys, batches, search and the local stack."""
    if not isinstance(ctx.obj, Deps):
        ctx.obj = Deps()


# -- local -----------------------------------------------------------------------------------


@local_app.command("up")
@reports_errors
def local_up(
    ctx: typer.Context,
    json_out: JsonOpt = False,
    port: Annotated[int, typer.Option(help="Control-plane port on 127.0.0.1.")] = 8000,
) -> None:
    """Start the local stack (control plane, local tenants' data planes) if not running.

    Uses $DATABASE_URL when set, else the project's own PostgreSQL cluster in .local/.
    With --json prints one object with control_plane_url and admin_token."""
    deps = deps_of(ctx)
    root = deps.root()
    runtime = deps.runtime()
    database_url = os.environ.get("DATABASE_URL") or None
    if json_out:
        info = runtime.up(root, database_url=database_url, port=port)
    else:
        with deps.err.status("Starting the local stack…"):
            info = runtime.up(root, database_url=database_url, port=port)
    data = asdict(info) if hasattr(info, "__dataclass_fields__") else dict(info)
    if json_out:
        print_json(data)
        return
    out = deps.out
    out.print(f"[green]Local stack is up[/]: control plane at [bold]{data['control_plane_url']}"
              f"[/]")
    out.print(f"database: {data['database']}")
    out.print(f"state:    {data['state_dir']}")
    pids = ", ".join(f"{k}={v}" for k, v in sorted(data.get("pids", {}).items()))
    out.print(f"pids:     {pids or '—'}")
    out.print(f"admin token: in {Path(data['state_dir']) / 'admin_token'} (mode 0600); "
              "the CLI reads it from there, or print it with `frostbyte local up --json`.")
    out.print("Stop it all with `frostbyte local down`.")


@local_app.command("down")
@reports_errors
def local_down(ctx: typer.Context) -> None:
    """Stop the control plane, every local data plane and the project's PostgreSQL cluster.

    Data and the admin token are kept."""
    deps = deps_of(ctx)
    stopped = deps.runtime().down(deps.root())
    if not stopped:
        deps.out.print("Nothing was running.")
    for item in stopped:
        deps.out.print(f"stopped {item}")


# -- tenants ---------------------------------------------------------------------------------


@tenants_app.command("create")
@reports_errors
def tenants_create(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="DNS label, at most 30 lowercase characters.")],
    display_name: Annotated[str | None, typer.Option(help="(default: the slug)")] = None,
    provider: Annotated[str, typer.Option(
        help="local, local-podman (the tenant's container set from images/) or hetzner.")
    ] = "local",
    config: Annotated[str | None, typer.Option(
        help="Config overrides as a JSON object, e.g. '{\"chunking\": {\"max_tokens\": 200}}'."
    )] = None,
    wait: Annotated[bool, typer.Option(help="Wait until the tenant is ACTIVE.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait.")] = 600.0,
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    admin_token: AdminTokenOpt = None,
) -> None:
    """Create a tenant and (by default) wait until its data plane is ACTIVE."""
    deps = deps_of(ctx)
    overrides: dict[str, Any] | None = None
    if config is not None:
        try:
            overrides = json.loads(config)
        except ValueError as exc:
            raise CliError(f"--config is not JSON: {exc}", code="BAD_OPTION") from exc
        if not isinstance(overrides, dict):
            raise CliError("--config must be a JSON object", code="BAD_OPTION")
    with deps.control_plane(url, admin_token) as cp:
        tenant = cp.create_tenant(slug, display_name or slug, provider, overrides)
        if wait:
            with deps.err.status(f"Tenant {slug}: {tenant['state']}") as spinner:
                def show(t: Tenant) -> None:
                    spinner.update(f"Tenant {slug}: {t['state']}")

                tenant = cp.wait_for_state(slug, {"ACTIVE"}, timeout, show,
                                           poll_interval=deps.poll_interval)
    if json_out:
        print_json(tenant)
        return
    deps.out.print(render.tenant_panel(tenant))
    if not wait:
        deps.out.print(f"Provisioning runs in the background; follow it with "
                       f"`frostbyte tenants show {slug}`.")


@tenants_app.command("list")
@reports_errors
def tenants_list(ctx: typer.Context, json_out: JsonOpt = False, url: UrlOpt = None,
                 admin_token: AdminTokenOpt = None) -> None:
    """List every tenant with its state and endpoint."""
    deps = deps_of(ctx)
    with deps.control_plane(url, admin_token) as cp:
        tenants = cp.list_tenants()
    if json_out:
        print_json({"tenants": tenants})
    elif not tenants:
        deps.out.print("No tenants yet; create one with `frostbyte tenants create SLUG`.")
    else:
        deps.out.print(render.tenants_table(tenants))


@tenants_app.command("show")
@reports_errors
def tenants_show(ctx: typer.Context, slug: str, json_out: JsonOpt = False,
                 url: UrlOpt = None, admin_token: AdminTokenOpt = None) -> None:
    """Show one tenant: state, endpoint, failure (if any) and effective config."""
    deps = deps_of(ctx)
    with deps.control_plane(url, admin_token) as cp:
        tenant = cp.get_tenant(slug)
    if json_out:
        print_json(tenant)
        return
    deps.out.print(render.tenant_panel(tenant))
    if tenant.get("config"):
        deps.out.print_json(json.dumps(tenant["config"]))


# -- keys ------------------------------------------------------------------------------------


@keys_app.command("create")
@reports_errors
def keys_create(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="The tenant (must be ACTIVE).")],
    scope: Annotated[list[Scope] | None, typer.Option(
        "--scope", help="Repeat for several: ingest, read, audit.")] = None,
    label: Annotated[str | None, typer.Option(help="A note to recognise the key by.")] = None,
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    admin_token: AdminTokenOpt = None,
) -> None:
    """Issue a vendor key for a tenant; the key is printed once and never again."""
    deps = deps_of(ctx)
    if not scope:
        raise CliError("give at least one --scope (ingest, read, audit)", code="BAD_OPTION")
    with deps.control_plane(url, admin_token) as cp:
        issued = cp.create_vendor_key(slug, [s.value for s in scope], label)
        try:
            endpoint = cp.get_tenant(slug).get("endpoint")
        except CliError:
            endpoint = None
    if json_out:
        print_json({**issued, "endpoint": endpoint})
        return
    out = deps.out
    out.print(f"Vendor key [bold]{issued['key_id']}[/] for {slug}, scopes "
              f"{', '.join(issued['scopes'])}:")
    out.print(issued["key"], markup=False, highlight=False, soft_wrap=True)
    out.print("[bold yellow]This key is shown once[/]: store it now (only its hash is kept).")
    if endpoint:
        out.print(f"Use it with:\n  export FROSTBYTE_ENDPOINT={endpoint}\n"
                  "  export FROSTBYTE_KEY=<the key above>", markup=False, highlight=False)


# -- search and audit ------------------------------------------------------------------------


@app.command("search")
@reports_errors
def search(
    ctx: typer.Context,
    query: str,
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=100)] = 5,
    document_id: Annotated[list[str] | None, typer.Option(
        help="Only these documents (repeatable).")] = None,
    batch_id: Annotated[list[str] | None, typer.Option(
        help="Only these batches (repeatable).")] = None,
    json_out: JsonOpt = False,
    endpoint: EndpointOpt = None,
    key: KeyOpt = None,
) -> None:
    """Search the tenant's knowledge, with citations and a retrieval proof.

    Each hit shows its document, heading path, page or sheet, score and text; the proof
    panel shows the query hash, the index's model and dimension and the audit sequence."""
    deps = deps_of(ctx)
    filters: dict[str, Any] = {}
    if document_id:
        filters["document_ids"] = document_id
    if batch_id:
        filters["batch_ids"] = batch_id
    with deps.tenant(endpoint, key) as client:
        result = client.search(query, top_k, filters or None)
    if json_out:
        print_json(result)
    else:
        deps.out.print(render.search_result(result, query))


@audit_app.command("verify")
@reports_errors
def audit_verify(ctx: typer.Context, json_out: JsonOpt = False,
                 endpoint: EndpointOpt = None, key: KeyOpt = None) -> None:
    """Recompute the tenant's audit hash chain; exits 1 if it is broken."""
    deps = deps_of(ctx)
    with deps.tenant(endpoint, key) as client:
        verdict = client.audit_verify()
    if json_out:
        print_json(verdict)
    elif verdict["ok"]:
        deps.out.print(f"[green]audit chain intact[/]: {verdict['events']} events, head "
                       f"{verdict['head_hash']}")
    else:
        where = (f" at seq {verdict['first_bad_seq']}" if verdict.get("first_bad_seq")
                 else "")
        deps.out.print(f"[bold red]audit chain BROKEN[/]{where}: {verdict.get('problem')}",
                       highlight=False)
    raise typer.Exit(0 if verdict["ok"] else 1)


@audit_app.command("verify-export")
@reports_errors
def audit_verify_export(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The JSONL file of POST /v1/audit/export.")],
    public_key: Annotated[str | None, typer.Option(
        "--public-key", help="The tenant's audit public key (base64) you trust; default: "
        "the key named in the export's manifest.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Verify an audit export offline (chain, Merkle root vs signed checkpoint, signature,
    manifest); exits 1 and says where it is broken."""
    from frostbyte_common.audit_export import verify_export_file

    deps = deps_of(ctx)
    if not file.is_file():
        raise CliError(f"no such file: {file}", code="BAD_OPTION")
    verdict = verify_export_file(file, trusted_public_key=public_key)
    if json_out:
        print_json(verdict.to_json())
    elif verdict.ok:
        deps.out.print(f"[green]export verified[/]: {verdict.events} events, head "
                       f"{verdict.head_hash}, checkpoint of {verdict.checkpoint_size} signed by "
                       f"{verdict.key_id}" + ("" if public_key else
                                            " (key taken from the manifest: compare it with "
                                            "the tenant's published key)"))
    else:
        deps.out.print(f"[bold red]export BROKEN[/]: {len(verdict.problems)} problem(s)")
        for problem in verdict.problems:
            deps.out.print(f"  {problem}", markup=False, highlight=False)
    raise typer.Exit(0 if verdict.ok else 1)

