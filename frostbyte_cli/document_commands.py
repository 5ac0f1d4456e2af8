"""``frostbyte documents list|get|delete`` and ``frostbyte quarantine list`` (vendor key):
the tenant's stored documents (``read`` scope), one's canonical JSON, erasing one (``ingest``
scope), and the documents intake holds apart (``audit`` scope; read-only — only an admin
releases or purges, with ``frostbyte tenants quarantine``). Registered on the root app by
:mod:`frostbyte_cli.main`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from frostbyte_cli import render
from frostbyte_cli.client import CliError
from frostbyte_cli.shared import (
    EndpointOpt,
    JsonOpt,
    KeyOpt,
    LimitOpt,
    OffsetOpt,
    deps_of,
    print_json,
    reports_errors,
)

documents_app = typer.Typer(no_args_is_help=True, help="Documents of the tenant (vendor).")
quarantine_app = typer.Typer(no_args_is_help=True,
                             help="Documents held apart by intake (vendor, audit scope).")


def _checked_id(document_id: str) -> str:
    try:
        uuid.UUID(document_id)
    except ValueError:
        raise CliError(f"not a document id: {document_id!r}", code="BAD_OPTION") from None
    return document_id


@documents_app.command("list")
@reports_errors
def documents_list(ctx: typer.Context, limit: LimitOpt = 50, offset: OffsetOpt = 0,
                   json_out: JsonOpt = False, endpoint: EndpointOpt = None,
                   key: KeyOpt = None) -> None:
    """List stored documents, newest first: status, reason, parser, pages, chunks."""
    deps = deps_of(ctx)
    with deps.tenant(endpoint, key) as client:
        page = client.list_documents(limit=limit, offset=offset)
    if json_out:
        print_json(page)
        return
    documents: list[dict[str, Any]] = page.get("documents", [])
    if not documents:
        deps.out.print("No documents." if offset == 0 else "No more documents.")
        return
    table = Table(title=f"Documents {offset + 1}-{offset + len(documents)}")
    for column in ("document id", "name", "status", "reason", "parser", "pages", "chunks"):
        table.add_column(column, overflow="fold")
    for d in documents:
        table.add_row(str(d["document_id"]), Text(str(d.get("name") or "—")),
                      render.styled_status(str(d.get("status")), d.get("reason")),
                      render.reason_text(d.get("reason")), str(d.get("parser") or "—"),
                      str(d.get("page_count") if d.get("page_count") is not None else "—"),
                      str(d.get("chunk_count") if d.get("chunk_count") is not None else "—"))
    deps.out.print(table)
    if len(documents) == limit:
        deps.out.print(f"More may follow: --offset {offset + limit}")


@documents_app.command("get")
@reports_errors
def documents_get(
    ctx: typer.Context,
    document_id: Annotated[str, typer.Argument(help="The document's id (from a receipt).")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the JSON to this file instead of stdout.")] = None,
    json_out: JsonOpt = False, endpoint: EndpointOpt = None, key: KeyOpt = None,
) -> None:
    """Print a document's canonical JSON (elements, headings, pages, tables) once parsed.
    The output is JSON with or without --json."""
    deps = deps_of(ctx)
    with deps.tenant(endpoint, key) as client:
        document = client.get_document(_checked_id(document_id))
    if output is None:
        print_json(document)
        return
    output.write_text(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
                      + "\n", encoding="utf-8")
    if not json_out:
        deps.err.print(f"Document written to {output}")


@quarantine_app.command("list")
@reports_errors
def quarantine_list(ctx: typer.Context, limit: LimitOpt = 50, offset: OffsetOpt = 0,
                    json_out: JsonOpt = False, endpoint: EndpointOpt = None,
                    key: KeyOpt = None) -> None:
    """List your quarantined documents, newest first, with the reason and the scanner's
    signature. Read-only: ask your platform admin to release or purge one."""
    deps = deps_of(ctx)
    with deps.tenant(endpoint, key) as client:
        page = client.list_quarantine(limit=limit, offset=offset)
    if json_out:
        print_json(page)
        return
    documents: list[dict[str, Any]] = page.get("documents", [])
    if not documents:
        deps.out.print("Nothing is quarantined." if offset == 0 else "No more documents.")
        return
    table = Table(title="Quarantine")
    for column in ("document id", "name", "reason", "signature / detail", "received"):
        table.add_column(column, overflow="fold")
    for d in documents:
        table.add_row(str(d["document_id"]), Text(str(d.get("name") or "—")),
                      str(d.get("reason") or "—"),
                      Text(str(d.get("malware_signature") or d.get("detail") or "—")),
                      str(d.get("created_at") or "—"))
    deps.out.print(table)


@documents_app.command("delete")
@reports_errors
def documents_delete(
    ctx: typer.Context,
    document_id: Annotated[str, typer.Argument(help="The document's id (from a receipt).")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = (
        False),
    json_out: JsonOpt = False, endpoint: EndpointOpt = None, key: KeyOpt = None,
) -> None:
    """Erase a document: its chunks, vectors and stored files are removed for good; the
    audit chain keeps a document.deleted event (id, sha256, counts — no content)."""
    _checked_id(document_id)
    deps = deps_of(ctx)
    if not yes:
        typer.confirm(f"Erase document {document_id}? This cannot be undone", abort=True)
    with deps.tenant(endpoint, key) as client:
        result = client.delete_document(document_id)
    if json_out:
        print_json(result)
        return
    removed = result.get("removed", {})
    deps.out.print(f"[green]document {document_id} erased[/]: "
                   + ", ".join(f"{n} {kind}" for kind, n in removed.items())
                   + f" removed (audit seq {result.get('audit_seq')})", highlight=False)
