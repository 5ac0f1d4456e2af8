"""``frostbyte tenants reembed SLUG --model M`` and ``frostbyte tenants set-embedding-key
SLUG`` (issue 18): move a tenant to another embedding model while its search keeps
answering, and give an online tenant its embeddings API key. Merged into the ``tenants``
group by :mod:`frostbyte_cli.main`."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

from frostbyte_cli import render
from frostbyte_cli.client import CliError
from frostbyte_cli.shared import (
    AdminTokenOpt,
    JsonOpt,
    UrlOpt,
    deps_of,
    print_json,
    reports_errors,
)

# no name: frostbyte_cli.main merges its commands into `tenants`
embedding_app = typer.Typer()

ModelOpt = Annotated[str, typer.Option("--model", help=(
    "The embedding model to move to: nomic-embed-text-v1.5 (768-d; baked into the "
    "production images, or online), all-MiniLM-L6-v2 (384-d, the embedded default) or "
    "all-MiniLM-L6-v2-prefixed."))]
WaitOpt = Annotated[bool, typer.Option(help="Follow the progress until it switched.")]
TimeoutOpt = Annotated[float, typer.Option(help="Seconds to wait for the switch.")]


def _model_line(active: dict[str, Any]) -> str:
    model = active["model"]
    return f"{model['name']} ({model['dimension']}-d), collection {active['collection']}"


@embedding_app.command("reembed")
@reports_errors
def tenants_reembed(ctx: typer.Context, slug: str, model: ModelOpt, wait: WaitOpt = True,
                    timeout: TimeoutOpt = 3600.0, json_out: JsonOpt = False,
                    url: UrlOpt = None, admin_token: AdminTokenOpt = None) -> None:
    """Re-embed every chunk of the tenant into a new collection for MODEL while search keeps
    answering from the current one; the data plane switches when it is done (the old
    collection is dropped) and the tenant's config then names MODEL."""
    deps = deps_of(ctx)
    with deps.control_plane(url, admin_token) as cp:
        answer = cp.start_reembed(slug, model)
        record = answer["reembed"]
        if not wait:
            if json_out:
                print_json(answer)
            else:
                deps.out.print(f"Re-embedding {slug} into {record['model']['name']} started "
                               f"({record['reembed_id']}); search answers from "
                               f"{_model_line(answer['active'])} meanwhile.")
            return
        deadline = time.monotonic() + timeout
        with render.count_progress(deps.err, disable=deps.quiet or json_out) as progress:
            task = progress.add_task(f"Re-embedding {slug} into {record['model']['name']}",
                                     total=record["chunks_total"] or None)
            while True:
                answer = cp.reembed_status(slug)
                record = answer["reembed"]
                progress.update(task, completed=record["chunks_done"],
                                total=record["chunks_total"] or None)
                if record["state"] != "RUNNING":
                    break
                if time.monotonic() > deadline:
                    raise CliError(f"the re-embedding of {slug} is still running after "
                                   f"{timeout:.0f} s ({record['chunks_done']} of "
                                   f"{record['chunks_total']} chunks); it goes on: "
                                   "run the command's status again later", code="TIMEOUT")
                time.sleep(deps.poll_interval)
    if record["state"] == "FAILED":
        raise CliError(f"the re-embedding of {slug} failed: {record['error']}; search still "
                       f"answers from {_model_line(answer['active'])}",
                       code="REEMBED_FAILED")
    if json_out:
        print_json(answer)
        return
    deps.out.print(f"Tenant {slug} re-embedded: {record['chunks_done']} chunks; search "
                   f"answers from {_model_line(answer['active'])}.")


@embedding_app.command("set-embedding-key")
@reports_errors
def tenants_set_embedding_key(ctx: typer.Context, slug: str, json_out: JsonOpt = False,
                              url: UrlOpt = None, admin_token: AdminTokenOpt = None) -> None:
    """Set the tenant's online embeddings API key, read from standard input (or asked
    for, hidden, on a terminal) — never from the command line, where other users and the
    shell's history would see it. Kept in the tenant's SOPS secrets; its data plane is
    restarted on it."""
    deps = deps_of(ctx)
    if sys.stdin.isatty():
        key = typer.prompt("Embeddings API key", hide_input=True, err=True)
    else:
        key = sys.stdin.readline()
    key = key.strip()
    if not key:
        raise CliError("no key given on standard input", code="USAGE")
    with deps.control_plane(url, admin_token) as cp:
        answer = cp.set_embedding_key(slug, key)
    if json_out:
        print_json(answer)
        return
    deps.out.print(f"Embeddings API key of {slug} "
                   + ("replaced" if answer["replaced"] else "set")
                   + (" and applied: its data plane restarted on it." if answer["applied"]
                      else "; it applies when the tenant's data plane next starts."))
