"""``frostbyte doctor <tenant> [--repair] [--json]``: the drift between a tenant's
PostgreSQL, object store and vector index (SPEC §5.4 "three stores, one truth"), found —
and with ``--repair`` fixed where PostgreSQL can fix it — by the tenant's data plane,
through the control plane. Exit code 0 when the tenant is clean after the run, 1 when
drift remains, so that cron or CI can alert on it."""

from __future__ import annotations

from typing import Annotated, Any

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

#: What each kind of drift means, for the summary table.
MEANINGS = {
    "objects_without_rows": "objects no document names (reported, never deleted)",
    "rows_without_objects": "documents whose raw, canonical, quarantine or pending object "
                            "is missing",
    "chunks_missing_from_index": "indexed documents whose points are missing (not "
                                 "searchable)",
    "points_extra_in_index": "points with no chunk of an indexed document",
    "documents_stuck": "documents in the pipeline with no job to move them",
}

RepairOpt = Annotated[bool, typer.Option(
    "--repair", help="Fix what PostgreSQL can fix: re-project missing points, delete extra "
    "ones, queue or re-process stuck documents (audited). The rest is reported.")]
FirstOpt = Annotated[int, typer.Option(min=0, max=1000,
                                       help="Show this many findings per kind.")]


@reports_errors
def doctor(ctx: typer.Context, slug: Annotated[str, typer.Argument(help="The tenant.")],
           repair: RepairOpt = False, first: FirstOpt = 20, json_out: JsonOpt = False,
           url: UrlOpt = None, admin_token: AdminTokenOpt = None) -> None:
    """Check that a tenant's PostgreSQL, object store and vector index agree."""
    deps = deps_of(ctx)
    with deps.control_plane(url, admin_token) as cp:
        report = cp.consistency(slug, repair=repair, first=first)
    if json_out:
        print_json(report)
    else:
        for table in tables(slug, report):
            deps.out.print(table)
        deps.out.print(verdict(slug, report))
    raise typer.Exit(0 if report["clean"] else 1)


def tables(slug: str, report: dict[str, Any]) -> list[Table]:
    """The summary (every kind, with counts), then one table per kind that has findings."""
    summary = Table(title=f"Consistency of {slug}" + (" (repair)" if report["repair"] else ""))
    for column in ("drift", "found", "repaired", "remaining", "meaning"):
        summary.add_column(column, justify="right" if column in (
            "found", "repaired", "remaining") else "left")
    found = []
    for kind in report["kinds"]:
        summary.add_row(kind["kind"], str(kind["found"]), str(kind["repaired"]),
                        str(kind["remaining"]), MEANINGS.get(kind["kind"], ""))
        if kind["first"]:
            found.append(_findings(kind))
    return [summary, *found]


def _findings(kind: dict[str, Any]) -> Table:
    shown = len(kind["first"])
    more = f" (first {shown} of {kind['found']})" if shown < kind["found"] else ""
    table = Table(title=f"{kind['kind']}{more}")
    for column in ("subject", "detail", "repair"):
        table.add_column(column, overflow="fold")
    for f in kind["first"]:
        repair = f["repair"] or "— (reported only)"
        table.add_row(f["subject"], f["detail"],
                      f"{repair}: done" if f["repaired"] else repair)
    return table


def verdict(slug: str, report: dict[str, Any]) -> str:
    """One closing line: clean, or how much drift remains (and the audit event)."""
    remaining = sum(k["remaining"] for k in report["kinds"])
    audited = (f" Repairs recorded as audit event {report['audit_seq']}."
               if report.get("audit_seq") is not None else "")
    if report["clean"]:
        return f"{slug}: the three stores agree.{audited}"
    hint = "" if report["repair"] else " Run with --repair to fix what can be fixed."
    return f"{slug}: {remaining} drift finding(s) remain.{audited}{hint}"
