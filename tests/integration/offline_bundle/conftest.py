"""Synthetic build inputs (a few KB: the format does not care what is inside an archive),
real bundles built from them by the real build code, and tar surgery for the tamper tests."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from offline_bundle.build import BuildInputs, Built, build_bundle
from offline_bundle.inputs import load_images

KEY_A = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
KEY_B = Ed25519PrivateKey.from_private_bytes(bytes(range(100, 132)))
CREATED = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
IMAGES = ("clamd", "dataplane", "gateway", "postgres", "s3")


def write_images(folder: Path) -> Path:
    """``dist/images/<version>/`` as ``make images`` writes it, with small fake archives."""
    folder.mkdir(parents=True)
    listing = []
    for n, name in enumerate(IMAGES):
        archive = folder / f"{name}.tar"
        archive.write_bytes(bytes((n * 7 + i) % 251 for i in range(4096 + n * 1000)))
        listing.append({"name": name, "ref": f"localhost/frostbyte/{name}:0.1.0",
                        "id": f"id{n}", "size_bytes": 10_000 + n, "archive": archive.name})
        (folder / f"{name}.inventory.json").write_text(json.dumps({
            "image": f"localhost/frostbyte/{name}:0.1.0", "id": f"id{n}",
            "digest": f"sha256:{n:064x}",
            "debian": [{"name": "libc6", "version": "2.36-9+deb12u9", "arch": "amd64"},
                       {"name": f"{name}-bin", "version": "1:1.0-1", "arch": "amd64"}],
            "python": ([{"name": "Typing_Extensions", "version": "4.12.2"},
                        {"name": "frostbyte", "version": "0.1.0"}]
                       if name == "dataplane" else []),
        }))
    (folder / "images.json").write_text(json.dumps(listing))
    return folder


def write_inputs(root: Path) -> BuildInputs:
    images = write_images(root / "images")
    compose = root / "compose.yaml"
    compose.write_text("services:\n  gateway:\n    image: localhost/frostbyte/gateway:0.1.0\n")
    model = root / "model"
    (model / "1_Pooling").mkdir(parents=True)
    (model / "config.json").write_text('{"hidden_size": 384}\n')
    (model / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}\n')
    (model / "model.safetensors").write_bytes(b"\x00\x01" * 3000)
    clamav = root / "clamav"
    clamav.mkdir()
    (clamav / "frostbyte-test.ndb").write_text("Frostbyte.Test.EICAR:0:0:58354f\n")
    return BuildInputs(images=load_images(images), compose=compose, model_dir=model,
                       model_name="all-MiniLM-L6-v2", clamav_dir=clamav,
                       signatures_date="2026-11-29T21:18:13Z")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> BuildInputs:
    return write_inputs(tmp_path_factory.mktemp("inputs"))


BuildFn = Callable[..., Built]


@pytest.fixture(scope="module")
def make_bundle(inputs: BuildInputs, tmp_path_factory: pytest.TempPathFactory) -> BuildFn:
    """Build a real bundle (default: version 0.2.0 signed by KEY_A) into a fresh folder."""

    def build(version: str = "0.2.0", key: Ed25519PrivateKey = KEY_A) -> Built:
        return build_bundle(inputs, out_dir=tmp_path_factory.mktemp("dist"), version=version,
                            created=CREATED, key=key)

    return build


@pytest.fixture(scope="module")
def good(make_bundle: BuildFn) -> Built:
    return make_bundle()


def copy_of(built: Built, folder: Path) -> Path:
    target = folder / built.path.name
    shutil.copyfile(built.path, target)
    return target


def public_pem(key: Ed25519PrivateKey, path: Path) -> Path:
    path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def rewrite(source: Path, target: Path,
            change: Callable[[tarfile.TarInfo, bytes], list[tuple[tarfile.TarInfo, bytes]]],
            extra: list[tuple[tarfile.TarInfo, bytes]] | None = None) -> Path:
    """A copy of the tar with each member passed through ``change`` (which returns what to
    write in its place: nothing, itself, or other members) and ``extra`` appended."""
    with tarfile.open(source) as src, tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as dst:
        for member in src.getmembers():
            stream = src.extractfile(member)
            data = stream.read() if stream else b""
            for info, body in change(member, data):
                dst.addfile(info, io.BytesIO(body) if info.isreg() else None)
        for info, body in extra or []:
            dst.addfile(info, io.BytesIO(body) if info.isreg() else None)
    return target


def keep(member: tarfile.TarInfo, data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    return [(member, data)]


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data
