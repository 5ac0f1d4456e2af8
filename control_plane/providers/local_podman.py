"""The local provider's ``podman`` engine (SPEC §4): each tenant as its own container set from
``images/`` — the images production hosts and offline customers run — started with
podman-compose as a compose project ``frostbyte-<slug>`` on networks of its own, with only its
TLS gateway published, on the tenant's loopback port.

The set brings its own PostgreSQL, S3 server (SeaweedFS) and clamd, so nothing of the stack's
cluster or SeaweedFS is shared with the tenant. Its secrets come from the tenant's SOPS file,
decrypted at each start into files under ``/dev/shm`` (memory, never disk; 0700 folder) that
compose mounts as secrets; the gateway's key and certificate are issued by the control plane's
CA, as for the process engine. Selected per tenant with the provider ``local-podman``, or for
every local tenant with ``FROSTBYTE_CP_LOCAL_ENGINE=podman``.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from control_plane.adapters.certificate_authority import FileCertificateAuthority
from control_plane.adapters.secret_store import SopsAgeSecretStore
from control_plane.domain.health import HealthReport
from control_plane.domain.lifecycle import Tenant
from control_plane.domain.ports import CertificateAuthority, SecretStore
from control_plane.domain.tenant_secrets import generate_tenant_secrets
from control_plane.errors import DataPlaneError, ProvisioningFailed
from control_plane.providers.base import JobOutput
from control_plane.providers.gateway import listen_address
from control_plane.providers.local import (
    CaTrust,
    TenantLocks,
    TenantPaths,
    claim_port,
    port_free,
    read_port,
)
from control_plane.settings import ControlPlaneSettings
from frostbyte_common import tls
from frostbyte_common.tenant_config import TenantConfig
from frostbyte_common.version import __version__
from offline_bundle.engine import Engine, EngineFailed, compose_command

log = logging.getLogger(__name__)

#: the tenant's secrets the set mounts (images/compose.yaml `secrets:`), besides the gateway's
SECRET_FILES = ("db_password", "object_store_access_key", "object_store_secret_key",
                "object_data_keys", "signing_key")
_DP_PYTHON = "/opt/frostbyte/bin/python"
_DP_ENTRYPOINT = "/usr/local/lib/frostbyte/entrypoint.py"
_DB_USER = "frostbyte"  # the set's PostgreSQL role of the data plane (images/files/postgres)


#: The gateway's control listener in the set (images/files/gateway/nginx.conf).
CONTROL_PORT = 8080


def control_url(published: str, slug: str) -> str:
    """The base URL of the set's control listener from ``podman port``'s answer (one
    ``address:port`` a line); only a loopback address is used."""
    for line in published.split():
        host, _, port = line.strip().rpartition(":")
        host = host.strip("[]")
        with contextlib.suppress(ValueError):
            if port.isdigit() and ipaddress.ip_address(host).is_loopback:
                return f"http://{listen_address(host, int(port))}"
    raise DataPlaneError(f"the container set of {slug!r} publishes no control listener on "
                         f"the host's loopback (podman port: {published.strip()!r}); start "
                         "it again")


def project_name(slug: str) -> str:
    return f"frostbyte-{slug}"


def default_compose_file() -> Path:
    """``images/compose.yaml`` of the checkout this control plane runs from."""
    return Path(__file__).resolve().parents[2] / "images" / "compose.yaml"


def default_containers_conf() -> Path:
    return Path(__file__).resolve().parents[2] / "images" / "containers.conf"


SHM = Path("/dev/shm")  # noqa: S108 - memory; the folder made in it is checked (_write_folder)


def secrets_folder(state_dir: Path, slug: str, root: Path = SHM) -> Path:
    """Where a tenant's decrypted secret files live while its set runs: memory, named after
    the state folder so that two stacks on one machine never share one."""
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]
    base = root if root.is_dir() else Path(tempfile.gettempdir())
    return base / f"frostbyte-{digest}" / slug


def compose_env(slug: str, *, secrets_dir: Path, host: str, port: int, version: str,
                config: TenantConfig) -> dict[str, str]:
    """The variables images/compose.yaml reads (no secret among them)."""
    return {"FROSTBYTE_TENANT": slug, "FROSTBYTE_SECRETS_DIR": str(secrets_dir),
            "FROSTBYTE_GATEWAY_PUBLISH": listen_address(host, port),
            "FROSTBYTE_VERSION": version,
            "FROSTBYTE_TENANT_CONFIG": config.model_dump_json()}


def secret_files(secrets: Mapping[str, str], server: tls.KeyAndCertificate,
                 ca_pem: str) -> dict[str, str]:
    """File name → content of the set's secrets (the gateway's chain and key included)."""
    files = {name: secrets[name] for name in SECRET_FILES if secrets.get(name)}
    missing = [n for n in SECRET_FILES if n not in files]
    if missing:
        raise ProvisioningFailed(f"the tenant's secrets lack {', '.join(missing)}")
    files["tls_cert"] = server.cert_pem + ca_pem
    files["tls_key"] = server.key_pem
    return files


def _private_folder(folder: Path) -> None:
    """Make ``folder`` and its parent 0700, refusing either if it is a link or belongs to
    someone else (the parent's name in /dev/shm is predictable)."""
    for path in (folder.parent, folder):
        path.mkdir(mode=0o700, exist_ok=True)
        info = path.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or \
                info.st_mode & 0o077:
            raise ProvisioningFailed(f"{path} is not a private folder of this user (a link, "
                                     "another owner or open permissions): remove it")


def _write_folder(folder: Path, files: Mapping[str, str]) -> None:
    """Write ``files`` into ``folder`` (0700): 0644 files, since the containers' own users
    (not this one) read them through compose's bind mounts."""
    _private_folder(folder)
    for name, content in files.items():
        target = folder / name
        tmp = folder / f".{name}.tmp"
        tmp.write_text(content, encoding="utf-8")
        tmp.chmod(0o644)
        tmp.replace(target)


class LocalPodmanProvider:
    """Implements :class:`~control_plane.providers.base.Provider` with container sets."""

    name = "local-podman"

    def __init__(self, *, state_dir: Path, port_range: range, secrets: SecretStore,
                 host: str = "127.0.0.1", authority: CertificateAuthority | None = None,
                 compose_file: Path | None = None, containers_conf: Path | None = None,
                 image_version: str = __version__, ready_timeout_s: float = 600.0,
                 engine: Engine | None = None, shm_root: Path = SHM,
                 python: Path = Path(sys.executable), name: str = "local-podman",
                 clamd_signatures: Path | None = None,
                 allow_test_signatures: bool = False) -> None:
        """``python`` runs ``python -m data_plane clamd-info`` (the signature folder when
        ``clamd_signatures`` is None); ``allow_test_signatures``: the sets are ready with only
        the project's test signatures; ``engine`` lets tests stand in for podman."""
        self.name = name
        self._clamd_signatures = clamd_signatures
        self._allow_test_signatures = allow_test_signatures
        self._python = python
        self._state_dir = state_dir.resolve()
        self._tenants_dir = self._state_dir / "tenants"
        self._port_range = port_range
        self._secrets = secrets
        self._host = host
        self._authority = authority or FileCertificateAuthority(self._state_dir / "ca")
        self._compose_file = compose_file or default_compose_file()
        self._version = image_version
        self._ready_timeout_s = ready_timeout_s
        self._shm_root = shm_root
        self._engine = engine or self._podman(containers_conf or default_containers_conf())
        self._locks = TenantLocks()
        self._port_lock = threading.Lock()
        self._trust = CaTrust(self._authority)

    @classmethod
    def from_settings(cls, settings: ControlPlaneSettings, *, name: str = "local-podman"
                      ) -> LocalPodmanProvider:
        return cls(state_dir=settings.state_dir, port_range=settings.port_range,
                   secrets=SopsAgeSecretStore(settings.state_dir / "secrets"), name=name,
                   python=settings.data_plane_python,
                   clamd_signatures=settings.clamd_signatures,
                   allow_test_signatures=settings.clamd_allow_test_signatures,
                   ready_timeout_s=max(settings.data_plane_ready_timeout_s, 600.0))

    @staticmethod
    def _podman(containers_conf: Path) -> Engine:
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "CONTAINERS_CONF": str(containers_conf), "HOME": tempfile.gettempdir()}
        compose = compose_command("podman")
        return Engine("podman", tuple(compose or ("podman-compose",)), env)

    # -- Provider port ---------------------------------------------------------------------
    def provision(self, tenant: Tenant, config: TenantConfig) -> str:
        return self._ensure_running(tenant, config)

    def start(self, tenant: Tenant, config: TenantConfig) -> str:
        return self._ensure_running(tenant, config)

    def tls_fingerprint(self, tenant: Tenant) -> str | None:
        try:
            return tls.fingerprint(self._cert_file(tenant.slug).read_text(encoding="ascii"))
        except (OSError, ValueError):
            return None

    def is_healthy(self, tenant: Tenant) -> bool:
        port = read_port(self.paths(tenant.slug).port_file)
        return port is not None and self._ready(self._endpoint(port))

    def apply_secrets(self, tenant: Tenant, config: TenantConfig) -> str:
        """The set's PostgreSQL role takes the new password (its own superuser, over the
        container's local socket), then the set restarts on the new files, with a newly
        issued certificate."""
        slug = tenant.slug
        with self._lock(slug):
            secrets = self._secrets.get(slug)
            postgres = self._engine.container(project_name(slug), "postgres")
            if postgres is not None:
                password = secrets["db_password"].replace("'", "''")
                socket_dir = "/tmp"  # noqa: S108 - the container's own socket folder
                self._exec_stdin(postgres, ["psql", "-v", "ON_ERROR_STOP=1", "-h", socket_dir,
                                            "-U", "postgres", "-d", "postgres"],
                                 f"ALTER ROLE {_DB_USER} PASSWORD '{password}';\n",
                                 what="setting the database password")
            self._down(slug, config)
            self._cert_file(slug).unlink(missing_ok=True)
        return self._ensure_running(tenant, config)

    def stop(self, tenant: Tenant) -> list[str]:
        with self._lock(tenant.slug):
            running = self._containers(tenant.slug)
            self._down(tenant.slug, TenantConfig.model_validate(tenant.config))
            return [f"{tenant.slug} {name}" for name in running]

    def install_vendor_key(self, tenant: Tenant, key_id: str, sha256: str,
                           scopes: Sequence[str], label: str | None) -> None:
        argv = ["add-vendor-key", "--key-id", key_id, "--sha256", sha256,
                "--scopes", ",".join(scopes)]
        self._admin(tenant, [*argv, "--label", label] if label else argv)

    def revoke_vendor_key(self, tenant: Tenant, key_id: str) -> None:
        if self._engine.container(project_name(tenant.slug), "api") is None:
            return  # no set: nothing can accept the key
        self._admin(tenant, ["revoke-vendor-key", "--key-id", key_id])

    @contextlib.contextmanager
    def control_channel(self, tenant: Tenant) -> Iterator[str]:
        """The set's control listener: its gateway's port 8080, which compose publishes on
        the host's loopback alone (``FROSTBYTE_CONTROL_PUBLISH``) and which passes
        ``/control/`` and ``/metrics`` only; the vendor listener answers 404 for them."""
        if not tenant.endpoint:
            raise DataPlaneError(f"tenant {tenant.slug!r} has no data plane endpoint")
        gateway = self._engine.container(project_name(tenant.slug), "gateway")
        if gateway is None:
            raise DataPlaneError(f"tenant {tenant.slug!r} has no running container set")
        published = self._engine.run("port", gateway, f"{CONTROL_PORT}/tcp",
                                     what="reading the control listener's address",
                                     check=False)
        yield control_url(published.stdout, tenant.slug)

    def deprovision(self, tenant: Tenant) -> None:
        """Remove the set with its volumes, its secret files and its folder."""
        slug = tenant.slug
        with self._lock(slug):
            self._down(slug, TenantConfig.model_validate(tenant.config))
            for volume in self._volumes(slug):
                self._engine.run("volume", "rm", "-f", volume, what="removing a volume",
                                 check=False)
            shutil.rmtree(self._secrets_dir(slug), ignore_errors=True)
            shutil.rmtree(self.paths(slug).root, ignore_errors=True)

    def verify_deprovisioned(self, tenant: Tenant) -> dict[str, bool]:
        slug = tenant.slug
        port = read_port(self.paths(slug).port_file)
        endpoint_port = urlsplit(tenant.endpoint).port if tenant.endpoint else port
        return {
            "containers": not self._containers(slug),
            "volumes": not self._volumes(slug),
            "networks": not self._networks(slug),
            "secret_files": not self._secrets_dir(slug).exists(),
            "endpoint": endpoint_port is None or port_free(self._host, endpoint_port),
            "tenant_dir": not self.paths(slug).root.exists(),
        }

    def job_output(self, tenant: Tenant, since: datetime, until: datetime | None,
                   limit: int) -> JobOutput:
        """Nothing: podman-compose's output is in the step's message when it fails."""
        return JobOutput()

    # -- health polling (providers.base.HealthProbe) ---------------------------------------
    def probe_health(self, tenant: Tenant) -> HealthReport:
        """One ``/readyz`` through the set's gateway: ready, or what it answered (or that
        the set's api container is gone)."""
        port = read_port(self.paths(tenant.slug).port_file)
        if port is None:
            return HealthReport(False, "no port recorded: the container set was never started")
        why = ""
        try:
            with httpx.Client(verify=self._trust.context(), timeout=5,
                              trust_env=False) as client:
                status = client.get(f"{self._endpoint(port)}/readyz").status_code
        except httpx.HTTPError as exc:
            status, why = None, f"/readyz did not answer ({type(exc).__name__})"
        if status == 200:
            return HealthReport(True, "ready")
        if self._engine.container(project_name(tenant.slug), "api") is None:
            return HealthReport(False, "its api container is not running")
        return HealthReport(False, why if status is None else f"/readyz answered {status}")

    def repair(self, tenant: Tenant, config: TenantConfig) -> str:
        """Bring the container set up again through :meth:`start` (compose starts what
        stopped), under the tenant's lock; refused for a tenant whose folder or port is gone
        (deprovisioned meanwhile: a repair never makes a tenant)."""
        paths = self.paths(tenant.slug)
        if not paths.root.is_dir() or read_port(paths.port_file) is None:
            raise ProvisioningFailed(
                f"tenant {tenant.slug!r} has no container set to restart (deprovisioned?)")
        return self._ensure_running(tenant, config)

    # -- internals -------------------------------------------------------------------------
    def paths(self, slug: str) -> TenantPaths:
        return TenantPaths(self._tenants_dir / slug)

    def _cert_file(self, slug: str) -> Path:
        return self.paths(slug).root / "gateway.crt"

    def _secrets_dir(self, slug: str) -> Path:
        return secrets_folder(self._state_dir, slug, self._shm_root)

    def _endpoint(self, port: int) -> str:
        return f"https://{listen_address(self._host, port)}"

    def _lock(self, slug: str) -> contextlib.AbstractContextManager[None]:
        return self._locks.of(slug)

    def _env(self, slug: str, config: TenantConfig, *, port: int) -> dict[str, str]:
        env = compose_env(slug, secrets_dir=self._secrets_dir(slug), host=self._host,
                          port=port, version=self._version, config=config)
        if self._allow_test_signatures:  # compose.yaml passes it to the api and worker
            env["FROSTBYTE_DP_CLAMD_ALLOW_TEST_SIGNATURES"] = "true"
        return env

    def _ready(self, endpoint: str) -> bool:
        try:
            with httpx.Client(verify=self._trust.context(), timeout=5, trust_env=False) as client:
                return client.get(f"{endpoint}/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def _ensure_running(self, tenant: Tenant, config: TenantConfig) -> str:
        slug = tenant.slug
        with self._lock(slug):
            paths = self.paths(slug)
            paths.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            (paths.root / "engine").write_text("podman\n", encoding="ascii")
            port = read_port(paths.port_file)
            if port is not None and self._ready(self._endpoint(port)):
                return self._endpoint(port)
            with self._port_lock:
                port = claim_port(paths, self._host, self._port_range)
            endpoint = self._endpoint(port)
            if not self._secrets.exists(slug):
                self._secrets.put(slug, generate_tenant_secrets())
            secrets = self._secrets.get(slug)
            server = self._certificate(slug)
            _write_folder(self._secrets_dir(slug), secret_files(
                secrets, server, self._authority.certificate_pem()))
            env = self._env(slug, config, port=port)
            try:
                self._seed_signatures(slug)
                self._engine.up(self._compose_file, env)
            except EngineFailed as exc:
                raise ProvisioningFailed(f"the container set of {slug!r} did not start: "
                                         f"{exc.message}") from None
            deadline = time.monotonic() + self._ready_timeout_s
            while not self._ready(endpoint):
                if time.monotonic() > deadline:
                    api = self._engine.container(project_name(slug), "api")
                    logs = self._engine.logs(api) if api else "(no api container)"
                    raise ProvisioningFailed(
                        f"the container set of {slug!r} was not ready at {endpoint} within "
                        f"{self._ready_timeout_s:.0f} s; the api's last lines:\n{logs}")
                time.sleep(2)
            log.info("tenant %s: container set %s ready on %s", slug, project_name(slug),
                     endpoint)
            return endpoint

    def _certificate(self, slug: str) -> tls.KeyAndCertificate:
        """The gateway's key and certificate: the kept certificate (its key is in the
        secrets folder) unless it must be issued anew."""
        cert_file = self._cert_file(slug)
        key_file = self._secrets_dir(slug) / "tls_key"
        ca_pem = self._authority.certificate_pem()
        with contextlib.suppress(OSError, ValueError):
            present = cert_file.read_text(encoding="ascii")
            if key_file.exists() and tls.needs_renewal(present, [self._host], ca_pem) is None:
                return tls.KeyAndCertificate(key_file.read_text(encoding="ascii"), present)
        issued = self._authority.issue([self._host], common_name=f"{slug} data plane")
        cert_file.write_text(issued.cert_pem, encoding="ascii")
        return issued

    def _seed_signatures(self, slug: str) -> None:
        """The set's clamd volume gets the configured signature folder, else the one
        ``clamd-info`` names (no freshclam inside: the set has no route out)."""
        volume = f"{project_name(slug)}_clamav-db"
        signatures = self._clamd_signatures or Path(json.loads(subprocess.run(
            [str(self._python), "-m", "data_plane", "clamd-info"], capture_output=True,
            text=True, check=True, timeout=120).stdout)["signatures"])
        self._engine.fill_volume(volume, signatures,
                                 f"localhost/frostbyte/clamd:{self._version}")

    def _down(self, slug: str, config: TenantConfig) -> None:
        port = read_port(self.paths(slug).port_file) or 0
        self._engine.down(self._compose_file, self._env(slug, config, port=port), check=False)

    def _admin(self, tenant: Tenant, argv: Sequence[str]) -> None:
        api = self._engine.container(project_name(tenant.slug), "api")
        if api is None:
            raise DataPlaneError(f"tenant {tenant.slug!r} has no running container set")
        try:
            self._engine.run("exec", api, _DP_PYTHON, _DP_ENTRYPOINT, *argv,
                             what=f"`data_plane {argv[0]}`")
        except EngineFailed as exc:
            raise DataPlaneError(exc.message) from None

    def _exec_stdin(self, container: str, argv: Sequence[str], stdin: str, *,
                    what: str) -> None:
        """Run ``argv`` in ``container`` with ``stdin`` (a secret never goes in argv)."""
        result = subprocess.run(["podman", "exec", "-i", container, *argv], input=stdin,
                                env=dict(self._engine.env), capture_output=True, text=True,
                                timeout=120, check=False)
        if result.returncode != 0:
            raise ProvisioningFailed(f"{what} in {container} failed: "
                                     f"{result.stderr.strip()[-1000:]}")

    def _listing(self, kind: str, slug: str) -> list[str]:
        label = f"label=com.docker.compose.project={project_name(slug)}"
        argv = {"containers": ["ps", "-a", "--filter", label, "--format", "{{.Names}}"],
                "volumes": ["volume", "ls", "--filter", label, "--format", "{{.Name}}"],
                "networks": ["network", "ls", "--format", "{{.Name}}"]}[kind]
        out = self._engine.run(*argv, what=f"listing {kind}", check=False)
        names = out.stdout.split()
        if kind == "networks":  # podman 4.3 cannot filter networks by label
            return [n for n in names if n.startswith(f"{project_name(slug)}_")]
        return names

    def _containers(self, slug: str) -> list[str]:
        return self._listing("containers", slug)

    def _volumes(self, slug: str) -> list[str]:
        found = set(self._listing("volumes", slug))
        out = self._engine.run("volume", "ls", "--format", "{{.Name}}", what="listing volumes",
                               check=False)
        found |= {v for v in out.stdout.split() if v.startswith(f"{project_name(slug)}_")}
        return sorted(found)

    def _networks(self, slug: str) -> list[str]:
        return self._listing("networks", slug)


