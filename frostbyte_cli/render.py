"""Rich renderings shared by the CLI and the demo: tables, hits, proofs, progress.

What comes from vendors (names, headings, text, a query) goes in as ``Text``, never as a
string Rich would read as markup: ``[/bold]`` in a name would raise, ``a[b]c`` lose ``[b]``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from frostbyte_cli.client import BatchDocument, SearchResult, Tenant, document_ok

_STATUS_STYLE = {"INDEXED": "green", "ACCEPTED": "cyan", "PROCESSING": "cyan",
                 "REJECTED": "red", "QUARANTINED": "magenta", "FAILED": "red",
                 "PURGED": "dim", "ACTIVE": "green", "PROVISIONING": "cyan",
                 "REQUESTED": "cyan", "SUSPENDED": "yellow", "DEPROVISIONING": "yellow",
                 "DEPROVISIONED": "dim"}


def styled_status(status: str, reason: str | None = None) -> Text:
    """The status, coloured; a duplicate's REJECTED is yellow, not red (it is no failure)."""
    if status == "REJECTED" and reason == "DUPLICATE":
        return Text(status, style="yellow")
    return Text(status, style=_STATUS_STYLE.get(status, ""))


def reason_text(reason: str | None) -> str:
    """The reason code; DUPLICATE says what it means for the vendor."""
    if reason == "DUPLICATE":
        return "DUPLICATE (already ingested)"
    return reason or ""


def upload_progress(console: Any, *, disable: bool = False) -> Progress:
    """Bytes done of a known total: a batch upload, the hashing before it."""
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    DownloadColumn(), TransferSpeedColumn(), TimeElapsedColumn(),
                    console=console, transient=True, disable=disable)


def count_progress(console: Any, *, disable: bool = False) -> Progress:
    """Items done of a known total (documents finished, ...)."""
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                    transient=True, disable=disable)


def tenants_table(tenants: Iterable[Tenant]) -> Table:
    table = Table(title="Tenants")
    for column in ("slug", "state", "provider", "endpoint", "updated"):
        table.add_column(column)
    for t in tenants:
        table.add_row(t["slug"], styled_status(t["state"]), t["provider"],
                      t.get("endpoint") or "—", str(t.get("updated_at") or ""))
    return table


def tenant_panel(tenant: Tenant) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for key in ("slug", "display_name", "state", "provider", "version", "endpoint",
                "tls_fingerprint", "failed_operation",
                "failure_reason", "created_at", "updated_at"):
        value = tenant.get(key)
        if value is None:
            continue
        table.add_row(key, styled_status(str(value)) if key == "state" else str(value))
    if health := tenant.get("health"):
        table.add_row("health", health_text(health))
    return table


def health_text(health: Mapping[str, Any]) -> Text:
    """The last health poll: ``ready`` or what was wrong and for how many polls, and when."""
    if health.get("ready"):
        return Text(f"ready (polled {health.get('checked_at')})", style="green")
    polls = health.get("consecutive_failures") or 1
    return Text(f"not ready: {health.get('detail')} ({polls} poll{'s' if polls != 1 else ''}, "
                f"last {health.get('checked_at')})", style="red")


def receipt_table(documents: Sequence[BatchDocument] | Sequence[Mapping[str, Any]],
                  title: str = "Receipt") -> Table:
    """One row per document: name, status, reason, document id (for a duplicate: the
    existing document's)."""
    table = Table(title=title)
    table.add_column("document")
    table.add_column("status")
    table.add_column("reason")
    table.add_column("document id", overflow="fold")
    for d in documents:
        reason = d.get("reason")
        table.add_row(Text(str(d["name"])), styled_status(str(d["status"]), reason),
                      reason_text(reason), str(d.get("document_id") or "—"))
    return table


def outcome_line(documents: Sequence[Mapping[str, Any]]) -> Text:
    """``9 documents: 7 INDEXED, 2 DUPLICATE`` — and whether that counts as success."""
    counts = Counter(
        "DUPLICATE" if d.get("reason") == "DUPLICATE" else str(d["status"]) for d in documents
    )
    parts = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    ok = all(document_ok(d) for d in documents)
    return Text(f"{len(documents)} document(s): {parts}",
                style="green" if ok else "bold red")


def location(hit: Mapping[str, Any]) -> str:
    if hit.get("page") is not None:
        return f"p. {hit['page']}"
    if hit.get("sheet"):
        return f"sheet {hit['sheet']}"
    return ""


def snippet(text: str, limit: int = 220) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def search_result(result: SearchResult, query: str, *, snippets: bool = True
                  ) -> RenderableType:
    """The hits (document, heading path, page/sheet, score, snippet) and the proof panel."""
    hits = result["hits"]
    table = Table(title=Text(f"Search: {query!r} — {len(hits)} hit(s)"),
                  show_lines=snippets)
    table.add_column("#", justify="right")
    table.add_column("document")
    table.add_column("heading path")
    table.add_column("where")
    table.add_column("score", justify="right")
    if snippets:
        table.add_column("text", ratio=1)
    for rank, hit in enumerate(hits, start=1):
        row: list[str | Text] = [
            str(rank), Text(hit["document_name"]),
            Text(" › ".join(hit["heading_path"]) or "—"), location(hit),
            f"{hit['score']:.3f}"]
        if snippets:
            row.append(Text(snippet(hit["text"])))
        table.add_row(*row)
    return Group(table, proof_panel(result))


def proof_panel(result: SearchResult) -> Panel:
    proof = result["proof"]
    index = proof["index"]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    grid.add_row("query_sha256", proof["query_sha256"])
    model = index["model"] + (f" (version {index['version']})" if index.get("version") else "")
    grid.add_row("index", f"{model}, {index['dimension']}-d")
    grid.add_row("chunk hashes", "\n".join(h[:16] + "…" for h in proof["chunk_hashes"]) or "—")
    audit = str(proof["audit_seq"])
    if proof.get("audit_hash"):
        audit += f"  hash {proof['audit_hash']}"
    grid.add_row("audit_seq", audit)
    return Panel(grid, title="Retrieval proof", expand=False)
