"""``frostbyte batch submit|list|status|report`` (vendor key): send files and folders as
batches within the tenant's limits, and read the batches back. Registered on the root app by
:mod:`frostbyte_cli.main`.

``submit`` recurses into folders, hashes every file (a progress bar), splits the files into
batches of at most ``--max-batch-files`` files and ``--max-batch-bytes`` bytes (the tenant's
``max_batch_files`` and ``max_batch_bytes``; SPEC §9 defaults 1,000 and 5 GiB), sends each
with an ``Idempotency-Key`` derived from its manifest (:mod:`frostbyte_cli.batching`), so a
re-run after a failure replays what was received instead of sending it twice, and follows
processing to the end.
"""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import TaskID
from rich.table import Table
from rich.text import Text

from frostbyte_cli import render
from frostbyte_cli.batching import (
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_BATCH_FILES,
    client_refs,
    collect_files,
    content_digest,
    digest_files,
    given_keys,
    idempotency_key_for,
    manifest_for,
    plan_batches,
)
from frostbyte_cli.client import DOC_TERMINAL, Batch, CliError, TenantClient, batch_exit_code
from frostbyte_cli.shared import (
    Deps,
    EndpointOpt,
    JsonOpt,
    KeyOpt,
    LimitOpt,
    OffsetOpt,
    deps_of,
    print_json,
    reports_errors,
)

batch_app = typer.Typer(no_args_is_help=True,
                        help="Submit batches and read their status and reports (vendor).")


class ReportFormat(StrEnum):
    json = "json"
    html = "html"
    csv = "csv"


def _follow_batch(deps: Deps, client: TenantClient, batch_id: str, total: int,
                  timeout: float, label: str) -> Batch:
    with render.count_progress(deps.err, disable=deps.quiet) as progress:
        task = progress.add_task(f"Processing {label}", total=total)

        def show(batch: Batch) -> None:
            done = sum(1 for d in batch["documents"] if d["status"] in DOC_TERMINAL)
            indexed = sum(1 for d in batch["documents"] if d["status"] == "INDEXED")
            progress.update(task, completed=done,
                            description=f"Processing {label} ({indexed} indexed)")

        return client.wait_for_batch(batch_id, timeout, show, poll_interval=deps.poll_interval)


@batch_app.command("submit")
@reports_errors
def batch_submit(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(
        exists=True, readable=True,
        help="Files, or folders whose files (sub-folders included) are sent.")],
    client_ref: Annotated[str | None, typer.Option(
        help="Your reference for the batch, ' (i/n)' added when there are several "
        "(default: frostbyte-cli-<digest of the batch's files>, the same on a re-run).")
    ] = None,
    wait: Annotated[bool, typer.Option(
        help="Wait until every document is finished (INDEXED, rejected, ...).")] = True,
    timeout: Annotated[float, typer.Option(
        help="Seconds to wait for processing, all batches together.")] = 1800.0,
    idempotency_key: Annotated[str | None, typer.Option(
        help="Your own Idempotency-Key ('-i' added per batch when there are several); "
        "default: one derived from each batch's manifest, so running the same command "
        "again replays what was received. 1-255 visible ASCII characters; a key lives 24 h "
        "by default.")] = None,
    max_batch_files: Annotated[int, typer.Option(
        min=1, help="Files per batch: the tenant's max_batch_files.")] = DEFAULT_MAX_BATCH_FILES,
    max_batch_bytes: Annotated[int, typer.Option(
        min=1, help="Bytes per batch: the tenant's max_batch_bytes.")] = DEFAULT_MAX_BATCH_BYTES,
    json_out: JsonOpt = False,
    endpoint: EndpointOpt = None,
    key: KeyOpt = None,
) -> None:
    """Submit files and folders as batches, follow upload and processing, print receipts.

    Folders are read recursively (hidden files and folders skipped); a file in a sub-folder
    is sent under its own name with its path as the manifest metadata "path". Files are
    split into batches within the limits, never two of one name in a batch. Exits 0 when
    every document is INDEXED or the only rejections are duplicates (already ingested), 6
    otherwise (see `frostbyte --help` for the other codes). With --no-wait, documents still
    ACCEPTED or PROCESSING count as fine."""
    deps = deps_of(ctx)
    files = collect_files(paths)
    plan = plan_batches(files, max_files=max_batch_files, max_bytes=max_batch_bytes)
    with render.upload_progress(deps.err, disable=deps.quiet) as progress:
        task = progress.add_task(f"Hashing {len(files)} file(s)",
                                 total=sum(f.size for f in files))
        entries = digest_files(files, lambda n: progress.advance(task, n))
    refs = client_refs(client_ref, [content_digest(batch, entries) for batch in plan])
    manifests = [manifest_for(batch, entries, ref) for batch, ref in zip(plan, refs, strict=True)]
    keys = (given_keys(idempotency_key, len(plan)) if idempotency_key is not None
            else [idempotency_key_for(m) for m in manifests])
    deadline = time.monotonic() + timeout
    results: list[dict[str, Any]] = []
    with deps.tenant(endpoint, key) as client:
        for i, (batch_files, manifest, idem) in enumerate(
                zip(plan, manifests, keys, strict=True), start=1):
            label = f"batch {i}/{len(plan)}"
            try:
                with render.upload_progress(deps.err, disable=deps.quiet) as progress:
                    task = progress.add_task(f"Uploading {label}: {len(batch_files)} file(s)",
                                             total=None)
                    def sent(done: int, total: int, task: TaskID = task) -> None:
                        progress.update(task, completed=done, total=total)

                    receipt, replayed = client.submit_prepared(
                        manifest, [entries[f.path] for f in batch_files], idem, sent)
            except CliError as exc:
                raise _partly_sent(exc, results, len(plan)) from exc
            results.append({"batch_id": receipt["batch_id"], "client_ref": manifest["client_ref"],
                            "idempotency_key": idem, "replayed": replayed,
                            "paths": {f.name: f.relpath for f in batch_files},
                            "receipt": receipt})
            if not deps.quiet:
                deps.out.print(f"Batch {i}/{len(plan)} [bold]{receipt['batch_id']}[/] "
                               f"{'replayed (received before)' if replayed else 'received'} "
                               f"({len(receipt['documents'])} document(s)).")
        final: list[Batch] = []
        for i, result in enumerate(results, start=1):
            batch: Batch = result["receipt"]
            if wait and any(d["status"] not in DOC_TERMINAL for d in batch["documents"]):
                batch = _follow_batch(deps, client, batch["batch_id"], len(batch["documents"]),
                                      max(deadline - time.monotonic(), 0.0),
                                      f"batch {i}/{len(results)}")
            final.append(batch)
    documents = [{**d, "batch_id": batch["batch_id"],
                  "path": result["paths"].get(d["name"], d["name"])}
                 for result, batch in zip(results, final, strict=True)
                 for d in batch["documents"]]
    code = batch_exit_code(documents, final=wait)
    if json_out:
        print_json({
            "batches": [{**batch, "client_ref": r["client_ref"],
                         "idempotency_key": r["idempotency_key"], "replayed": r["replayed"]}
                        for r, batch in zip(results, final, strict=True)],
            "documents": documents, "files": len(files), "exit_code": code})
    else:
        shown = [{**d, "name": d["path"]} for d in documents]
        deps.out.print(render.receipt_table(
            shown, title=f"{len(results)} batch(es): " + ", ".join(r["batch_id"]
                                                                  for r in results)))
        deps.out.print(render.outcome_line(documents) if wait else
                       "Not waiting; follow with `frostbyte batch status BATCH_ID`.")
    raise typer.Exit(code)


def _partly_sent(exc: CliError, results: list[dict[str, Any]], count: int) -> CliError:
    """The error of batch ``len(results) + 1``, saying which batches went in before it."""
    if not results:
        return exc
    sent = ", ".join(r["batch_id"] for r in results)
    exc.message += (f" — {len(results)} of {count} batch(es) were received before this "
                    f"({sent}); run the same command again: they replay, the rest is sent")
    return exc


@batch_app.command("list")
@reports_errors
def batch_list(ctx: typer.Context, limit: LimitOpt = 50, offset: OffsetOpt = 0,
               json_out: JsonOpt = False, endpoint: EndpointOpt = None,
               key: KeyOpt = None) -> None:
    """List the tenant's batches, newest first: status, reference, documents."""
    deps = deps_of(ctx)
    with deps.tenant(endpoint, key) as client:
        page = client.list_batches(limit=limit, offset=offset)
    if json_out:
        print_json(page)
        return
    batches = page.get("batches", [])
    if not batches:
        deps.out.print("No batches." if offset == 0 else "No more batches.")
        return
    table = Table(title=f"Batches {offset + 1}-{offset + len(batches)}")
    for column in ("batch id", "status", "client ref", "received", "documents"):
        table.add_column(column, overflow="fold")
    for b in batches:
        docs = b.get("documents", [])
        indexed = sum(1 for d in docs if d.get("status") == "INDEXED")
        table.add_row(str(b["batch_id"]), render.styled_status(str(b.get("status", ""))),
                      Text(str(b.get("client_ref") or "")), str(b.get("received_at") or ""),
                      f"{len(docs)} ({indexed} indexed)")
    deps.out.print(table)
    if len(batches) == limit:
        deps.out.print(f"More may follow: --offset {offset + limit}")


@batch_app.command("status")
@reports_errors
def batch_status(ctx: typer.Context, batch_id: str, json_out: JsonOpt = False,
                 endpoint: EndpointOpt = None, key: KeyOpt = None) -> None:
    """Show a batch's status and each document's."""
    deps = deps_of(ctx)
    with deps.tenant(endpoint, key) as client:
        batch = client.get_batch(batch_id)
    if json_out:
        print_json(batch)
        return
    deps.out.print(render.receipt_table(batch["documents"],
                                        title=f"Batch {batch_id}: {batch.get('status')}"))
    deps.out.print(render.outcome_line(batch["documents"]))


@batch_app.command("report")
@reports_errors
def batch_report(
    ctx: typer.Context,
    batch_id: str,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="json, html or csv.")] =
    ReportFormat.json,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write to this file instead of stdout.")] = None,
    endpoint: EndpointOpt = None,
    key: KeyOpt = None,
) -> None:
    """Fetch a batch's acceptance report as JSON, HTML or CSV.

    It holds counts, each document's outcome and reason, parser, pages and chunks, the
    embedding model and the audit-chain head."""
    deps = deps_of(ctx)
    with deps.tenant(endpoint, key) as client:
        if fmt is ReportFormat.json:
            text = json.dumps(client.report(batch_id, "json"), indent=2, sort_keys=True,
                              default=str, ensure_ascii=False) + "\n"
        else:
            text = client.report(batch_id, "html" if fmt is ReportFormat.html else "csv")
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        output.write_text(text, encoding="utf-8")
        deps.err.print(f"Report written to {output}")
