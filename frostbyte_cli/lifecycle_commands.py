"""``frostbyte tenants suspend|resume|retry|deprovision|cancel|config|keys|rotate|watch`` and
``frostbyte tenants quarantine list|release|purge``: the admin lifecycle commands over the
control-plane API (SPEC §3, §9). Merged into the ``tenants`` group
by :mod:`frostbyte_cli.main`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from packaging.version import Version
from rich.table import Table
from rich.text import Text

from frostbyte_cli import render
from frostbyte_cli.client import CliError, ControlPlaneClient, Tenant
from frostbyte_cli.shared import (
    AdminTokenOpt,
    Deps,
    JsonOpt,
    UrlOpt,
    deps_of,
    print_json,
    reports_errors,
)

# no name: frostbyte_cli.main merges its commands into `tenants`, after create, list and show
lifecycle_app = typer.Typer()

# The states a tenant rests in: nothing runs until an admin acts.
RESTING = frozenset({"ACTIVE", "SUSPENDED", "FAILED", "DEPROVISIONED"})

WaitOpt = Annotated[bool, typer.Option(help="Wait until the tenant rests (ACTIVE, FAILED, …).")]
TimeoutOpt = Annotated[float, typer.Option(help="Seconds to wait.")]


def _settle(deps: Deps, cp: ControlPlaneClient, tenant: Tenant, timeout: float) -> Tenant:
    """Follow the tenant with a spinner until it rests; a FAILED tenant is an error."""
    slug = tenant["slug"]
    if tenant["state"] in RESTING:
        return tenant
    with deps.err.status(f"Tenant {slug}: {tenant['state']}") as spinner:
        def show(t: Tenant) -> None:
            spinner.update(f"Tenant {slug}: {t['state']}")

        return cp.wait_for_state(slug, RESTING - {"FAILED"}, timeout, show,
                                 poll_interval=deps.poll_interval)


def _action(ctx: typer.Context, slug: str, action: str, wait: bool, timeout: float,
            json_out: bool, url: str | None, admin_token: str | None,
            body: dict[str, Any] | None = None) -> None:
    deps = deps_of(ctx)
    with deps.control_plane(url, admin_token) as cp:
        tenant = cp.tenant_action(slug, action, body)
        if wait:
            tenant = _settle(deps, cp, tenant, timeout)
    if json_out:
        print_json(tenant)
    else:
        deps.out.print(render.tenant_panel(tenant))


@lifecycle_app.command("suspend")
@reports_errors
def tenants_suspend(ctx: typer.Context, slug: str, json_out: JsonOpt = False,
                    url: UrlOpt = None, admin_token: AdminTokenOpt = None) -> None:
    """ACTIVE → SUSPENDED: the vendor endpoint answers every call with 403
    TENANT_SUSPENDED; the data is kept and work already accepted is finished."""
    _action(ctx, slug, "suspend", False, 0, json_out, url, admin_token)


@lifecycle_app.command("resume")
@reports_errors
def tenants_resume(ctx: typer.Context, slug: str, json_out: JsonOpt = False,
                   url: UrlOpt = None, admin_token: AdminTokenOpt = None) -> None:
    """SUSPENDED → ACTIVE: the vendor endpoint answers again."""
    _action(ctx, slug, "resume", False, 0, json_out, url, admin_token)


@lifecycle_app.command("retry")
@reports_errors
def tenants_retry(ctx: typer.Context, slug: str, wait: WaitOpt = True,
                  timeout: TimeoutOpt = 600.0, json_out: JsonOpt = False,
                  url: UrlOpt = None, admin_token: AdminTokenOpt = None) -> None:
    """FAILED → resume the operation that failed (provisioning or teardown)."""
    _action(ctx, slug, "retry", wait, timeout, json_out, url, admin_token)


@lifecycle_app.command("update")
@reports_errors
def tenants_update(
    ctx: typer.Context, slug: str,
    version: Annotated[str, typer.Option(
        "--version", help="The data-plane release to move to (`frostbyte releases list`).")],
    wait: WaitOpt = True, timeout: TimeoutOpt = 600.0, json_out: JsonOpt = False,
    url: UrlOpt = None, admin_token: AdminTokenOpt = None,
) -> None:
    """ACTIVE → the data plane on release VERSION, healthy and reporting it; rolled back by
    itself to the release it ran when it is not (then the command fails with the reason)."""
    deps = deps_of(ctx)
    with deps.control_plane(url, admin_token) as cp:
        tenant = cp.tenant_action(slug, "update", {"version": version})
        if wait:
            tenant = _settle(deps, cp, tenant, timeout)
    if json_out:
        print_json(tenant)
    else:
        deps.out.print(render.tenant_panel(tenant))
    running = tenant.get("version")
    if wait and (running is None or Version(str(running)) != Version(version)):
        raise CliError(f"tenant {slug} runs version {running}, not {version}: the update "
                       "failed and was rolled back (the tenant's events say why)",
                       code="UPDATE_ROLLED_BACK")


@lifecycle_app.command("cancel")
@reports_errors
def tenants_cancel(ctx: typer.Context, slug: str, json_out: JsonOpt = False,
                   url: UrlOpt = None, admin_token: AdminTokenOpt = None) -> None:
    """Cancel the running job: it stops at its next step, rolls back, the tenant is FAILED."""
    _action(ctx, slug, "cancel", False, 0, json_out, url, admin_token)


@lifecycle_app.command("deprovision")
@reports_errors
def tenants_deprovision(
    ctx: typer.Context, slug: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    waive_audit_archive: Annotated[str | None, typer.Option(
        metavar="REASON",
        help="Destroy it even if its audit trail cannot be archived (its data plane is gone "
             "for good); the reason is recorded.")] = None,
    wait: WaitOpt = True, timeout: TimeoutOpt = 600.0, json_out: JsonOpt = False,
    url: UrlOpt = None, admin_token: AdminTokenOpt = None,
) -> None:
    """Destroy the tenant: data plane, database, role, files and keys, verified gone.
    Its signed audit export is archived first (a failure stops it, unless waived).
    Irreversible; the slug is never reused."""
    if not yes and not typer.confirm(
            f"Destroy tenant {slug} and all its documents? This cannot be undone"):
        raise CliError("not confirmed; nothing was changed", code="NOT_CONFIRMED")
    body = {"waive_audit_archive": waive_audit_archive} if waive_audit_archive else None
    _action(ctx, slug, "deprovision", wait, timeout, json_out, url, admin_token, body)


@lifecycle_app.command("config")
@reports_errors
def tenants_config(
    ctx: typer.Context, slug: str,
    patch: Annotated[str | None, typer.Option(
        "--patch", help="A JSON Merge Patch (RFC 7396), e.g. "
                        "'{\"intake\": {\"mime_allowlist\": [\"text/plain\"]}}'; null removes "
                        "an override.")] = None,
    wait: WaitOpt = True, timeout: TimeoutOpt = 600.0, json_out: JsonOpt = False,
    url: UrlOpt = None, admin_token: AdminTokenOpt = None,
) -> None:
    """Show the tenant's effective config, or --patch it (re-applied to an ACTIVE tenant's
    running data plane; stored for the next retry of a FAILED one)."""
    deps = deps_of(ctx)
    body: Any = None
    if patch is not None:
        try:
            body = json.loads(patch)
        except ValueError as exc:
            raise CliError(f"--patch is not JSON: {exc}", code="BAD_OPTION") from exc
        if not isinstance(body, dict):
            raise CliError("--patch must be a JSON object", code="BAD_OPTION")
    with deps.control_plane(url, admin_token) as cp:
        if body is None:
            tenant = cp.get_tenant(slug)
        else:
            tenant = cp.patch_config(slug, body)
            if wait:
                tenant = _settle(deps, cp, tenant, timeout)
    if json_out:
        print_json(tenant["config"])
        return
    if body is not None:
        deps.out.print(f"Config of {slug} patched; tenant is {tenant['state']}.")
    deps.out.print_json(json.dumps(tenant["config"]))


@lifecycle_app.command("keys")
@reports_errors
def tenants_keys(
    ctx: typer.Context, slug: str,
    revoke: Annotated[list[str] | None, typer.Option(
        "--revoke", help="Revoke this key id (repeat for several); its data plane refuses "
                         "it at once.")] = None,
    json_out: JsonOpt = False, url: UrlOpt = None, admin_token: AdminTokenOpt = None,
) -> None:
    """List the tenant's vendor keys (ids, scopes, labels — never the keys), or revoke some."""
    deps = deps_of(ctx)
    with deps.control_plane(url, admin_token) as cp:
        for key_id in revoke or []:
            cp.revoke_vendor_key(slug, key_id)
            if not json_out:
                deps.out.print(f"revoked {key_id}")
        keys = cp.vendor_keys(slug)
    if json_out:
        print_json({"vendor_keys": keys})
        return
    table = Table(title=f"Vendor keys of {slug}")
    for column in ("key id", "scopes", "label", "created", "revoked"):
        table.add_column(column)
    for k in keys:
        table.add_row(k["key_id"], ", ".join(k["scopes"]), k.get("label") or "—",
                      str(k.get("created_at") or "—"), str(k.get("revoked_at") or "—"))
    deps.out.print(table)


@lifecycle_app.command("rotate")
@reports_errors
def tenants_rotate(ctx: typer.Context, slug: str, json_out: JsonOpt = False,
                   url: UrlOpt = None, admin_token: AdminTokenOpt = None) -> None:
    """Re-issue every credential of the tenant; prints the new vendor keys once (the old
    ones are refused from now on)."""
    deps = deps_of(ctx)
    with deps.control_plane(url, admin_token) as cp:
        rotated = cp.rotate_secrets(slug)
    if json_out:
        print_json(rotated)
        return
    deps.out.print(f"Secrets of {slug} rotated (job {rotated['job_id']}).")
    for k in rotated["vendor_keys"]:
        deps.out.print(f"Vendor key [bold]{k['key_id']}[/] ({', '.join(k['scopes'])}"
                       + (f", {k['label']}" if k.get("label") else "") + "):")
        deps.out.print(k["key"], markup=False, highlight=False, soft_wrap=True)
    if rotated["vendor_keys"]:
        deps.out.print("[bold yellow]These keys are shown once[/]: hand them to the vendor "
                       "now; the old keys no longer work.")


@lifecycle_app.command("watch")
@reports_errors
def tenants_watch(
    ctx: typer.Context, slug: str, timeout: TimeoutOpt = 600.0, json_out: JsonOpt = False,
    url: UrlOpt = None, admin_token: AdminTokenOpt = None,
) -> None:
    """Follow the tenant: its lifecycle events, the steps of its latest job and its
    provider's output (hetzner: Pulumi, Ansible) as they happen, with a spinner, until it
    rests (exit 1 if it ends FAILED)."""
    deps = deps_of(ctx)
    seen_events = 0
    seen_steps: set[tuple[str, str, str, int]] = set()
    seen_output: dict[str, int] = {}  # job id → output lines shown

    def line(text: str, record: dict[str, Any]) -> None:
        if json_out:
            typer.echo(json.dumps(record, sort_keys=True, default=str))
        else:
            deps.out.print(text, markup=False, highlight=False)

    def emit(cp: ControlPlaneClient) -> None:
        nonlocal seen_events
        events = cp.events(slug)
        for e in events[seen_events:]:
            reason = e.get("detail", {}).get("reason")
            line(f"{e['at']}  #{e['transition']:<2} {e.get('from_state') or '—'} → "
                 f"{e['to_state']}  by {e['actor']}" + (f"  ({reason})" if reason else ""),
                 {"event": e})
        seen_events = len(events)
        jobs = cp.jobs(slug)
        if not jobs:
            return
        job = jobs[-1]
        job_log = cp.job_log(slug, job["job_id"])
        for step in job_log["steps"]:
            key = (job["job_id"], step["step"], step["status"], step["attempts"])
            if key in seen_steps:
                continue
            seen_steps.add(key)
            again = f" (attempt {step['attempts']})" if step["attempts"] > 1 else ""
            message = f": {step['message']}" if step.get("message") else ""
            line(f"    job {job['job_id'][:8]} {job['operation']} · {step['step']} "
                 f"{step['status']}{again}{message}", {"job_id": job["job_id"], "step": step})
        # the log holds the output's tail and its length: what is new is its last lines
        output: list[str] = job_log.get("output", [])
        total: int = job_log.get("output_lines", len(output))
        new = total - seen_output.get(job["job_id"], 0)
        if new <= 0:
            return
        seen_output[job["job_id"]] = total
        if new > len(output):
            skipped = new - len(output)
            line(f"      … {skipped} lines of output not shown",
                 {"job_id": job["job_id"], "output_skipped": skipped})
        for text in output[-new:]:
            line(f"      {text}", {"job_id": job["job_id"], "output": text})

    with deps.control_plane(url, admin_token) as cp:
        emit(cp)
        tenant = cp.get_tenant(slug)
        if tenant["state"] not in RESTING:
            with deps.err.status(f"Tenant {slug}: {tenant['state']}") as spinner:
                def show(t: Tenant) -> None:
                    spinner.update(f"Tenant {slug}: {t['state']}")
                    emit(cp)

                tenant = cp.wait_for_state(slug, RESTING, timeout, show,
                                           poll_interval=deps.poll_interval)
        emit(cp)
    if not json_out:
        deps.out.print(render.tenant_panel(tenant))
    if tenant["state"] == "FAILED":
        raise typer.Exit(1)


quarantine_app = typer.Typer(no_args_is_help=True, help="A tenant's quarantined documents: "
                             "list, release into the pipeline, purge (admin only).")
lifecycle_app.add_typer(quarantine_app, name="quarantine")

LimitOpt = Annotated[int, typer.Option(min=1, max=500, help="At most this many documents.")]
OffsetOpt = Annotated[int, typer.Option(min=0, help="Skip this many (paging).")]


@quarantine_app.command("list")
@reports_errors
def quarantine_list(ctx: typer.Context, slug: str, limit: LimitOpt = 50, offset: OffsetOpt = 0,
                    json_out: JsonOpt = False, url: UrlOpt = None,
                    admin_token: AdminTokenOpt = None) -> None:
    """List the tenant's quarantined documents, newest first."""
    deps = deps_of(ctx)
    with deps.control_plane(url, admin_token) as cp:
        listed = cp.quarantine(slug, limit=limit, offset=offset)
    if json_out:
        print_json(listed)
        return
    documents = listed["documents"]
    if not documents:
        deps.out.print(f"Nothing is quarantined in {slug}.")
        return
    table = Table(title=f"Quarantine of {slug}")
    for column in ("document id", "name", "reason", "signature / detail", "received"):
        table.add_column(column)
    for d in documents:
        # names and details come from vendors: text, never markup
        table.add_row(d["document_id"], Text(d.get("name") or "—"), d.get("reason") or "—",
                      Text(d.get("malware_signature") or d.get("detail") or "—"),
                      str(d.get("created_at") or "—"))
    deps.out.print(table)


def _quarantine_action(ctx: typer.Context, slug: str, document_id: str, action: str,
                       json_out: bool, url: str | None, admin_token: str | None) -> None:
    deps = deps_of(ctx)
    with deps.control_plane(url, admin_token) as cp:
        result = cp.quarantine_action(slug, document_id, action)
    if json_out:
        print_json(result)
        return
    done = "released into the pipeline" if action == "release" else "purged"
    deps.out.print(f"Document {result['document_id']} of {slug} {done} "
                   f"(now {result['status']}; audited).")


@quarantine_app.command("release")
@reports_errors
def quarantine_release(ctx: typer.Context, slug: str, document_id: str,
                       json_out: JsonOpt = False, url: UrlOpt = None,
                       admin_token: AdminTokenOpt = None) -> None:
    """Release a quarantined document: it is parsed, checked and indexed like any other."""
    _quarantine_action(ctx, slug, document_id, "release", json_out, url, admin_token)


@quarantine_app.command("purge")
@reports_errors
def quarantine_purge(
    ctx: typer.Context, slug: str, document_id: str,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    json_out: JsonOpt = False, url: UrlOpt = None, admin_token: AdminTokenOpt = None,
) -> None:
    """Purge a quarantined document: its bytes are deleted, it is recorded as PURGED."""
    if not yes and not typer.confirm(f"Delete quarantined document {document_id} of {slug}?"):
        raise CliError("not confirmed; nothing was changed", code="NOT_CONFIRMED")
    _quarantine_action(ctx, slug, document_id, "purge", json_out, url, admin_token)
