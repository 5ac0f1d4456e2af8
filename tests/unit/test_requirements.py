"""The hash-checked lock (requirements/) holds what pyproject.toml declares, so that
``make install`` (``pip install --require-hashes --no-deps``) gives a whole environment: every
declared dependency pinned at a version its specifier allows, every pin with a hash, each
package in one file only, torch the CPU build and nothing of CUDA."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "requirements" / "runtime.txt"
DEV = ROOT / "requirements" / "dev.txt"
RUNTIME_EXTRAS = ("control-plane", "data-plane", "cli")

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?:\s*;.*?)?\s*(\\)?$")
_HASH = re.compile(r"^\s+--hash=sha256:([0-9a-f]{64})\s*\\?$")


def parse_lock(text: str) -> dict[str, tuple[Version, list[str]]]:
    """``{name: (version, [sha256, ...])}`` of a uv/pip-tools requirements file."""
    pins: dict[str, tuple[Version, list[str]]] = {}
    current: str | None = None
    for line in text.splitlines():
        if match := _PIN.match(line):
            current = canonicalize_name(match[1])
            assert current not in pins, f"{current} pinned twice"
            pins[current] = (Version(match[2]), [])
        elif (match := _HASH.match(line)) and current is not None:
            pins[current][1].append(match[1])
        elif line.strip() and not line.lstrip().startswith("#"):
            assert line.startswith("--find-links "), f"unexpected line: {line!r}"
            current = None
    return pins


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    return project


@pytest.fixture(scope="module")
def runtime() -> dict[str, tuple[Version, list[str]]]:
    return parse_lock(RUNTIME.read_text("utf-8"))


@pytest.fixture(scope="module")
def dev() -> dict[str, tuple[Version, list[str]]]:
    return parse_lock(DEV.read_text("utf-8"))


def _declared(project: dict[str, Any], *groups: str) -> list[Requirement]:
    lines: list[str] = []
    for group in groups:
        lines += (project["dependencies"] if group == "core"
                  else project["optional-dependencies"][group])
    return [req for req in map(Requirement, lines) if req.marker is None or req.marker.evaluate()]


def _unmet(requirements: list[Requirement],
           pins: dict[str, tuple[Version, list[str]]]) -> list[str]:
    return [str(req) for req in requirements
            if canonicalize_name(req.name) not in pins
            or not req.specifier.contains(pins[canonicalize_name(req.name)][0], prereleases=True)]


def test_runtime_lock_pins_core_and_runtime_extras(project: dict[str, Any],
                                                   runtime: dict[str, tuple[Version, list[str]]]
                                                   ) -> None:
    assert _unmet(_declared(project, "core", *RUNTIME_EXTRAS), runtime) == []


def test_dev_lock_adds_the_dev_extra_and_nothing_twice(
        project: dict[str, Any], runtime: dict[str, tuple[Version, list[str]]],
        dev: dict[str, tuple[Version, list[str]]]) -> None:
    assert _unmet(_declared(project, "dev"), runtime | dev) == []
    assert sorted(runtime.keys() & dev.keys()) == []


def test_every_pin_has_a_hash(runtime: dict[str, tuple[Version, list[str]]],
                              dev: dict[str, tuple[Version, list[str]]]) -> None:
    assert [name for name, (_, hashes) in (runtime | dev).items() if not hashes] == []


def test_torch_is_the_cpu_build_and_nothing_of_cuda(
        runtime: dict[str, tuple[Version, list[str]]],
        dev: dict[str, tuple[Version, list[str]]]) -> None:
    version, hashes = runtime["torch"]
    assert version.local == "cpu"
    assert len(hashes) == 1  # the one CPU wheel, found through --find-links
    cuda = [name for name in runtime | dev
            if name.startswith(("nvidia-", "triton", "cuda-"))]
    assert cuda == []


def test_parse_lock_refuses_what_it_cannot_read() -> None:
    assert parse_lock("a==1 \\\n    --hash=sha256:" + "0" * 64 + "\n    # via b\n") == {
        "a": (Version("1"), ["0" * 64])}
    with pytest.raises(AssertionError, match="pinned twice"):
        parse_lock("a==1\nA==1\n")
    with pytest.raises(AssertionError, match="unexpected line"):
        parse_lock("a>=1\n")


def test_install_installs_and_stamps_every_lock_file() -> None:
    script = (ROOT / "scripts" / "install.sh").read_text("utf-8")
    locks = re.search(r"^LOCKS=\((.*)\)$", script, re.MULTILINE)
    assert locks is not None
    assert set(locks[1].split()) == {
        str(p.relative_to(ROOT)) for p in (ROOT / "requirements").glob("*.txt")
        if p.name not in {"constraints.txt", "overrides.txt"}}
    assert '--require-hashes --no-deps -r "${LOCKS[0]}" -r "${LOCKS[1]}"' in script
