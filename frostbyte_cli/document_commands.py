"""``frostbyte documents delete <id>`` — erase a document from the tenant (vendor key with
the ``ingest`` scope). Registered on the root app by :mod:`frostbyte_cli.main`."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from frostbyte_cli.client import CliError
from frostbyte_cli.shared import (
    EndpointOpt,
    JsonOpt,
    KeyOpt,
    deps_of,
    print_json,
    reports_errors,
)

documents_app = typer.Typer(no_args_is_help=True, help="Documents of the tenant (vendor).")


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
    try:
        uuid.UUID(document_id)
    except ValueError:
        raise CliError(f"not a document id: {document_id!r}", code="BAD_OPTION") from None
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
