"""The malware-scanning port of intake (SPEC §5.1) and its verdict."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ScanVerdict:
    """``signature`` names what was found; None when the file is clean."""

    signature: str | None = None

    @property
    def infected(self) -> bool:
        return self.signature is not None


class MalwareScanner(Protocol):
    """Scans one file's bytes. Raises ``ScannerUnavailable`` when no verdict can be had
    (scanner down, timed out, or it refused the stream): never returns "clean" then."""

    def scan(self, path: Path) -> ScanVerdict: ...

    def ping(self) -> bool:
        """True when the scanner answers now."""
        ...
