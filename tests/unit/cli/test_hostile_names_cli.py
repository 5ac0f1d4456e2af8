"""Names and text that come from vendors never break the CLI: a file name that is not
UTF-8 is sent escaped (the server rejects it with UNSAFE_NAME, as it would any name it
cannot store) instead of crashing the upload, and names, headings and snippets are printed
as written, never read as Rich markup (``[/bold]`` would raise, ``a[b]c`` would lose a
part)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.console import Console

from frostbyte_cli import render
from frostbyte_cli.client import build_manifest
from tests.unit.cli.fakes import FakeApis
from tests.unit.cli.test_commands import TENANT_ENV, invoke

MARKUP_NAMES = ["a[b]c.txt", "[bold]loud[/bold].txt", "[/red]x.txt"]


def _printed(renderable: Any) -> str:
    console = Console(width=300, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_a_name_that_is_not_utf8_is_sent_escaped(tmp_path: Path) -> None:
    path = Path(os.fsdecode(bytes(tmp_path) + b"/bad\xff.txt"))
    path.write_bytes(b"hello")
    manifest, entries = build_manifest([path], "ref")
    assert manifest["files"][0]["name"] == "bad\\xff.txt"
    assert entries[0].name == "bad\\xff.txt" and entries[0].path == path


def test_batch_submit_with_hostile_names_reports_instead_of_crashing(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ["in\u200bvoice.txt", "=1+2.txt", "a[b]c.txt"]:
        (folder / name).write_text(f"content of {name}")
    Path(os.fsdecode(bytes(folder) + b"/bad\xff.txt")).write_text("not utf-8")
    fake = FakeApis()
    result = invoke(fake, ["batch", "submit", str(folder), "--no-wait"], TENANT_ENV)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert {f["name"] for f in fake.manifests[0]["files"]} == {
        "in\u200bvoice.txt", "=1+2.txt", "a[b]c.txt", "bad\\xff.txt"}
    assert "a[b]c.txt" in result.stdout and "bad\\xff.txt" in result.stdout


def test_receipt_names_are_printed_as_written() -> None:
    documents = [{"name": n, "status": "ACCEPTED", "reason": None, "document_id": "d"}
                 for n in MARKUP_NAMES]
    printed = _printed(render.receipt_table(documents))
    for name in MARKUP_NAMES:
        assert name in printed


def test_search_hits_are_printed_as_written() -> None:
    hit = {"document_name": "[/bold]report.pdf", "heading_path": ["[red]Intro"],
           "text": "costs [b]rose[/b] by [/i]10%", "score": 0.5, "chunk_id": "c",
           "document_id": "d", "content_sha256": "0" * 64}
    result = {"hits": [hit], "proof": {"query_sha256": "1" * 64, "chunk_hashes": ["0" * 64],
                                       "audit_seq": 1,
                                       "index": {"model": "m", "dimension": 3}}}
    printed = _printed(render.search_result(result, "[/q]"))  # type: ignore[arg-type]
    for text in ("[/bold]report.pdf", "[red]Intro", "costs [b]rose[/b] by [/i]10%", "[/q]"):
        assert text in printed
