"""``frostbyte audit events|proof|export`` (vendor key with the ``audit`` scope): the
tenant's audit chain read page by page, the inclusion proof of one event checked here, and
the signed export saved to a file. ``audit verify`` and ``audit verify-export`` live in
:mod:`frostbyte_cli.main` on the same group."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from frostbyte_cli.client import CliError
from frostbyte_cli.shared import (
    EndpointOpt,
    JsonOpt,
    KeyOpt,
    deps_of,
    print_json,
    reports_errors,
)

audit_app = typer.Typer(no_args_is_help=True, help="The tenant's audit chain (vendor).")


@audit_app.command("events")
@reports_errors
def audit_events(
    ctx: typer.Context,
    document_id: Annotated[str | None, typer.Option(help="Only events about this document.")
                           ] = None,
    batch_id: Annotated[str | None, typer.Option(help="Only events about this batch.")] = None,
    event_type: Annotated[str | None, typer.Option(
        "--type", help="Only this event type, e.g. document.deleted.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this actor.")] = None,
    since: Annotated[datetime | None, typer.Option(help="From this time (ISO 8601).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Up to this time (ISO 8601).")] = None,
    after_seq: Annotated[int, typer.Option(min=0, help="Events after this sequence number.")
                         ] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Events per page (1-1000).")
                     ] = 100,
    all_pages: Annotated[bool, typer.Option(
        "--all", help="Follow next_after_seq to the end of the chain.")] = False,
    json_out: JsonOpt = False, endpoint: EndpointOpt = None, key: KeyOpt = None,
) -> None:
    """List audit events in chain order, filtered; page on with --after-seq (or --all)."""
    deps = deps_of(ctx)
    params: dict[str, Any] = {"after_seq": after_seq, "limit": limit}
    for name, value in (("document_id", document_id), ("batch_id", batch_id),
                        ("type", event_type), ("actor", actor)):
        if value is not None:
            params[name] = value
    for name, when in (("since", since), ("until", until)):
        if when is not None:
            params[name] = when.isoformat()
    events: list[dict[str, Any]] = []
    with deps.tenant(endpoint, key) as client:
        while True:
            page = client.audit_events(params)
            events.extend(page.get("events", []))
            nxt = page.get("next_after_seq")
            if not all_pages or nxt is None:
                break
            params["after_seq"] = nxt
    if json_out:
        print_json({"events": events, "next_after_seq": nxt})
        return
    if not events:
        deps.out.print("No events.")
        return
    table = Table(title=f"Audit events ({len(events)})")
    for column in ("seq", "occurred at", "type", "actor", "subject"):
        table.add_column(column, overflow="fold")
    for e in events:
        subject = e.get("subject")
        shown = (", ".join(f"{k}={v}" for k, v in subject.items())
                 if isinstance(subject, dict) else str(subject or ""))
        table.add_row(str(e.get("seq")), str(e.get("occurred_at", "")),
                      Text(str(e.get("type", e.get("event_type", "")))),
                      Text(str(e.get("actor", ""))), Text(shown))
    deps.out.print(table)
    if nxt is not None:
        deps.out.print(f"More follow: --after-seq {nxt}")


@audit_app.command("proof")
@reports_errors
def audit_proof(
    ctx: typer.Context,
    seq: Annotated[int, typer.Argument(min=1, help="The event's sequence number.")],
    public_key: Annotated[str | None, typer.Option(
        help="The tenant's audit public key (base64) you trust; default: the key the "
        "checkpoint names.")] = None,
    json_out: JsonOpt = False, endpoint: EndpointOpt = None, key: KeyOpt = None,
) -> None:
    """Fetch the inclusion proof of event SEQ and check it here: the event's leaf against
    the signed checkpoint's Merkle root (RFC 9162), and the checkpoint's Ed25519 signature.
    Exits 1 when either does not hold."""
    from frostbyte_common import merkle
    from frostbyte_common.audit_checkpoint import Checkpoint, checkpoint_problem

    deps = deps_of(ctx)
    with deps.tenant(endpoint, key) as client:
        proof = client.audit_proof(seq)
    try:
        leaf = merkle.leaf_hash(bytes.fromhex(proof["event_hash"]))
        included = merkle.verify_inclusion(
            leaf, int(proof["leaf_index"]), int(proof["tree_size"]),
            [bytes.fromhex(p) for p in proof["proof"]], bytes.fromhex(proof["root_hash"]))
        checkpoint = Checkpoint.from_json(proof["checkpoint"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CliError(f"the proof of seq {seq} is malformed: {exc!r}",
                       code="BAD_RESPONSE") from exc
    signed = checkpoint_problem(checkpoint, trusted_public_key=public_key)
    if checkpoint.root_hash != proof["root_hash"] or checkpoint.tree_size != proof["tree_size"]:
        signed = signed or "the checkpoint is not the one the proof is against"
    ok = included and signed is None
    if json_out:
        print_json({**proof, "verified": {"inclusion": included, "checkpoint": signed is None,
                                          "problem": signed, "ok": ok}})
    elif ok:
        deps.out.print(f"[green]event {seq} is included[/] in the tree of "
                       f"{proof['tree_size']} events, root {proof['root_hash']}, signed by "
                       f"{checkpoint.key_id}" + ("" if public_key else
                                               " (compare the key with the tenant's "
                                               "published one)"))
    else:
        why = "the Merkle path does not lead to the root" if not included else signed
        deps.out.print(f"[bold red]proof of event {seq} does NOT hold[/]: ", end="")
        deps.out.print(str(why), markup=False, highlight=False)
    raise typer.Exit(0 if ok else 1)


@audit_app.command("export")
@reports_errors
def audit_export(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="The JSON Lines file to write (the manifest line first).")],
    json_out: JsonOpt = False, endpoint: EndpointOpt = None, key: KeyOpt = None,
) -> None:
    """Download the signed export of the whole chain (POST /v1/audit/export) into a file;
    check it offline with `frostbyte audit verify-export FILE`."""
    deps = deps_of(ctx)
    partial = output.with_name(output.name + ".part")
    try:
        with deps.tenant(endpoint, key) as client, partial.open("wb") as fh:
            size = client.audit_export(fh)
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    if json_out:
        print_json({"output": str(output), "bytes": size})
    else:
        deps.out.print(f"Audit export written to {output} ({size} bytes); verify it with "
                       f"`frostbyte audit verify-export {output}`.", highlight=False)
