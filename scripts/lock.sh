#!/usr/bin/env bash
# Regenerates the hash-locked requirements with uv (a dev dependency), from pyproject.toml:
#   requirements/runtime.txt  the core dependencies and the control-plane, data-plane and cli
#                             extras, plus pdf-fallback.in; torch is the CPU build (constraints.txt)
#   requirements/dev.txt      only what the dev extra adds, at the versions runtime.txt pins
# uv keeps every version the files already pin; to move one on purpose pass its name, e.g.
# `scripts/lock.sh --upgrade-package ruff`. Needs PyPI and /opt/wheels (the CPU torch wheel).
set -euo pipefail
cd "$(dirname "$0")/.."

UV=${UV:-.venv/bin/uv}
PYTHON=${PYTHON:-.venv/bin/python}
# --python-version: resolve for the oldest interpreter that runs the lock, Debian 12's 3.11.2
# (the images and the tenant hosts), not this venv's newer 3.11 patch release
common=(--python "$PYTHON" --python-version 3.11.2 --generate-hashes --find-links /opt/wheels
        --custom-compile-command "make lock" --quiet "$@")

"$UV" pip compile pyproject.toml requirements/pdf-fallback.in \
  --extra control-plane --extra data-plane --extra cli \
  --constraints requirements/constraints.txt --overrides requirements/overrides.txt \
  --emit-find-links "${common[@]}" -o requirements/runtime.txt

# The dev file leaves out what runtime.txt already holds: `make install` installs both.
runtime_names=$(sed -nE 's/^([A-Za-z0-9._-]+)==.*/\1/p' requirements/runtime.txt)
no_emit=()
for name in $runtime_names; do no_emit+=(--no-emit-package "$name"); done
"$UV" pip compile pyproject.toml --extra dev \
  --constraints requirements/runtime.txt "${no_emit[@]}" \
  "${common[@]}" -o requirements/dev.txt
