"""`make demo`: local stack up, tenant `demo`, ingest samples/, report, search, audit.

It talks to the APIs through ``frostbyte_cli.client`` like any other client. Safe to run
again: the tenant is reused, a new vendor key is issued, and re-submitted samples come back
as duplicates of the documents already indexed ("already ingested"). Uses $DATABASE_URL when
set, else the project's own PostgreSQL cluster under .local/.

Exits non-zero when a sample ends other than INDEXED or DUPLICATE, a search finds nothing,
or the audit chain does not verify.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from frostbyte_cli import render  # noqa: E402
from frostbyte_cli.client import (  # noqa: E402
    DOC_TERMINAL,
    Batch,
    CliError,
    ControlPlaneClient,
    Tenant,
    TenantClient,
    document_ok,
)
from frostbyte_common import tls  # noqa: E402

TENANT = "demo"
SAMPLES = ROOT / "samples"
# Each query names one sample's topic (samples/README.md); the best hits should differ.
SEARCHES = (
    ("fire extinguisher inspection findings", "annual-safety-report.pdf"),
    ("late shipment of cold-chain vaccines", "late-shipment-vaccines.eml"),
)

# Wide enough for the tables when the output is a log file rather than a terminal.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)


class DemoFailed(Exception):
    """The demo ran but something came out wrong (printed, exit 1)."""


def step(title: str) -> None:
    console.rule(f"[bold]{title}")


def test_signatures_warning() -> str | None:
    """When the tenants' clamd would load the project's test signatures only (none
    configured, no freshclam database on this machine), the demo lets the tenant be ready
    with them, as the test suite does, and says so: real malware would pass as clean."""
    from data_plane.adapters.clamav.databases import describe, signatures_folder

    configured = os.environ.get("FROSTBYTE_CP_CLAMD_SIGNATURES")
    folder = Path(configured) if configured else signatures_folder({})
    if describe(folder)["official"]:
        return None
    os.environ.setdefault("FROSTBYTE_CP_CLAMD_ALLOW_TEST_SIGNATURES", "true")
    return (f"ClamAV: only the project's TEST signatures are loaded ({folder}: no official "
            "main/daily database). EICAR and the ClamAV test files are caught, real malware "
            "is not. For real signatures run freshclam or install a bundle's (see "
            "docs/operator-runbook.md, Security).")


def start_stack() -> Any:
    step("1. Local stack")
    from control_plane.local_runtime import up

    if warning := test_signatures_warning():
        console.print(f"[bold yellow]WARNING[/] {warning}")

    with console.status("Starting PostgreSQL, the S3 server (SeaweedFS) and the control plane "
                        "(if not running)…"):
        info = up(ROOT, database_url=os.environ.get("DATABASE_URL") or None)
    console.print(f"control plane [bold]{info.control_plane_url}[/] · database "
                  f"{info.database} · objects {info.object_store} · state {info.state_dir}")
    return info


def ensure_tenant(cp: ControlPlaneClient) -> Tenant:
    step(f"2. Tenant '{TENANT}'")
    try:
        tenant = cp.get_tenant(TENANT)
        console.print(f"tenant exists ({tenant['state']})")
    except CliError as exc:
        if exc.code != "TENANT_NOT_FOUND":
            raise
        tenant = cp.create_tenant(TENANT, "Demo vendor", "local")
        console.print(f"created tenant {TENANT} ({tenant['state']})")
    if tenant["state"] in ("FAILED", "DEPROVISIONING", "DEPROVISIONED", "SUSPENDED"):
        raise DemoFailed(
            f"tenant {TENANT} is {tenant['state']}"
            f"{': ' + str(tenant.get('failure_reason')) if tenant.get('failure_reason') else ''}"
            f"; see `.venv/bin/frostbyte tenants show {TENANT}`")
    started = time.monotonic()
    with console.status("Provisioning…") as spinner:
        def show(t: Tenant) -> None:
            spinner.update(f"Tenant {TENANT}: {t['state']} "
                           f"({time.monotonic() - started:.0f} s)")

        tenant = cp.wait_for_state(TENANT, {"ACTIVE"}, timeout=900, on_progress=show)
    console.print(f"[green]ACTIVE[/] at {tenant['endpoint']}")
    return tenant


def submit_samples(client: TenantClient) -> Batch:
    step("4. Submit samples/")
    files = sorted(p for p in SAMPLES.iterdir()
                   if p.is_file() and p.name != "README.md" and not p.name.startswith("."))
    if not files:
        raise DemoFailed(f"no sample files in {SAMPLES}; run `make samples`")
    with console.status("Waiting for the data plane to be ready…") as spinner:
        client.wait_until_ready(timeout=600,
                                on_progress=lambda why: spinner.update(f"Data plane: {why}"))
    ref = f"demo-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    with render.upload_progress(console) as progress:
        task = progress.add_task(f"Uploading {len(files)} files", total=None)
        batch = client.submit_batch(
            files, ref, on_upload_progress=lambda d, t: progress.update(task, completed=d,
                                                                        total=t))
    console.print(f"batch {batch['batch_id']} ({ref}) received")
    if any(d["status"] not in DOC_TERMINAL for d in batch["documents"]):
        with render.count_progress(console) as progress:
            task = progress.add_task("Parsing, chunking, embedding, indexing",
                                     total=len(batch["documents"]))

            def show(b: Batch) -> None:
                done = sum(1 for d in b["documents"] if d["status"] in DOC_TERMINAL)
                progress.update(task, completed=done)

            batch = client.wait_for_batch(batch["batch_id"], timeout=1800, on_progress=show)
    return batch


def acceptance_summary(client: TenantClient, batch: Batch) -> list[dict[str, Any]]:
    step("5. Acceptance report")
    report = client.report(batch["batch_id"])
    rows: list[dict[str, Any]] = report["documents"]
    table = Table(title=f"Batch {batch['batch_id']}: {report.get('status')}")
    for column in ("document", "status", "reason", "parser", "pages", "chunks"):
        table.add_column(column, justify="right" if column in ("pages", "chunks") else "left")
    table.add_column("document id", overflow="fold")
    for r in rows:
        table.add_row(r["name"], render.styled_status(r["status"], r.get("reason")),
                      render.reason_text(r.get("reason")), r.get("parser") or "",
                      _num(r.get("pages")), _num(r.get("chunks")), r.get("document_id") or "")
    console.print(table)
    counts = Counter("DUPLICATE (already ingested)" if r.get("reason") == "DUPLICATE"
                     else r["status"] for r in rows)
    console.print("counts: " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))
                  + f" · chunks {report.get('counts', {}).get('chunks', 0)}")
    model = report.get("embedding_model") or {}
    if model:
        console.print(f"embedding model {model.get('model')} ({model.get('dimension')}-d)")
    duplicates = counts.get("DUPLICATE (already ingested)", 0)
    if duplicates:
        console.print(f"[yellow]{duplicates} sample(s) were already ingested by an earlier run: "
                      "REJECTED DUPLICATE, pointing at the document indexed then (its id "
                      "above). The searches below use those documents.[/]")
    return rows


def _num(value: Any) -> str:
    return "" if value is None else str(value)


def run_searches(client: TenantClient) -> None:
    step("6. Search")
    best: list[str] = []
    for query, expected in SEARCHES:
        result = client.search(query, top_k=3)
        if not result["hits"]:
            raise DemoFailed(f"the search {query!r} returned no hits")
        console.print(render.search_result(result, query))
        top = result["hits"][0]["document_name"]
        best.append(top)
        mark = "[green]✓[/]" if top == expected else "[yellow]![/]"
        console.print(f"{mark} best hit from {top} (expected {expected})\n")
    if len(set(best)) < len(best):
        console.print("[yellow]Both searches' best hits came from the same document.[/]")


def main() -> int:
    from frostbyte_common.errors import FrostbyteError

    try:
        info = start_stack()
        with ControlPlaneClient(info.control_plane_url, info.admin_token) as cp:
            tenant = ensure_tenant(cp)
            step("3. Vendor key")
            issued = cp.create_vendor_key(
                TENANT, ["ingest", "read", "audit"],
                label=f"make demo {datetime.now(UTC):%Y-%m-%d %H:%M:%S}")
            console.print(f"issued vendor key {issued['key_id']} (scopes "
                          f"{', '.join(issued['scopes'])}); the key is shown once by the API "
                          "and kept only in this process")
            ca_pem = cp.ca_certificate()
        endpoint = tenant["endpoint"]
        if not endpoint:
            raise DemoFailed(f"tenant {TENANT} is ACTIVE but has no endpoint")
        console.print(f"HTTPS, verified against the control plane's CA "
                      f"({tls.fingerprint(ca_pem)[:23]}…); the endpoint's certificate is "
                      f"{tenant.get('tls_fingerprint') or 'not recorded'}")
        with TenantClient(endpoint, issued["key"], verify=tls.client_context(ca_pem)) as client:
            batch = submit_samples(client)
            rows = acceptance_summary(client, batch)
            bad = [r for r in rows if not document_ok(r)]
            if bad:
                raise DemoFailed("samples that did not end INDEXED (or DUPLICATE): " + ", ".join(
                    f"{r['name']} {r['status']} {r.get('reason') or ''}".strip() for r in bad))
            run_searches(client)
            step("7. Audit chain")
            verdict = client.audit_verify()
            if not verdict["ok"]:
                raise DemoFailed(f"the audit chain does not verify: {verdict}")
            console.print(f"[green]frostbyte audit verify: ok[/] — {verdict['events']} events,"
                          f" head {verdict['head_hash']}")
    except (CliError, DemoFailed, FrostbyteError) as exc:
        console.print(f"[bold red]demo failed:[/] {exc}")
        console.print("Logs: .local/logs/ and .local/tenants/demo/logs/ · stop everything with "
                      "`.venv/bin/frostbyte local down`")
        return 1
    console.rule("[bold green]Demo complete")
    if warning := test_signatures_warning():
        console.print(f"[bold yellow]WARNING[/] {warning}")
    console.print(f"Try it yourself: export FROSTBYTE_ENDPOINT={endpoint} and a key from\n"
                  f"  .venv/bin/frostbyte keys create {TENANT} --scope ingest --scope read "
                  "--scope audit\n"
                  "then `.venv/bin/frostbyte search \"parking permit zones\"`.")
    console.print("The stack keeps running. Stop it with: [bold].venv/bin/frostbyte local "
                  "down[/] (or `make down`).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
