"""load / update / rollback without a container engine: the pure parts, and the orchestration
on small real bundles with an engine double that records what it was asked to do (the real
engine runs in `make test-bundle`)."""

from __future__ import annotations

import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from frostbyte_common import tls
from frostbyte_common.audit_checkpoint import load_signing_key
from frostbyte_common.data_keys import DataKeyring
from offline_bundle.build import BuildInputs, build_bundle
from offline_bundle.engine import Engine, loaded_names
from offline_bundle.errors import DowngradeRefused, IntegrityFailed
from offline_bundle.home import InstallHome
from offline_bundle.install import (
    SECRET_FILES,
    Installer,
    InstallFailed,
    NotReady,
    RolledBack,
    Settings,
    WrongState,
    certificate_hosts,
    parse_publish,
    release_tag,
)
from tests.integration.offline_bundle.conftest import CREATED, KEY_A, write_inputs


# -- pure parts ----------------------------------------------------------------------------
def test_publish_addresses() -> None:
    assert parse_publish("0.0.0.0:443") == ("0.0.0.0", 443)
    assert parse_publish("[::1]:8443") == ("::1", 8443)
    for bad in ("443", "host:", ":443", "host:70000", "host:https"):
        with pytest.raises(ValueError, match=r"ADDR:PORT|out of range"):
            parse_publish(bad)


def test_a_wildcard_publish_certifies_this_host_and_loopback() -> None:
    assert certificate_hosts("0.0.0.0", "box") == ["127.0.0.1", "::1", "box", "localhost"]
    assert certificate_hosts("10.1.2.3", "box") == ["10.1.2.3"]


def test_loaded_image_lines_of_podman_and_docker() -> None:
    assert loaded_names("Getting image source signatures\nLoaded image: localhost/a:1\n") == [
        "localhost/a:1"]
    assert loaded_names("Loaded image(s): localhost/a:1,localhost/b:2") == [
        "localhost/a:1", "localhost/b:2"]
    assert loaded_names("Loaded image ID: sha256:abc") == ["sha256:abc"]


def test_compose_never_pulls_nor_builds() -> None:
    podman = Engine("podman", ("podman-compose",)).up_argv(Path("c.yaml"))
    assert "--podman-run-args=--pull=never" in podman
    assert podman[podman.index("--pull") + 1] == "never" and "--no-build" in podman
    docker = Engine("docker", ("docker", "compose")).up_argv(Path("c.yaml"))
    assert docker[:2] == ["docker", "compose"]
    assert docker[docker.index("--pull") + 1] == "never"


# -- orchestration on real (small) bundles -------------------------------------------------
@dataclass
class FakeEngine:
    """Records calls; ``up`` of a compose file containing BROKEN makes the set never ready."""

    name: str = "podman"
    calls: list[tuple[str, ...]] = field(default_factory=list)
    running: str | None = None

    def load(self, archive: Path) -> list[str]:
        self.calls.append(("load", archive.name))
        return [f"localhost/frostbyte/{archive.stem}:0.1.0"]

    def image_id(self, ref: str) -> str | None:
        return "0123abcd" if ref.startswith("localhost/frostbyte/") else None

    def tag(self, source: str, target: str) -> None:
        self.calls.append(("tag", source, target))

    def fill_volume(self, volume: str, source: Path, image: str) -> None:
        self.calls.append(("fill", volume, *sorted(p.name for p in source.iterdir())))

    def up(self, compose_file: Path, env: dict[str, str]) -> None:
        self.calls.append(("up", compose_file.parent.name, env["FROSTBYTE_VERSION"]))
        self.running = compose_file.read_text()

    def down(self, compose_file: Path, env: dict[str, str], *, check: bool = True) -> None:
        self.calls.append(("down", compose_file.parent.name))
        self.running = None

    def container(self, project: str, service: str) -> str | None:
        return f"{project}_{service}_1"

    def logs(self, container: str, lines: int = 20) -> str:
        return "api: exited"

    def exited(self, project: str, *, skip: tuple[str, ...] = ()) -> list[str]:
        return []

    def start(self, container: str) -> None:
        self.calls.append(("start", container))

    def run(self, *args: str, what: str, **_: Any) -> None:
        self.calls.append(("run", *args[:5]))


class Quick(Installer):
    """Ready means: the running compose is not BROKEN (no HTTP in unit tests)."""

    def wait_ready(self, settings: Settings) -> None:
        engine = self._engine
        assert isinstance(engine, FakeEngine)
        if engine.running is None or "BROKEN" in engine.running:
            raise NotReady("the set was not ready (api exited)", hint="see the logs")


@pytest.fixture
def world(tmp_path: Path) -> tuple[Quick, FakeEngine, BuildInputs, Path]:
    inputs = write_inputs(tmp_path / "in")
    home = InstallHome(tmp_path / "home")
    home.pin(KEY_A.public_key())
    said: list[str] = []
    installer = Quick(home, say=said.append)
    engine = FakeEngine()
    installer._engine = engine  # type: ignore[assignment]
    return installer, engine, inputs, tmp_path


def bundle(inputs: BuildInputs, out: Path, version: str, compose: str | None = None) -> Path:
    if compose is not None:
        inputs.compose.write_text(compose)
    return build_bundle(inputs, out_dir=out, version=version, created=CREATED, key=KEY_A).path


def test_load_unpacks_makes_secrets_once_and_points_current(world: Any) -> None:
    installer, engine, inputs, tmp = world
    result = installer.load(bundle(inputs, tmp / "d1", "0.2.0"), tenant="acme",
                            publish="127.0.0.1:8443")
    root = installer.root
    assert (root / "current").resolve() == root / "releases" / "0.2.0"
    assert (root / "current" / "compose.yaml").read_text() == inputs.compose.read_text()
    assert installer.home.installed_version() == "0.2.0"
    assert (root / "secrets").stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in (root / "secrets").iterdir()) == sorted(SECRET_FILES)
    DataKeyring.parse((root / "secrets" / "object_data_keys").read_text())
    cert = (root / "secrets" / "tls_cert").read_text()
    assert tls.signed_by(cert, (root / "ca.pem").read_text())
    assert sorted(tls.hosts(cert)) == ["127.0.0.1", "localhost"]
    assert x509.load_pem_x509_certificate(cert.encode()).subject.rfc4514_string() == (
        "CN=frostbyte-acme")
    assert (root / "ca" / "ca-key.pem").stat().st_mode & 0o777 == 0o600
    tag = release_tag(installer.home.release("current"))
    assert ("up", "0.2.0", tag) in engine.calls
    assert ("tag", "localhost/frostbyte/dataplane:0.1.0",
            f"localhost/frostbyte/dataplane:{tag}") in engine.calls
    fills = [c for c in engine.calls if c[0] == "fill"]
    assert fills == [("fill", "frostbyte-acme_clamav-db", "frostbyte-test.ndb")]
    assert any(c[:2] == ("run", "exec") and "add-vendor-key" in c for c in engine.calls)
    assert result.key.startswith("fbk_") and result.url == "https://127.0.0.1:8443"
    before = {n: (root / "secrets" / n).read_text() for n in SECRET_FILES}
    with pytest.raises(WrongState, match=r"already runs release 0\.2\.0"):
        installer.load(bundle(inputs, tmp / "d2", "0.3.0"), tenant="acme",
                       publish="127.0.0.1:8443")
    assert installer.ensure_secrets(installer.settings()) is False
    assert {n: (root / "secrets" / n).read_text() for n in SECRET_FILES} == before


def test_update_then_rollback_swaps_current_and_previous(world: Any) -> None:
    installer, engine, inputs, tmp = world
    installer.load(bundle(inputs, tmp / "d1", "0.2.0"), tenant="acme", publish="0.0.0.0:443")
    keys = (installer.root / "secrets" / "object_data_keys").read_text()
    engine.calls.clear()
    moved = installer.update(bundle(inputs, tmp / "d2", "0.3.0"))
    assert (moved.from_version, moved.to_version) == ("0.2.0", "0.3.0")
    assert [c[:2] for c in engine.calls if c[0] in ("up", "down")] == [
        ("down", "0.2.0"), ("up", "0.3.0")]
    assert installer.home.installed_version() == "0.3.0"
    assert installer.home.release("previous").version == "0.2.0"  # type: ignore[union-attr]
    assert (installer.root / "secrets" / "object_data_keys").read_text() == keys
    assert not any(c[:2] == ("run", "exec") for c in engine.calls)  # no second vendor key
    with pytest.raises(DowngradeRefused):
        installer.update(bundle(inputs, tmp / "d3", "0.1.0"))
    back = installer.rollback()
    assert (back.from_version, back.to_version) == ("0.3.0", "0.2.0")
    assert installer.home.installed_version() == "0.2.0"
    assert installer.home.release("previous").version == "0.3.0"  # type: ignore[union-attr]


def test_an_update_that_does_not_get_ready_is_rolled_back(world: Any) -> None:
    installer, engine, inputs, tmp = world
    installer.load(bundle(inputs, tmp / "d1", "0.2.0"), tenant="acme", publish="0.0.0.0:443")
    engine.calls.clear()
    with pytest.raises(RolledBack, match=r"0\.3\.0 failed.*Rolled back: release 0\.2\.0"):
        installer.update(bundle(inputs, tmp / "d2", "0.3.0", compose="BROKEN: true\n"))
    assert [c[:2] for c in engine.calls if c[0] in ("up", "down")] == [
        ("down", "0.2.0"), ("up", "0.3.0"), ("down", "0.3.0"), ("up", "0.2.0")]
    assert installer.home.installed_version() == "0.2.0"
    assert installer.home.release("previous") is None


def test_rollback_needs_a_previous_release(world: Any) -> None:
    installer, _, inputs, tmp = world
    with pytest.raises(WrongState, match="nothing is installed") as nothing:
        installer.rollback()
    assert "frostbyte bundle load" in nothing.value.hint
    installer.load(bundle(inputs, tmp / "d1", "0.2.0"), tenant="acme", publish="0.0.0.0:443")
    with pytest.raises(WrongState, match="no previous release"):
        installer.rollback()


def test_a_bundle_changed_after_verification_is_not_unpacked(world: Any) -> None:
    installer, _, inputs, tmp = world
    path = bundle(inputs, tmp / "d1", "0.2.0")
    verified = installer._verify(path)
    # swap the bundle for another build (same names, other bytes) between verify and unpack
    other = write_inputs(tmp / "other")
    (other.model_dir / "config.json").write_text('{"hidden_size": 768}\n')
    path.unlink()
    build_bundle(other, out_dir=tmp / "d1", version="0.2.0", created=CREATED, key=KEY_A)
    with pytest.raises(IntegrityFailed, match="changed after"):
        installer.extract(verified)
    assert not list((installer.root / "releases").iterdir())


def test_partial_secrets_are_refused_not_regenerated(world: Any) -> None:
    installer, _, inputs, tmp = world
    installer.load(bundle(inputs, tmp / "d1", "0.2.0"), tenant="acme", publish="0.0.0.0:443")
    (installer.root / "secrets" / "db_password").unlink()
    with pytest.raises(InstallFailed, match="lacks db_password"):
        installer.ensure_secrets(installer.settings())


def test_a_secret_file_a_later_bundle_adds_is_made_and_the_others_kept(world: Any) -> None:
    installer, _, inputs, tmp = world
    installer.load(bundle(inputs, tmp / "d1", "0.2.0"), tenant="acme", publish="0.0.0.0:443")
    folder = installer.root / "secrets"
    (folder / "signing_key").unlink()  # an install made by a bundle without it
    before = {p.name: p.read_text() for p in folder.iterdir()}
    assert installer.ensure_secrets(installer.settings()) is False
    load_signing_key((folder / "signing_key").read_bytes())
    assert (folder / "signing_key").stat().st_mode & 0o777 == 0o644
    assert {n: (folder / n).read_text() for n in before} == before


def test_a_tar_member_outside_the_manifest_is_refused_at_unpack(world: Any) -> None:
    installer, _, inputs, tmp = world
    path = bundle(inputs, tmp / "d1", "0.2.0")
    verified = installer._verify(path)
    with tarfile.open(path, "a") as tar:  # appended after verification
        info = tarfile.TarInfo("extra.txt")
        tar.addfile(info)
    with pytest.raises(IntegrityFailed, match=r"extra\.txt"):
        installer.extract(verified)
