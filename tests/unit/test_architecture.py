"""The architecture's import contracts (.importlinter, checked by import-linter): they hold on
the code as it is, and a forbidden import breaks them — so `make lint` and `make test` would
catch a new package loop or a service reaching past its ports."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("frostbyte_common", "infra", "control_plane", "data_plane", "frostbyte_cli")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the packages under ``tree`` (that tree first on the path, so a
    copy is analysed rather than the installed checkout)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / ".importlinter"), "--no-cache"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("arch")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tree / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / ".importlinter", tree / ".importlinter")
    return tree


def test_the_code_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 broken." in result.stdout, result.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    # the package loop issue 13 removed: infra/ reaching back into the control plane
    ("infra/cloud_init.py", "from control_plane.domain import lifecycle",
     "infra/ (the Pulumi program) imports neither plane nor the CLI"),
    # a data-plane service reaching past its ports to the PostgreSQL adapter
    ("data_plane/services/search.py", "from data_plane.adapters import postgres",
     "Data plane: api, services and domain reach adapters only through ports"),
    # the domain doing I/O
    ("data_plane/domain/chunking.py", "import psycopg",
     "Data plane domain: no I/O, no framework"),
    # the planes importing each other
    ("control_plane/services/provisioning.py", "import data_plane.wiring",
     "The control plane imports neither the data plane nor the CLI"),
])
def test_a_forbidden_import_breaks_its_contract(tree_copy: Path, module: str, line: str,
                                                contract: str) -> None:
    target = tree_copy / module
    original = target.read_text(encoding="utf-8")
    target.write_text(original + f"\n{line}  # noqa\n", encoding="utf-8")
    try:
        result = lint_imports(tree_copy)
    finally:
        target.write_text(original, encoding="utf-8")
    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Broken contracts")[-1]
    assert " ".join(contract.split()) in " ".join(broken.split()), result.stdout
