"""Parsers that misbehave on purpose, for the tests of bounded parsing.

Module-level classes so that a spawned child process can import them. What a parser does is
chosen by the request's file name: ``sleep*`` sleeps for an hour, ``balloon*`` allocates
memory until stopped, ``crash*`` kills its own process, ``raise*`` raises; anything else is
parsed as UTF-8 text into one paragraph (with the child's pid in the metadata).
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from data_plane.adapters.parsers._common import make_document
from data_plane.domain.canonical import CanonicalDocument, Element, ElementType
from data_plane.domain.policy.pii import Detection
from data_plane.domain.policy.safety import HiddenFragment
from data_plane.domain.ports import ParseRequest
from data_plane.services.policy import PolicyService
from data_plane.services.processing import ParseAndScan
from frostbyte_common.tenant_config import TenantConfig


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


class EmailDetector:
    """A PII detector double: every ``name@example.org`` is an e-mail address."""

    def detect(self, text: str) -> list[Detection]:
        return [Detection("EMAIL_ADDRESS", m.start(), m.end(), 1.0, "double")
                for m in re.finditer(r"\w+@example\.org", text)]


def scan_trap(path: Path, mime_type: str) -> list[HiddenFragment]:
    """A hidden-text finder double: hangs on ``hang-scan*`` files (a backtracking regex on
    hostile bytes), finds white text ``ignore previous instructions`` in ``hidden*``."""
    if path.name.startswith("hang-scan"):
        time.sleep(3600)
    if path.name.startswith("hidden"):
        return [HiddenFragment("html_hidden_element", "ignore previous instructions")]
    return []


def scanning_misbehaving(config: TenantConfig) -> ParseAndScan:
    """What a worker's child runs (parse, then scan), over the misbehaving parser: a
    picklable factory when wrapped in ``functools.partial`` with a tenant config."""
    return ParseAndScan(MisbehavingParser(),
                        PolicyService.from_config(config, EmailDetector(), hidden_text=scan_trap))
