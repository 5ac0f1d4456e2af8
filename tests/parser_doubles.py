"""Parsers that misbehave on purpose, for the tests of bounded parsing.

Module-level classes so that a spawned child process can import them. What a parser does is
chosen by the request's file name: ``sleep*`` sleeps for an hour, ``balloon*`` allocates
memory until stopped, ``crash*`` kills its own process, ``raise*`` raises; anything else is
parsed as UTF-8 text into one paragraph (with the child's pid in the metadata).
"""

from __future__ import annotations

import os
import signal
import time

from data_plane.adapters.parsers._common import make_document
from data_plane.domain.canonical import CanonicalDocument, Element, ElementType
from data_plane.domain.ports import ParseRequest


class MisbehavingParser:
    name = "misbehaving"
    warmed = False

    def warm_up(self) -> None:
        self.warmed = True

    def parse(self, request: ParseRequest) -> CanonicalDocument:
        if request.name.startswith("sleep"):
            time.sleep(3600)
        if request.name.startswith("balloon"):
            hoard = []
            while True:
                hoard.append(b"\x01" * (32 * 1024 * 1024))  # written: counts as resident
                time.sleep(0.01)
        if request.name.startswith("crash"):
            os.kill(os.getpid(), signal.SIGKILL)
        if request.name.startswith("raise"):
            raise MemoryError("cannot allocate")
        text = request.path.read_text(encoding="utf-8")
        return make_document(
            request, parser=self.name, version="0",
            elements=[Element(index=0, type=ElementType.PARAGRAPH, text=text)],
            metadata={"pid": str(os.getpid()), "warmed": str(self.warmed)})


def broken_factory() -> MisbehavingParser:
    raise RuntimeError("no parser libraries here")


class SlowWarmUpParser(MisbehavingParser):
    """Warms up for 3 s, like real parser libraries loading their imports."""

    def warm_up(self) -> None:
        time.sleep(3)
        super().warm_up()
