"""Regenerate the shipped test signature database (run by hand, output committed):

    python -m data_plane.adapters.clamav.make_signatures [/usr/share/clamav-testfiles]

``frostbyte-test.hdb`` holds a SHA-256 hash signature (``sigtool --sha256`` format) of every
file of Debian's ``clamav-testfiles`` and of ``clam.exe`` itself, so clamd detects the
test binary inside every container it unpacks as well as each container as a whole.
``frostbyte-test.ndb`` holds a body signature of the EICAR test string (any file that starts
with it). Production images use freshclam's databases instead.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from data_plane.adapters.clamav import SIGNATURES_DIR

TESTFILES = Path("/usr/share/clamav-testfiles")
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def hdb_lines(folder: Path) -> list[str]:
    lines = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        data = path.read_bytes()
        name = "Frostbyte.Test.ClamAV-Testfile." + path.name.replace(":", "_")
        lines.append(f"{hashlib.sha256(data).hexdigest()}:{len(data)}:{name}")
    return lines


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else TESTFILES
    SIGNATURES_DIR.mkdir(parents=True, exist_ok=True)
    (SIGNATURES_DIR / "frostbyte-test.hdb").write_text("\n".join(hdb_lines(folder)) + "\n")
    (SIGNATURES_DIR / "frostbyte-test.ndb").write_text(
        f"Frostbyte.Test.EICAR:0:0:{EICAR.hex()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
