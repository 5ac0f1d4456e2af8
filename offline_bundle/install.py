"""``load``, ``update`` and ``rollback``: a verified bundle becomes the running data-plane set.

    <home>/releases/<version>/     a verified bundle, extracted (compose.yaml, images/, clamav/,
                                   models/, sbom/, manifest.json, manifest.sig)
    <home>/current, previous       links to releases (``current`` is what runs)
    <home>/install.json            tenant, publish address, engine: what update and rollback reuse
    <home>/secrets/                0700: the set's secret files (made once, at the first load)
    <home>/ca/ca-key.pem           0600 in 0700: the installation's own CA key
    <home>/ca.pem                  the CA certificate clients verify the gateway with
    <home>/containers.conf         podman's settings for this installation (made once)

Nothing here reaches the network: images come from the bundle's archives (podman/docker
``load``), compose runs with pulls forbidden, the health check talks to the local gateway.
Each step that fails raises an error naming what failed and what to do; ``update`` that
fails its health check puts the previous release back by itself and says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from frostbyte_common import tls
from frostbyte_common.data_keys import DataKeyring
from frostbyte_common.vendor_keys import generate_key
from offline_bundle.checks import member_problem
from offline_bundle.engine import Engine, EngineFailed, detect, write_containers_conf
from offline_bundle.errors import BundleError, IntegrityFailed
from offline_bundle.home import InstallHome
from offline_bundle.manifest import MANIFEST_NAME, SIGNATURE_NAME, Manifest
from offline_bundle.verify import Verified, verify_bundle

Say = Callable[[str], None]

SECRET_FILES = ("db_password", "object_store_access_key", "object_store_secret_key",
                "object_data_keys", "signing_key", "tls_cert", "tls_key")


#: what a bundle's clamav/ holds besides the signatures: records of them, not for clamd
SIGNATURE_RECORDS = frozenset({"SIGNATURES_DATE", "SIGNATURES.json"})


def describe_signatures(folder: Path) -> str:
    """``of <date>`` and the daily database's version, from a bundle's records (a copied
    freshclam folder has none: its files' headers then speak at /readyz)."""
    record = folder / "SIGNATURES.json"
    date_file = folder / "SIGNATURES_DATE"
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        daily = data.get("databases", {}).get("daily")
        text = f"of {data['date']}" + (f", daily {daily['version']}" if daily else "")
        return text + ("" if data.get("official") else " (TEST SIGNATURES ONLY)")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    if date_file.is_file():
        return f"of {date_file.read_text(encoding='utf-8').strip()}"
    return "(no date recorded)"


def new_signing_key() -> str:
    """The Ed25519 seed (hex) that signs the audit's checkpoints."""
    return secrets.token_hex(32)


#: secret files a later bundle added, made when an older install lacks them (nothing stored
#: depends on them yet: the audit's checkpoints are signed from then on)
ADDED_SECRET_FILES: dict[str, Callable[[], str]] = {"signing_key": new_signing_key}

DEFAULT_TENANT = "offline"
DEFAULT_PUBLISH = "0.0.0.0:443"
READY_TIMEOUT_S = 600.0
#: the data-plane image's interpreter and entrypoint (images/build.py)
_DP_PYTHON = "/opt/frostbyte/bin/python"
_DP_ENTRYPOINT = "/usr/local/lib/frostbyte/entrypoint.py"
_SLUG = re.compile(r"^[a-z0-9]([a-z0-9-]{0,28}[a-z0-9])?$")
_TAG_BAD = re.compile(r"[^A-Za-z0-9_.-]")


class InstallFailed(BundleError):
    """A step of load/update/rollback could not be done (exit 9)."""

    default_code = "INSTALL_FAILED"
    exit_code = 9


class NotReady(BundleError):
    """The set did not answer ready through the gateway in time (exit 10)."""

    default_code = "NOT_READY"
    exit_code = 10


class RolledBack(BundleError):
    """The new release failed its health check; the previous one runs again (exit 11)."""

    default_code = "ROLLED_BACK"
    exit_code = 11


class WrongState(BundleError):
    """The command does not fit what is installed (load over an install, rollback with no
    previous release, ...) (exit 12)."""

    default_code = "WRONG_STATE"
    exit_code = 12


# -- pure parts ---------------------------------------------------------------------------
def parse_publish(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` (``[v6]:PORT`` for IPv6) → (address, port); ValueError when not."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"{text!r} is not ADDR:PORT (e.g. 0.0.0.0:443 or 127.0.0.1:8443)")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range")
    return host.removeprefix("[").removesuffix("]"), port


def certificate_hosts(address: str, hostname: str) -> list[str]:
    """The names the gateway's certificate covers: the publish address (a wildcard address
    means this host: its name, localhost and the loopback addresses)."""
    if address in ("0.0.0.0", "::", ""):  # noqa: S104 - a name, not a bind
        return sorted({hostname, "localhost", "127.0.0.1", "::1"} - {""})
    return [address] if address not in ("127.0.0.1", "localhost") else [
        "127.0.0.1", "localhost"]


def probe_address(address: str) -> str:
    """Where a local client reaches a gateway published on ``address``."""
    if address in ("0.0.0.0", ""):  # noqa: S104
        return "127.0.0.1"
    if address == "::":
        return "::1"
    return address


def base_url(address: str, port: int) -> str:
    host = probe_address(address)
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def release_tag(manifest: Manifest) -> str:
    """The image tag this release's set runs with: its version and aggregate checksum, so two
    releases never share a tag (rollback gets exactly its own images back)."""
    version = _TAG_BAD.sub("-", manifest.version)
    return f"{version}-{manifest.aggregate_sha256[:12]}"[:128]


def check_slug(slug: str) -> str:
    if not _SLUG.match(slug):
        raise ValueError(f"tenant {slug!r} is not a DNS label of at most 30 characters "
                         "(lowercase letters, digits, '-')")
    return slug


def new_secret_values(now_authority: tls.KeyAndCertificate, hosts: list[str],
                      tenant: str) -> dict[str, str]:
    """Fresh values of every secret file (a server certificate from ``now_authority``)."""
    server = tls.issue_server(now_authority, hosts, common_name=f"frostbyte-{tenant}")
    return {
        "db_password": secrets.token_urlsafe(32),
        "object_store_access_key": secrets.token_hex(10),
        "object_store_secret_key": secrets.token_urlsafe(30),
        "object_data_keys": DataKeyring.generate().serialize(),
        "signing_key": new_signing_key(),
        "tls_cert": server.cert_pem,
        "tls_key": server.key_pem,
    }


# -- the install's own settings -----------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    tenant: str
    publish: str
    engine: str

    @property
    def project(self) -> str:
        return f"frostbyte-{self.tenant}"


def _write_private(path: Path, text: str, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)  # noqa: PTH101
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Installer:
    """load / update / rollback on one install home."""

    def __init__(self, home: InstallHome, *, say: Say, env: Mapping[str, str] | None = None,
                 ready_timeout_s: float = READY_TIMEOUT_S) -> None:
        self.home = home
        self.root = home.root
        self.say = say
        self.env = dict(os.environ if env is None else env)
        self.ready_timeout_s = ready_timeout_s
        self._engine: Engine | None = None

    # -- paths ----------------------------------------------------------------------------
    @property
    def settings_path(self) -> Path:
        return self.root / "install.json"

    @property
    def secrets_dir(self) -> Path:
        return self.root / "secrets"

    @property
    def ca_pem(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca" / "ca-key.pem"

    def link(self, which: str) -> Path | None:
        """The release folder ``current``/``previous`` points at, or None."""
        path = self.root / which
        return path.resolve() if path.exists() else None

    def _point(self, which: str, target: Path | None) -> None:
        link = self.root / which
        if target is None:
            if link.is_symlink() or link.exists():
                link.unlink()
            return
        tmp = self.root / f".{which}-{secrets.token_hex(4)}"
        tmp.symlink_to(Path("releases") / target.name)
        tmp.replace(link)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            conf = self.root / "containers.conf"
            write_containers_conf(conf)
            self._engine = detect(self.env, conf)
        return self._engine

    def settings(self) -> Settings:
        if not self.settings_path.exists():
            raise WrongState(f"nothing is installed in {self.root} (no install.json)",
                             hint="run `frostbyte bundle load BUNDLE.tar` first (or give the "
                                  "right --home)")
        try:
            data = json.loads(self.settings_path.read_text(encoding="utf-8"))
            return Settings(tenant=data["tenant"], publish=data["publish"],
                            engine=data["engine"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WrongState(f"{self.settings_path} is unreadable ({exc})",
                             hint="repair it: it holds the tenant, publish address and engine "
                                  "the first load was given") from exc

    # -- verify + extract -----------------------------------------------------------------
    def extract(self, verified: Verified) -> Path:
        """Unpack the verified bundle into releases/<version>/ (hashing again while writing:
        a tar changed since it was verified is refused); an identical release already there
        is reused."""
        manifest = verified.manifest
        releases = self.root / "releases"
        releases.mkdir(parents=True, exist_ok=True)
        wanted = manifest.to_bytes()
        candidates = [releases / manifest.version,
                      releases / f"{manifest.version}-{manifest.aggregate_sha256[:12]}"]
        for candidate in candidates:
            try:
                same = (candidate / MANIFEST_NAME).read_bytes() == wanted
            except OSError:
                same = False
            if same:
                self.say(f"release {manifest.version} is already unpacked in {candidate}")
                return candidate
        in_use = {self.link("current"), self.link("previous")}
        target = next((c for c in candidates if not c.exists()), candidates[-1])
        if target.exists():
            if target.resolve() in in_use:
                raise WrongState(f"{target} holds another build of release "
                                 f"{manifest.version}, and it is in use",
                                 hint="move to another release first")
            shutil.rmtree(target)
        staging = Path(tempfile.mkdtemp(dir=releases, prefix=".unpack-"))
        expected = {f.path: f for f in manifest.files}
        seen: set[str] = set()
        try:
            with verified.path.open("rb") as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
                for member in tar:
                    kind = "file" if member.isreg() else "other"
                    problem = member_problem(member.name, kind)
                    name = member.name
                    if problem or (name not in expected and name not in (
                            MANIFEST_NAME, SIGNATURE_NAME)) or name in seen:
                        raise IntegrityFailed(
                            f"the bundle changed after it was verified ({name!r})",
                            hint="keep the bundle where nothing writes to it, and load again")
                    seen.add(name)
                    stream = tar.extractfile(member)
                    assert stream is not None
                    dest = staging / name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    digest = hashlib.sha256()
                    with dest.open("wb") as out:
                        while chunk := stream.read(1024 * 1024):
                            digest.update(chunk)
                            out.write(chunk)
                    entry = expected.get(name)
                    if entry is not None and digest.hexdigest() != entry.sha256:
                        raise IntegrityFailed(
                            f"{name} changed after the bundle was verified",
                            hint="keep the bundle where nothing writes to it, and load again")
            if (staging / MANIFEST_NAME).read_bytes() != manifest.to_bytes() or (
                    set(expected) - seen):
                raise IntegrityFailed("the bundle changed after it was verified",
                                      hint="load it again from a copy nothing writes to")
            staging.replace(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self.say(f"unpacked {len(expected)} files into {target}")
        return target

    # -- images ---------------------------------------------------------------------------
    def load_images(self, release: Path, manifest: Manifest) -> str:
        """Load every image archive of the release and tag each image with the release tag
        (``localhost/frostbyte/<name>:<tag>``, what compose.yaml runs); returns the tag."""
        engine = self.engine
        tag = release_tag(manifest)
        for image in manifest.images:
            started = time.monotonic()
            # the archive's bytes are the signed ones (checked while unpacking); the engine
            # names the image it loaded, or it is there under the manifest's reference
            names = engine.load(release / image.archive)
            source = next((n for n in names if engine.image_id(n)), None) or (
                image.ref if engine.image_id(image.ref) else None)
            if source is None:
                raise InstallFailed(
                    f"{engine.name} loaded {image.archive} but reported no image, and "
                    f"{image.ref} is not there afterwards",
                    hint=f"check `{engine.name} images`; the archive may need a newer "
                         f"{engine.name}")
            engine.tag(source, f"localhost/frostbyte/{image.name}:{tag}")
            self.say(f"loaded image {image.name} ({image.ref}) in "
                     f"{time.monotonic() - started:.0f} s")
        return tag

    # -- secrets and TLS ------------------------------------------------------------------
    def ensure_secrets(self, settings: Settings) -> bool:
        """Make the secret files and the CA once; returns True when they were made now. A
        certificate that does not cover the publish address is issued again by the CA."""
        address, _ = parse_publish(settings.publish)
        hosts = certificate_hosts(address, socket.gethostname())
        present = [n for n in SECRET_FILES if (self.secrets_dir / n).is_file()]
        if present:
            for name, make in ADDED_SECRET_FILES.items():
                if name not in present:
                    _write_private(self.secrets_dir / name, make() + "\n", 0o644)
                    present.append(name)
                    self.say(f"made the secret file {name}, which this bundle adds")
        if present and len(present) != len(SECRET_FILES):
            missing = sorted(set(SECRET_FILES) - set(present))
            raise InstallFailed(
                f"{self.secrets_dir} lacks {', '.join(missing)} but holds the others",
                hint="restore the missing files from your backup of the install home; new "
                     "values would not open the data already stored")
        if present:
            authority = self._authority(create=False)
            cert = (self.secrets_dir / "tls_cert").read_text(encoding="utf-8")
            if authority is not None and tls.needs_renewal(cert, hosts, authority.cert_pem):
                server = tls.issue_server(authority, hosts,
                                          common_name=f"frostbyte-{settings.tenant}")
                _write_private(self.secrets_dir / "tls_cert", server.cert_pem, 0o644)
                _write_private(self.secrets_dir / "tls_key", server.key_pem, 0o644)
                self.say(f"issued a new gateway certificate for {', '.join(hosts)}")
            return False
        authority = self._authority(create=True)
        assert authority is not None
        self.secrets_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.secrets_dir, 0o700)  # noqa: PTH101
        for name, value in new_secret_values(authority, hosts, settings.tenant).items():
            # 0644 inside a 0700 folder: the containers' own users read them, nobody else
            _write_private(self.secrets_dir / name, value + "\n", 0o644)
        self.say(f"made the installation's secrets in {self.secrets_dir} (0700) and a "
                 f"gateway certificate for {', '.join(hosts)}")
        return True

    def _authority(self, *, create: bool) -> tls.KeyAndCertificate | None:
        if self.ca_key.is_file() and self.ca_pem.is_file():
            return tls.KeyAndCertificate(self.ca_key.read_text(encoding="utf-8"),
                                         self.ca_pem.read_text(encoding="utf-8"))
        if not create:
            return None
        authority = tls.new_authority(f"Frostbyte offline CA ({socket.gethostname()})")
        self.ca_key.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.ca_key.parent, 0o700)  # noqa: PTH101
        _write_private(self.ca_key, authority.key_pem, 0o600)
        _write_private(self.ca_pem, authority.cert_pem, 0o644)
        self.say(f"made the installation's CA: clients verify the gateway with {self.ca_pem}")
        return authority

    # -- the set --------------------------------------------------------------------------
    def compose_env(self, settings: Settings, tag: str) -> dict[str, str]:
        return {"FROSTBYTE_TENANT": settings.tenant,
                "FROSTBYTE_SECRETS_DIR": str(self.secrets_dir),
                "FROSTBYTE_GATEWAY_PUBLISH": settings.publish,
                "FROSTBYTE_VERSION": tag}

    def seed_signatures(self, settings: Settings, release: Path, tag: str) -> None:
        self._fill_signatures(settings, release / "clamav", tag,
                              hint="get a complete bundle from the vendor")

    def _fill_signatures(self, settings: Settings, folder: Path, tag: str, *,
                         hint: str) -> None:
        """Replace the set's clamav-db volume with the signature files of ``folder`` (the
        bundle's records of them left out)."""
        staging = Path(tempfile.mkdtemp(prefix="fb-clamav-"))
        try:
            count = 0
            for path in folder.iterdir():
                if path.is_file() and path.name not in SIGNATURE_RECORDS:
                    shutil.copyfile(path, staging / path.name)
                    count += 1
            if count == 0:
                raise InstallFailed(f"no ClamAV signatures in {folder}", hint=hint)
            self.engine.fill_volume(f"{settings.project}_clamav-db", staging,
                                    f"localhost/frostbyte/clamd:{tag}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self.say(f"ClamAV signatures {describe_signatures(folder)} in volume "
                 f"{settings.project}_clamav-db")

    def install_signatures(self, folder: Path) -> float:
        """Put a newer signature folder (another bundle's ``clamav/``, or a copy of a
        freshclam'd /var/lib/clamav) onto the installed set: fill its clamav-db volume,
        restart its clamd so that it loads them now, wait until ready; seconds it took."""
        started = time.monotonic()
        settings, _, manifest = self._installed()
        if not folder.is_dir():
            raise InstallFailed(f"{folder} is not a folder",
                                hint="give the folder holding main.cvd and daily.cvd/.cld")
        self._fill_signatures(settings, folder, release_tag(manifest),
                              hint="give the folder holding main.cvd and daily.cvd/.cld")
        clamd = self.engine.container(settings.project, "clamd")
        if clamd is None:
            raise WrongState(f"the set {settings.project} has no clamd container",
                             hint="start it with `frostbyte bundle update` or `load`")
        self.engine.run("restart", clamd, what="restarting clamd")
        self.wait_ready(settings)
        return time.monotonic() - started

    def start(self, settings: Settings, release: Path, tag: str) -> float:
        """Start the release's set and wait for it to be ready; seconds it took."""
        started = time.monotonic()
        self.engine.up(release / "compose.yaml", self.compose_env(settings, tag))
        self.wait_ready(settings)
        return time.monotonic() - started

    def stop(self, settings: Settings, release: Path, tag: str, *, check: bool = True) -> None:
        self.engine.down(release / "compose.yaml", self.compose_env(settings, tag),
                         check=check)

    def wait_ready(self, settings: Settings) -> None:
        address, port = parse_publish(settings.publish)
        url = base_url(address, port) + "/readyz"
        deadline = time.monotonic() + self.ready_timeout_s
        last = "no answer yet"
        context = tls.client_context(self.ca_pem.read_text(encoding="utf-8"))
        next_nudge = time.monotonic() + 15
        while True:
            try:
                with httpx.Client(verify=context, timeout=10, trust_env=False) as c:
                    response = c.get(url)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}: {response.text[:300]}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                break
            if time.monotonic() >= next_nudge:
                # podman without systemd does not always apply `restart:` (podman 4.3): a
                # service that exited while the set came up (a store not answering yet) is
                # started again here; the one-shot migrate is left alone
                for name in self.engine.exited(settings.project, skip=("migrate",)):
                    self.say(f"{name} had exited: starting it again")
                    self.engine.start(name)
                next_nudge = time.monotonic() + 15
            time.sleep(2)
        api = self.engine.container(settings.project, "api")
        logs = f"\nlast lines of {api}:\n{self.engine.logs(api)}" if api else ""
        raise NotReady(
            f"the set was not ready at {url} within {self.ready_timeout_s:.0f} s "
            f"(last: {last}){logs}",
            hint=f"see `{self.engine.name} ps -a --filter label=com.docker.compose.project="
                 f"{settings.project}` and each container's logs")

    def add_vendor_key(self, settings: Settings) -> tuple[str, str]:
        """A first vendor key (all scopes); its hash goes into the data plane, the key is
        returned to be shown once."""
        api = self.engine.container(settings.project, "api")
        if api is None:
            raise InstallFailed("the set has no api container",
                                hint="see `podman ps -a` (or `docker ps -a`)")
        issued = generate_key()
        self.engine.run("exec", api, _DP_PYTHON, _DP_ENTRYPOINT, "add-vendor-key",
                        "--key-id", issued.key_id, "--sha256", issued.sha256,
                        "--scopes", "ingest,read,audit", "--label", "first key (bundle load)",
                        what="installing the first vendor key")
        return issued.key_id, issued.key

    # -- commands -------------------------------------------------------------------------
    def _verify(self, bundle: Path) -> Verified:
        verified = verify_bundle(bundle, self.home)
        m = verified.manifest
        self.say(f"verified bundle {m.version}: {len(m.files)} files, signed by "
                 f"{verified.signer}")
        return verified

    def load(self, bundle: Path, *, tenant: str, publish: str) -> LoadResult:
        started = time.monotonic()
        try:
            check_slug(tenant)
            parse_publish(publish)
        except ValueError as exc:
            raise WrongState(str(exc), hint="give --tenant SLUG and --publish ADDR:PORT"
                             ) from exc
        installed = self.home.installed_version()
        if installed is not None:
            raise WrongState(f"{self.root} already runs release {installed}",
                             hint="use `frostbyte bundle update BUNDLE.tar` to move to "
                                  "another release, or choose another --home")
        verified = self._verify(bundle)
        release = self.extract(verified)
        settings = Settings(tenant=tenant, publish=publish, engine=self.engine.name)
        if self.settings_path.is_file():
            previous = self.settings()
            if previous.tenant != tenant:
                raise WrongState(
                    f"{self.root} was set up for tenant {previous.tenant!r}, not {tenant!r}",
                    hint=f"load again with --tenant {previous.tenant}, or use another --home")
        _write_private(self.settings_path, json.dumps(asdict(settings), indent=2) + "\n",
                       0o644)
        tag = self.load_images(release, verified.manifest)
        self.ensure_secrets(settings)
        self.seed_signatures(settings, release, tag)
        self.say(f"starting the set {settings.project} (gateway on {publish})")
        self.stop(settings, release, tag, check=False)  # what a failed load may have left
        try:
            self.start(settings, release, tag)
        except BundleError as exc:
            raise type(exc)(exc.message, hint=exc.hint + "; the release stays unpacked: fix "
                            "the cause and run the same load again") from exc
        key_id, key = self.add_vendor_key(settings)
        self._point("current", release)
        return LoadResult(version=verified.manifest.version, release=release,
                          url=base_url(*parse_publish(publish)), ca=self.ca_pem,
                          key_id=key_id, key=key, seconds=time.monotonic() - started,
                          bundle_bytes=verified.tar_size)

    def _installed(self) -> tuple[Settings, Path, Manifest]:
        settings = self.settings()
        current = self.link("current")
        manifest = self.home.release("current")
        if current is None or manifest is None:
            raise WrongState(f"nothing is installed in {self.root}",
                             hint="run `frostbyte bundle load BUNDLE.tar` first")
        return settings, current, manifest

    def update(self, bundle: Path) -> SwitchResult:
        started = time.monotonic()
        settings, old, old_manifest = self._installed()
        verified = self._verify(bundle)
        new = self.extract(verified)
        tag = self.load_images(new, verified.manifest)
        self.ensure_secrets(settings)
        self.seed_signatures(settings, new, tag)
        old_tag = release_tag(old_manifest)
        self.say(f"stopping release {old_manifest.version}")
        self.stop(settings, old, old_tag)
        self.say(f"starting release {verified.manifest.version}")
        try:
            self.start(settings, new, tag)
        except BundleError as exc:
            self.say(f"release {verified.manifest.version} is not healthy: {exc.message}")
            self._back_to(settings, failed=(new, tag), good=(old, old_tag),
                          good_version=old_manifest.version,
                          why=f"release {verified.manifest.version} failed: {exc.message}")
        if new != old:
            self._point("previous", old)
        self._point("current", new)
        return SwitchResult(from_version=old_manifest.version,
                            to_version=verified.manifest.version,
                            seconds=time.monotonic() - started)

    def rollback(self) -> SwitchResult:
        started = time.monotonic()
        settings, current, current_manifest = self._installed()
        previous = self.link("previous")
        previous_manifest = self.home.release("previous")
        if previous is None or previous_manifest is None:
            raise WrongState(f"{self.root} has no previous release to go back to",
                             hint="a previous release exists after a successful "
                                  "`frostbyte bundle update`")
        tag, prev_tag = release_tag(current_manifest), release_tag(previous_manifest)
        self.say(f"stopping release {current_manifest.version}")
        self.stop(settings, current, tag)
        self.say(f"starting release {previous_manifest.version}")
        try:
            self.start(settings, previous, prev_tag)
        except BundleError as exc:
            self._back_to(settings, failed=(previous, prev_tag), good=(current, tag),
                          good_version=current_manifest.version,
                          why=f"release {previous_manifest.version} failed: {exc.message}")
        self._point("previous", current)
        self._point("current", previous)
        return SwitchResult(from_version=current_manifest.version,
                            to_version=previous_manifest.version,
                            seconds=time.monotonic() - started)

    def _back_to(self, settings: Settings, *, failed: tuple[Path, str],
                 good: tuple[Path, str], good_version: str, why: str) -> None:
        """Put the ``good`` release back after ``failed`` did not get ready; always raises."""
        self.stop(settings, *failed, check=False)
        try:
            self.start(settings, *good)
        except BundleError as exc:
            raise InstallFailed(
                f"{why}; going back to release {good_version} failed too: {exc.message}",
                hint=exc.hint) from exc
        raise RolledBack(f"{why}. Rolled back: release {good_version} runs again and is "
                         "ready", hint="nothing was changed; read the failure above and "
                                       "ask the vendor for a fixed bundle")


@dataclass(frozen=True)
class LoadResult:
    version: str
    release: Path
    url: str
    ca: Path
    key_id: str
    key: str
    seconds: float
    bundle_bytes: int


@dataclass(frozen=True)
class SwitchResult:
    from_version: str
    to_version: str
    seconds: float


__all__ = ["EngineFailed", "InstallFailed", "Installer", "LoadResult", "NotReady",
           "RolledBack", "SwitchResult", "WrongState"]
