"""The container engine of an offline machine: podman (with podman-compose) or docker (with
``docker compose``), found on the PATH; nothing here ever pulls an image.

Every call is a subprocess with a captured, bounded output; a failure is
:class:`EngineFailed` naming the command and the end of what it printed. Podman runs with
``CONTAINERS_CONF`` set to the install home's ``containers.conf`` (runc, cgroupfs, explicit
ulimits: the settings ``images/containers.conf`` gives the build machines), unless the caller's
environment already names one.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from offline_bundle.errors import BundleError

#: what images/containers.conf sets; written once to <home>/containers.conf (an operator may
#: edit that file: it is never overwritten)
CONTAINERS_CONF = """\
# podman settings of this offline installation (written by `frostbyte bundle load`, never
# overwritten: edit freely). runc + cgroupfs and explicit ulimits below the usual hard nofile
# limit, as the images were built and tested with.
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=8192:8192"]

[network]
# netavark + aardvark-dns: the set's services find each other by name (CNI networks have no DNS)
network_backend = "netavark"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""
#: where distributions put podman's network helpers (Debian: /usr/lib/podman)
HELPER_DIRS = ("/usr/lib/podman", "/usr/libexec/podman", "/usr/local/libexec/podman")
NETWORK_HELPERS = ("netavark", "aardvark-dns")

_LOADED = re.compile(r"^Loaded image(?:\(s\)| ID)?:\s*(.+)$", re.MULTILINE)
_TAIL = 2500


class EngineFailed(BundleError):
    """A podman/docker/compose command failed (exit 9)."""

    default_code = "ENGINE_FAILED"
    exit_code = 9


def tail(text: str, limit: int = _TAIL) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]


def loaded_names(output: str) -> list[str]:
    """The image names (or ids) ``podman load``/``docker load`` says it loaded."""
    names: list[str] = []
    for match in _LOADED.finditer(output):
        names.extend(n.strip() for n in match.group(1).split(",") if n.strip())
    return names


def compose_command(which: str) -> list[str] | None:
    """How to run compose for engine ``which``: podman-compose beside this Python, on the
    PATH, or as a module; ``docker compose`` for docker. None when there is none."""
    if which == "docker":
        return ["docker", "compose"]
    beside = Path(sys.executable).parent / "podman-compose"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("podman-compose")
    if found:
        return [found]
    if importlib.util.find_spec("podman_compose") is not None:
        return [sys.executable, "-m", "podman_compose"]
    return None


@dataclass(frozen=True)
class Engine:
    """podman or docker, its compose and the environment every call runs with."""

    name: str
    compose: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 900

    def _run(self, argv: Sequence[str], *, what: str, env: Mapping[str, str] | None = None,
             check: bool = True, timeout: float | None = None
             ) -> subprocess.CompletedProcess[str]:
        try:
            out = subprocess.run(list(argv), env=dict(env or self.env), capture_output=True,
                                 text=True, timeout=timeout or self.timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise EngineFailed(f"{what}: `{' '.join(argv[:4])} …` did not finish within "
                               f"{exc.timeout:.0f} s",
                               hint=f"see `{self.name} ps -a` and the containers' logs") from exc
        except OSError as exc:
            raise EngineFailed(f"{what}: cannot run {argv[0]}: {exc.strerror or exc}",
                               hint=f"install {self.name} (and its compose)") from exc
        if check and out.returncode != 0:
            raise EngineFailed(
                f"{what} failed (`{' '.join(argv[:6])}` exited {out.returncode}): "
                f"{tail(out.stderr or out.stdout)}",
                hint=f"fix what the message names (see `{self.name} ps -a` and the "
                     "containers' logs), then run the command again")
        return out

    def run(self, *args: str, what: str, check: bool = True, timeout: float | None = None
            ) -> subprocess.CompletedProcess[str]:
        return self._run([self.name, *args], what=what, check=check, timeout=timeout)

    # -- images ---------------------------------------------------------------------------
    def load(self, archive: Path) -> list[str]:
        """Load one image archive (OCI or docker); the names/ids it reports."""
        out = self.run("load", "-i", str(archive), what=f"loading {archive.name}")
        return loaded_names(out.stdout + "\n" + out.stderr)

    def image_id(self, ref: str) -> str | None:
        out = self.run("image", "inspect", "--format", "{{.Id}}", ref, what="inspect",
                       check=False)
        value = out.stdout.strip().removeprefix("sha256:")
        return value if out.returncode == 0 and value else None

    def tag(self, source: str, target: str) -> None:
        self.run("tag", source, target, what=f"tagging {target}")

    # -- volumes and containers -----------------------------------------------------------
    def fill_volume(self, volume: str, source: Path, image: str) -> None:
        """Replace the files of ``volume`` with those of the folder ``source`` (world-readable),
        using ``image``'s shell with no network at all."""
        if self.run("volume", "inspect", volume, what="inspect", check=False).returncode != 0:
            self.run("volume", "create", volume, what=f"creating volume {volume}")
        self.run("run", "--rm", "--pull=never", "--network", "none", "--user", "0",
                 "--entrypoint", "/bin/sh", "-v", f"{volume}:/target",
                 "-v", f"{source}:/source:ro", image, "-ec",
                 "find /target -mindepth 1 -delete; cp /source/* /target/; "
                 "chmod 0644 /target/*", what=f"filling volume {volume}")

    def container(self, project: str, service: str) -> str | None:
        out = self.run("ps", "-a", "--filter", f"label=com.docker.compose.project={project}",
                       "--filter", f"label=com.docker.compose.service={service}",
                       "--format", "{{.Names}}", what="listing containers", check=False)
        names = out.stdout.split()
        return names[0] if names else None

    def exited(self, project: str, *, skip: tuple[str, ...] = ()) -> list[str]:
        """Containers of ``project`` that have exited, except the services in ``skip``."""
        out = self.run("ps", "-a", "--filter", f"label=com.docker.compose.project={project}",
                       "--filter", "status=exited", "--format",
                       '{{.Names}} {{index .Labels "com.docker.compose.service"}}',
                       what="listing containers", check=False)
        names = []
        for line in out.stdout.splitlines():
            name, _, service = line.strip().partition(" ")
            if name and service not in skip:
                names.append(name)
        return names

    def start(self, container: str) -> None:
        self.run("start", container, what=f"starting {container}", check=False)

    def logs(self, container: str, lines: int = 20) -> str:
        out = self.run("logs", "--tail", str(lines), container, what="logs", check=False)
        return tail(out.stdout + out.stderr, 1500)

    # -- compose --------------------------------------------------------------------------
    def compose_argv(self, compose_file: Path, *args: str) -> list[str]:
        if self.name == "podman":
            # podman-compose creates containers with `podman create`: forbid its pulls too
            return [*self.compose, "--podman-run-args=--pull=never", "-f", str(compose_file),
                    *args]
        return [*self.compose, "-f", str(compose_file), *args]

    def up_argv(self, compose_file: Path) -> list[str]:
        """``up`` detached, never building, never pulling."""
        return self.compose_argv(compose_file, "up", "-d", "--no-build", "--pull", "never")

    def up(self, compose_file: Path, env: Mapping[str, str]) -> None:
        self._run(self.up_argv(compose_file), what="starting the set", env={**self.env, **env})

    def down(self, compose_file: Path, env: Mapping[str, str], *, check: bool = True) -> None:
        """Stop and remove the set's containers and networks; volumes stay."""
        argv = self.compose_argv(compose_file, "down", "-t", "10")
        self._run(argv, what="stopping the set", env={**self.env, **env}, check=check)


def detect(env: Mapping[str, str], containers_conf: Path, *,
           helper_dirs: Sequence[str] = HELPER_DIRS) -> Engine:
    """podman when it is installed (with ``CONTAINERS_CONF``), else docker; refuses when
    neither (or its compose) is there."""
    base = dict(env)
    if shutil.which("podman", path=base.get("PATH")):
        missing = [h for h in NETWORK_HELPERS
                   if not any((Path(d) / h).is_file() for d in helper_dirs)]
        if missing:
            raise EngineFailed(f"podman is installed without {' and '.join(missing)}",
                               hint="install them from your offline package mirror (Debian: "
                                    "`apt install netavark aardvark-dns`): without them "
                                    "podman's networks have no DNS and the set's services "
                                    "cannot find each other")
        base.setdefault("CONTAINERS_CONF", str(containers_conf))
        compose = compose_command("podman")
        if compose is None:
            raise EngineFailed("podman is installed but podman-compose is not",
                               hint="install podman-compose (it comes with Frostbyte's "
                                    "Python environment, or `apt install podman-compose`)")
        return Engine("podman", tuple(compose), base)
    if shutil.which("docker", path=base.get("PATH")):
        return Engine("docker", ("docker", "compose"), base)
    raise EngineFailed("neither podman nor docker is installed",
                       hint="install podman (with podman-compose) or docker (with its "
                            "compose plugin) from your offline package mirror")


def write_containers_conf(path: Path) -> None:
    """``<home>/containers.conf`` once; an existing one (maybe edited) is kept."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(CONTAINERS_CONF, encoding="utf-8")
        os.chmod(path, 0o644)  # noqa: PTH101
