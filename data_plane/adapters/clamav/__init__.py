"""ClamAV: the clamd INSTREAM scanner, a clamd the project starts itself, and the small
signature database the project ships for tests and air-gapped evaluation."""

from __future__ import annotations

from pathlib import Path

#: The shipped signatures: EICAR (body signature) and Debian's clamav-testfiles (hashes).
SIGNATURES_DIR = Path(__file__).resolve().parent / "signatures"
