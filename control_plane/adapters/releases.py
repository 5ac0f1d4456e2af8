"""Local data-plane releases: one folder of installed data-plane code per version.

``<state>/releases/<version>/`` holds a wheel of the frostbyte project built from a source
tree with ``version`` written into its ``pyproject.toml`` and installed there with
``pip install --no-deps --target`` (the dependencies are the data-plane interpreter's own),
plus ``release.json`` (version, when, from where, the wheel's SHA-256, the data plane's
migration scripts). A local tenant's processes run with ``PYTHONPATH=<that folder>``, so they
import that release's ``data_plane`` and report its version (``importlib.metadata`` finds the
folder's ``frostbyte-<version>.dist-info`` first).

The *default* release is the interpreter's installed package (``frostbyte_common.version``):
it needs no folder. Building uses only what is installed (``pip wheel --no-build-isolation
--no-index``): no network. Folders are world-readable (0755/0644): every tenant's Unix
account imports from them; nothing secret is in them.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from control_plane.domain.releases import normalize_version
from control_plane.errors import (
    DataPlaneError,
    ProvisioningFailed,
    ReleaseExists,
    ReleaseNotFound,
)
from frostbyte_common.version import __version__

log = logging.getLogger(__name__)

MANIFEST = "release.json"
# what a build copies of a source tree (the wheel's packages and its metadata files)
SOURCE_ENTRIES = ("pyproject.toml", "README.md", "LICENSE", "control_plane", "data_plane",
                  "frostbyte_common", "frostbyte_cli", "offline_bundle", "infra", "playbooks")
_VERSION_LINE = re.compile(r'^version\s*=\s*"[^"]*"\s*$', re.MULTILINE)
_MIGRATIONS = Path("data_plane") / "adapters" / "sql"


@dataclass(frozen=True, slots=True)
class Release:
    """One release this machine can run: ``path`` is its folder (None: the interpreter's
    installed package, the default)."""

    version: str
    path: Path | None
    built_at: str | None = None
    source: str | None = None
    wheel_sha256: str | None = None

    def as_json(self) -> dict[str, object]:
        return {"version": self.version, "path": str(self.path) if self.path else None,
                "default": self.path is None, "built_at": self.built_at,
                "source": self.source, "wheel_sha256": self.wheel_sha256}


def installed_migrations() -> list[str]:
    """The migration scripts of the installed ``data_plane`` package (found, not imported:
    the control plane does not import the data plane)."""
    spec = importlib.util.find_spec("data_plane")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(next(iter(spec.submodule_search_locations))) / "adapters" / "sql"
    return sorted(p.name for p in folder.glob("*.sql"))


class LocalReleases:
    """The releases under ``root`` (``<state>/releases``) and the default one."""

    def __init__(self, root: Path, *, python: Path | None = None,
                 default_version: str = __version__, build_timeout_s: float = 900.0) -> None:
        self.root = root
        self._python = python or Path(sys.executable)
        self._default = default_version
        self._timeout = build_timeout_s

    def default_version(self) -> str:
        return self._default

    def folder(self, version: str) -> Path:
        return self.root / normalize_version(version)

    def get(self, version: str) -> Release:
        """The release of ``version``; a built folder wins over the default of the same
        version. :class:`ReleaseNotFound` (404) for any other."""
        version = normalize_version(version)
        folder = self.root / version
        manifest = folder / MANIFEST
        if manifest.is_file():
            data = json.loads(manifest.read_text(encoding="utf-8"))
            return Release(version, folder, data.get("built_at"), data.get("source"),
                           data.get("wheel_sha256"))
        if version == normalize_version(self._default):
            return Release(version, None)
        known = ", ".join(r.version for r in self.available()) or "none"
        raise ReleaseNotFound(f"no data-plane release {version} on this machine (known: "
                              f"{known}); build one with `frostbyte releases build`")

    def available(self) -> list[Release]:
        """Every release: the default first, then the built ones by version."""
        releases = [Release(normalize_version(self._default), None)]
        if self.root.is_dir():
            for manifest in sorted(self.root.glob(f"*/{MANIFEST}")):
                version = manifest.parent.name
                if version == releases[0].version:
                    releases[0] = self.get(version)
                else:
                    releases.append(self.get(version))
        return releases

    def migrations(self, version: str) -> list[str]:
        """The data plane's migration scripts in release ``version``."""
        release = self.get(version)
        if release.path is None:
            return installed_migrations()
        return sorted(p.name for p in (release.path / _MIGRATIONS).glob("*.sql"))

    def build(self, version: str, source: Path) -> Release:
        """Build release ``version`` from the source tree ``source`` (a checkout of this
        project) and install it into its folder. :class:`ReleaseExists` (409) when built."""
        version = normalize_version(version)
        target = self.root / version
        if (target / MANIFEST).exists():
            raise ReleaseExists(f"release {version} is already built ({target})")
        if not (source / "pyproject.toml").is_file():
            raise ProvisioningFailed(f"{source} is not a source tree of this project "
                                     "(no pyproject.toml)")
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)  # noqa: PTH101, S103 - tenant accounts import from it
        work = Path(tempfile.mkdtemp(prefix=f".build-{version}-", dir=self.root))
        try:
            tree = work / "src"
            tree.mkdir()
            for name in SOURCE_ENTRIES:
                entry = source / name
                if entry.is_dir():
                    shutil.copytree(entry, tree / name, ignore=shutil.ignore_patterns(
                        "__pycache__", "*.pyc", ".git", "*.egg-info", "build"))
                elif entry.is_file():
                    shutil.copy2(entry, tree / name)
            pyproject = tree / "pyproject.toml"
            text, count = _VERSION_LINE.subn(f'version = "{version}"',
                                              pyproject.read_text(encoding="utf-8"), count=1)
            if count != 1:
                raise ProvisioningFailed(f"{source}/pyproject.toml has no `version = \"...\"` line")
            pyproject.write_text(text, encoding="utf-8")
            self._pip(["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                       "-w", str(work / "dist"), str(tree)], "build the wheel")
            [wheel] = sorted((work / "dist").glob("*.whl"))
            installed = work / "release"
            self._pip(["install", "--no-deps", "--no-index", "-q", "--target", str(installed),
                       str(wheel)], "install the wheel")
            shutil.rmtree(installed / "bin", ignore_errors=True)  # console scripts: unused
            built_at = datetime.now(UTC).isoformat(timespec="seconds")
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            (installed / MANIFEST).write_text(json.dumps({
                "version": version, "built_at": built_at, "source": str(source.resolve()),
                "wheel": wheel.name, "wheel_sha256": digest,
                "migrations": sorted(p.name for p in (installed / _MIGRATIONS).glob("*.sql")),
            }, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            _readable(installed)
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(target)  # a half-made folder (no manifest) of an earlier try
            installed.rename(target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log.info("data-plane release %s built from %s into %s", version, source, target)
        return self.get(version)

    def _pip(self, args: Sequence[str], what: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_INDEX")}
        env.update(PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
        try:
            result = subprocess.run([str(self._python), "-m", "pip", *args], env=env,
                                    stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                    timeout=self._timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ProvisioningFailed(f"could not {what}: {exc}") from None
        if result.returncode != 0:
            raise ProvisioningFailed(f"could not {what} (pip exited {result.returncode}): "
                                     f"{(result.stderr or result.stdout).strip()[-2000:]}")


def _readable(folder: Path) -> None:
    """Folders 0755, files 0644 (what pip wrote may follow a tighter umask)."""
    for parent, _dirs, files in os.walk(folder):
        os.chmod(parent, 0o755)  # noqa: PTH101, S103
        for name in files:
            os.chmod(os.path.join(parent, name), 0o644)  # noqa: PTH101, PTH118


def reported_version(base_url: str, *, verify: object = True,
                     transport: httpx.BaseTransport | None = None,
                     timeout_s: float = 10.0) -> str:
    """The version a running data plane reports on ``/healthz``; :class:`DataPlaneError`
    when it does not answer with one."""
    try:
        with httpx.Client(verify=verify, transport=transport,  # type: ignore[arg-type]
                          timeout=timeout_s) as client:
            answer = client.get(f"{base_url}/healthz")
    except httpx.HTTPError as exc:
        raise DataPlaneError(f"/healthz did not answer: {type(exc).__name__}") from None
    try:
        version = answer.json().get("version") if answer.status_code == 200 else None
    except ValueError:
        version = None
    if not isinstance(version, str) or not version:
        raise DataPlaneError(f"/healthz answered {answer.status_code} without a version")
    return version
