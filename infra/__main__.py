"""Entry point of ``pulumi up -s tenant-<slug>`` (``Pulumi.yaml``: ``main: infra/``)."""

import sys
from pathlib import Path

# Pulumi runs this folder as a script; the program imports the repository's packages.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.config import program

program()
