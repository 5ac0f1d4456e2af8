"""The wheel works on its own (issue 13): built from this tree, installed into a fresh venv that
cannot see the source tree (no PYTHONPATH, no editable finder, run from a folder outside the
repository), it gives working ``frostbyte``, ``python -m data_plane`` and ``python -m
control_plane`` commands, the Pulumi program and the playbooks, found through the same code
the ``hetzner`` provider runs; and its core dependencies alone make a working CLI.

The first venv borrows the project venv's third-party packages through a plain path line in
a ``.pth`` file (path lines do not run the ``.pth`` files they point at, so this project's
editable finder stays out); the second gets nothing but ``pip install <wheel>``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("wheel_probe.py")
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
# The packages are the ones pyproject's packages.find names (a package added there and
# forgotten here would be missing from the copy the wheel is built from); the build reads them
# and the metadata files.
PACKAGES = tuple(sorted(pattern.rstrip("*") for pattern in
                        PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]))
SOURCES = ("pyproject.toml", "README.md", "LICENSE", *PACKAGES)
VERSION: str = PYPROJECT["project"]["version"]


def run(argv: Sequence[str | Path], *, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=timeout, check=False)
    assert result.returncode == 0, (
        f"{' '.join(map(str, argv))} exited {result.returncode}:\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def isolated_env(venv: Path) -> dict[str, str]:
    """The venv's bin first; nothing that would reach the source tree."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", os.defpath)])
    env["VIRTUAL_ENV"] = str(venv)
    return env


def site_packages(venv: Path) -> Path:
    (found,) = venv.glob("lib/python3*/site-packages")
    return found


def inside(path: str | None, folder: Path) -> bool:
    return path is not None and Path(path).resolve().is_relative_to(folder.resolve())


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside the repository (the commands' working directory)."""
    folder = tmp_path_factory.mktemp("wheel")
    assert not folder.resolve().is_relative_to(ROOT)
    (folder / "elsewhere").mkdir()
    return folder


@pytest.fixture(scope="module")
def wheel(work: Path) -> Path:
    """The wheel of this working tree, built from a copy (the build writes build/ and
    *.egg-info next to its sources)."""
    source = work / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ansible", ".mypy_cache")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", "--wheel-dir", work / "dist", source], cwd=work)
    (built,) = (work / "dist").glob("frostbyte-*.whl")
    assert built.name == f"frostbyte-{VERSION}-py3-none-any.whl"
    return built


def test_the_wheel_carries_every_package_with_its_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in PACKAGES:
        assert f"{package}/__init__.py" in names
        assert package == "playbooks" or f"{package}/py.typed" in names, package
    for path in ("infra/__main__.py", "infra/config.py", "playbooks/site.yml",
                 "playbooks/ansible.cfg", "playbooks/roles/dataplane_deploy/tasks/main.yml",
                 "playbooks/roles/dataplane_deploy/files/envexec.py",
                 "data_plane/adapters/clamav/signatures/frostbyte-test.ndb",
                 # the web pages: create_app lists their static folders at start-up
                 "data_plane/api/web/templates/page.html", "data_plane/api/web/static/app.js",
                 "control_plane/api/web/templates/tenants.html",
                 "control_plane/api/web/static/console.js"):
        assert path in names, path
    assert not [n for n in names if n.startswith(("tests/", "bench/", "scripts/"))]
    assert not [n for n in names if "__pycache__" in n]


@pytest.fixture(scope="module")
def borrowed_venv(work: Path, wheel: Path) -> Path:
    """A fresh venv holding the wheel; third-party packages from the project venv."""
    venv = work / "venv-wheel"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=work)
    run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install",
         "--no-deps", "--no-index", "--quiet", wheel], cwd=work)
    project = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    (site_packages(venv) / "project-venv-packages.pth").write_text(
        "".join(f"{path}\n" for path in sorted(project)), "utf-8")
    return venv


def test_installed_wheel_runs_alone(borrowed_venv: Path, work: Path) -> None:
    venv, cwd, env = borrowed_venv, work / "elsewhere", isolated_env(borrowed_venv)
    bin_dir = venv / "bin"

    version = run([bin_dir / "frostbyte", "--version"], cwd=cwd, env=env)
    assert version.stdout.strip() == f"frostbyte {VERSION}"
    assert "tenants" in run([bin_dir / "frostbyte", "--help"], cwd=cwd, env=env).stdout
    assert "clamd-info" in run([bin_dir / "python", "-m", "data_plane", "--help"],
                               cwd=cwd, env=env).stdout
    assert "serve" in run([bin_dir / "python", "-m", "control_plane", "--help"],
                          cwd=cwd, env=env).stdout

    shutil.copy2(PROBE, cwd / "probe.py")
    facts: dict[str, Any] = json.loads(
        run([bin_dir / "python", "probe.py", *PACKAGES], cwd=cwd, env=env).stdout)

    # every package from the new venv, none from the source tree, no editable finder
    assert Path(facts["prefix"]).resolve() == venv.resolve()
    for package, path in facts["files"].items():
        assert inside(path, site_packages(venv)), (package, path)
        assert not inside(path, ROOT), (package, path)
    assert facts["editable"] == []
    assert all(facts["typed"][p] for p in PACKAGES if p != "playbooks"), facts["typed"]
    assert facts["version"] == VERSION
    assert facts["local_provider_loaded_data_plane"] is False

    # the Pulumi program, loaded by the provider's loader, runs under Pulumi's mocks
    assert facts["program"] == "infra.config.program"
    assert inside(facts["program_file"], site_packages(venv))
    assert {"hcloud:index/firewall:Firewall", "hcloud:index/server:Server",
            "hcloud:index/network:Network", "hcloud:index/volume:Volume"} <= set(
        facts["resources"])

    # the playbooks, found as the provider finds them, are whole and parse with their roles
    assert inside(facts["playbooks"], site_packages(venv))
    shipped = set(facts["playbook_files"])
    in_tree = {str(p.relative_to(ROOT / "playbooks")) for p in (ROOT / "playbooks").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and ".ansible" not in p.parts}
    assert in_tree <= shipped, sorted(in_tree - shipped)
    code, output = facts["syntax_check"]
    assert code == 0, output
    assert facts["sql"] and "frostbyte-test.ndb" in facts["signatures"]


def test_core_dependencies_alone_make_a_working_cli(work: Path, wheel: Path) -> None:
    """``pip install <wheel>`` into an empty venv (nothing of the project venv): the core
    dependencies are enough for ``frostbyte --version`` and ``--help``."""
    venv = work / "venv-core"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=work)
    run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install",
         "--quiet", wheel], cwd=work, timeout=600)
    env = isolated_env(venv)
    listed = run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "list",
                  "--format=json"], cwd=work).stdout
    installed = {item["name"].lower() for item in json.loads(listed)}
    assert {"typer", "rich", "cryptography", "httpx"} <= installed
    assert not {"fastapi", "psycopg", "torch", "pulumi"} & installed  # extras stay extras
    cwd = work / "elsewhere"
    version = run([venv / "bin" / "frostbyte", "--version"], cwd=cwd, env=env)
    assert version.stdout.strip() == f"frostbyte {VERSION}"
    assert "tenants" in run([venv / "bin" / "frostbyte", "--help"], cwd=cwd, env=env).stdout
