"""Which ClamAV signature folder a clamd of the project's loads, and what is in it.

The folder, in order: ``FROSTBYTE_DP_CLAMD_SIGNATURES`` when set (an operator's choice: a
bundle's ``clamav/``, a copied folder); freshclam's ``/var/lib/clamav`` when it holds the
official ``main`` and ``daily`` databases; else the project's own test signatures (EICAR and
Debian's clamav-testfiles), with which the data plane is not ready unless
``FROSTBYTE_DP_CLAMD_ALLOW_TEST_SIGNATURES`` says this is a test.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from data_plane.adapters.clamav import SIGNATURES_DIR
from data_plane.domain.scanner_signatures import (
    DATABASE_SUFFIXES,
    OFFICIAL_DATABASES,
    DatabaseHeader,
    parse_database_header,
)

#: Where Debian's freshclam (clamav-freshclam) keeps the databases.
SYSTEM_DATABASES = Path("/var/lib/clamav")
SIGNATURES_ENV = "FROSTBYTE_DP_CLAMD_SIGNATURES"


def database_headers(folder: Path) -> dict[str, DatabaseHeader]:
    """The official-format databases in ``folder`` by name (``main``, ``daily``,
    ``bytecode``...), each from its newest readable container (.cvd/.cld/.cud)."""
    found: dict[str, DatabaseHeader] = {}
    try:
        paths = sorted(p for p in folder.iterdir() if p.suffix in DATABASE_SUFFIXES)
    except OSError:
        return found
    for path in paths:
        try:
            with path.open("rb") as handle:
                header = parse_database_header(handle.read(512))
        except (OSError, ValueError):
            continue
        present = found.get(path.stem)
        if present is None or header.version > present.version:
            found[path.stem] = header
    return found


def is_official(folder: Path) -> bool:
    """``folder`` holds both official databases (main and daily)."""
    return all(name in database_headers(folder) for name in OFFICIAL_DATABASES)


def signatures_folder(environ: Mapping[str, str] = os.environ) -> Path:
    """The folder a clamd of the project's loads (see the module docstring)."""
    chosen = environ.get(SIGNATURES_ENV)
    if chosen:
        return Path(chosen)
    if is_official(SYSTEM_DATABASES):
        return SYSTEM_DATABASES
    return SIGNATURES_DIR


def describe(folder: Path) -> dict[str, Any]:
    """What ``clamd-info`` says of a folder: its databases' versions and dates, and whether
    it is official or the project's test signatures only."""
    headers = database_headers(folder)
    return {
        "signatures": str(folder),
        "official": all(name in headers for name in OFFICIAL_DATABASES),
        "test_signatures": folder.resolve() == SIGNATURES_DIR.resolve(),
        "databases": {name: header.report() for name, header in sorted(headers.items())},
    }
