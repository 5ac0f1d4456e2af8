"""Legacy Word 97-2003 ``.doc`` → canonical document, with Debian's ``antiword``.

Why antiword and not LibreOffice (measured 2026-12-01 on this machine, Debian 12):

* ``antiword`` (Debian ``antiword`` 0.37): 0.6 MB installed, one package; 6 ms per file on
  ``corpus/docling/legacy_sample.doc`` (2 pages); text in reading order with paragraphs,
  bullet and numbered lists, ``[pic]`` markers and tables as ``|``-separated rows. No
  headings (it does not read paragraph styles): the document is paragraphs, lists, tables.
* LibreOffice headless (``libreoffice-writer-nogui`` + ``-calc-`` + ``-impress-nogui``,
  ``--no-install-recommends``): 73 packages, 310 MB installed; and with ``soffice`` on the
  PATH docling's Word backend starts rasterising DrawingML shapes of ordinary DOCX files
  through it, which would change (and slow) every DOCX parse. Not worth it for one format.

Legacy ``.xls``/``.ppt`` are refused at intake with a message naming the format
(``intake_content.NAMED_REFUSALS``).

antiword runs as a child of the isolated parser process (so under its memory ceiling), with
its own timeout, an empty environment but ``PATH`` and ``HOME`` (a private, empty directory:
antiword reads ``~/.antiword`` for its character maps), and no shell.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile

from data_plane.adapters.parsers._common import (
    PARSE_FAILED,
    ElementBuilder,
    cells_from_rows,
    failed_document,
    guarded,
    make_document,
)
from data_plane.domain.canonical import CanonicalDocument, ElementType
from data_plane.domain.ports import ParseRequest

#: Seconds one antiword run may take (6 ms measured for two pages; 872 pages would be ~3 s).
ANTIWORD_TIMEOUT_S = 60
_BULLET = re.compile(r"^\s*[•·▪◦o\-*]\s+")
_NUMBERED = re.compile(r"^\s*\(?\d{1,3}[.)]\s+")


class LegacyWordParser:
    """``.doc`` via ``antiword`` (plain text with paragraphs, lists and tables)."""

    name = "legacy-office"

    def __init__(self, binary: str = "antiword", timeout_s: float = ANTIWORD_TIMEOUT_S) -> None:
        self._binary = binary
        self._timeout_s = timeout_s
        self._version: str | None = None
        self._parse = guarded(self._parse_unguarded, self.name, lambda: self.version)

    @property
    def version(self) -> str:
        """``antiword <version>`` (Debian's package version), or ``antiword`` if unknown."""
        if self._version is None:
            self._version = "antiword"
            try:
                out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "antiword"],
                                     capture_output=True, text=True, timeout=10, check=False)
                if out.returncode == 0 and out.stdout.strip():
                    self._version = f"antiword {out.stdout.strip()}"
            except (OSError, subprocess.SubprocessError):
                pass
        return self._version

    def parse(self, request: ParseRequest) -> CanonicalDocument:
        """Parse one file; never raises for a bad document (FAILED with an error item)."""
        return self._parse(request)

    def _parse_unguarded(self, request: ParseRequest) -> CanonicalDocument:
        binary = shutil.which(self._binary)
        if binary is None:
            return failed_document(
                request, parser=self.name, version=self.version,
                message=f"{PARSE_FAILED}: legacy Word 97-2003 .doc needs antiword, which is "
                "not installed here (scripts/install.sh installs it)")
        with tempfile.TemporaryDirectory(prefix="antiword-") as home:
            run = subprocess.run(
                [binary, "-w", "0", "-m", "UTF-8.txt", str(request.path)],
                capture_output=True, timeout=self._timeout_s, check=False,
                env={"PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"})
        if run.returncode != 0:
            why = " ".join(run.stderr.decode("utf-8", "replace").replace(
                str(request.path), request.name).split())[:300]
            return failed_document(
                request, parser=self.name, version=self.version,
                message=f"{PARSE_FAILED}: antiword could not read {request.name!r} as a Word "
                f"97-2003 document: {why or f'exit status {run.returncode}'}")
        builder = text_elements(run.stdout.decode("utf-8", "replace"))
        return make_document(request, parser=self.name, version=self.version,
                             elements=builder.elements, metadata={"format": "doc"})


def text_elements(text: str) -> ElementBuilder:
    """Pure: antiword's text (``-w 0``: one line per paragraph) → paragraphs, list items,
    pictures and tables (runs of ``|``-lines; a row whose first cell is empty continues
    the cells of the row above, as antiword wraps long cells onto a new row)."""
    b = ElementBuilder()
    rows: list[list[str]] = []

    def flush_table() -> None:
        if rows:
            b.table(cells_from_rows([list(r) for r in rows]))
            rows.clear()

    for raw in text.splitlines():
        line = raw.rstrip()
        if line.lstrip().startswith("|") and line.endswith("|"):
            cells = [c.strip() for c in line.strip()[1:-1].split("|")]
            if rows and not cells[0] and len(cells) == len(rows[-1]):
                rows[-1] = [f"{a} {c}".strip() for a, c in zip(rows[-1], cells, strict=True)]
            else:
                rows.append(cells)
            continue
        flush_table()
        stripped = line.strip()
        if not stripped:
            continue
        if stripped == "[pic]":
            b.add(ElementType.PICTURE, "")
        elif _BULLET.match(line):
            b.add(ElementType.LIST_ITEM, _BULLET.sub("", line, count=1))
        elif _NUMBERED.match(line):
            b.add(ElementType.LIST_ITEM, stripped)
        else:
            b.add(ElementType.PARAGRAPH, stripped)
    flush_table()
    return b
