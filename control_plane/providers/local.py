"""The ``local`` provider (SPEC §4): each tenant's data plane as processes on this machine.

Per tenant ``t`` (``slug`` with ``-`` as ``_`` in database names):

* PostgreSQL service role ``fb_<t>`` and database ``fb_<t>`` (created through the admin
  connection; CONNECT revoked from PUBLIC), owned by a migration role ``fbmig_<t>`` that runs
  ``migrate`` and owns every table — the service role reads and writes rows but can only
  INSERT and SELECT the audit schema (SPEC §5.6); plus an operator role ``fbops_<t>`` (member
  of ``fb_<t>``) used only by one-shot admin commands such as ``add-vendor-key``;
* a Unix account ``fbt-<slug>`` (see *Isolation* below);
* an Ed25519 audit signing key, generated once into ``<state_dir>/tenants/<slug>/audit-key.pem``
  (0440, root and the tenant's group), with which the data plane signs its audit checkpoints;
* ``<state_dir>/tenants/<slug>/{objects,qdrant,work,run,logs,pids}`` and a ``port`` file
  holding its loopback port from the configured range;
* its own clamd (Debian ``clamav-daemon``) with its own config, socket and temporary folder
  under ``clamd/``, pid in ``pids/clamd.pid``, reading the signature folder in place
  (``FROSTBYTE_CP_CLAMD_SIGNATURES``; else what ``clamd-info`` names: freshclam's
  ``/var/lib/clamav`` when it holds an official database, else the project's test
  signatures, with which the data plane is not ready unless
  ``FROSTBYTE_CP_CLAMD_ALLOW_TEST_SIGNATURES``); the data plane scans every received file
  through its socket (``FROSTBYTE_DP_CLAMD_SOCKET``). One per tenant rather than one for
  the local stack: the data plane is the same set of processes as a tenant server's (SPEC
  §4), a tenant's files never pass through a process another tenant uses; with an official
  database a clamd holds about 1 GB of memory (twice that while it reloads), with the test
  signatures a few MB. clamd is down → the data plane's ``/readyz`` says so (503), files are held as
  ``SCAN_PENDING`` and never parsed unscanned; :meth:`LocalProvider.start` restarts it.
  The control plane does not import the data plane: the config comes from ``python -m
  data_plane clamd-config``, the binary and the signatures' folder from ``python -m
  data_plane clamd-info`` (run by the data plane's interpreter), readiness from clamd's
  ``PING`` over the socket;
* its own bucket ``fb-<slug>`` on the local stack's S3 server (SeaweedFS) and an identity
  holding the tenant's ``object_store_access_key`` / ``object_store_secret_key`` (SOPS) that
  reaches only that bucket; the data plane encrypts every object with the tenant's data keys
  (``object_data_keys``, SOPS) before it leaves the process, so the bucket holds ciphertext
  only (SPEC §5.4). Without an S3 server configured (tests with a stand-in data plane) the
  tenant gets the filesystem double under ``objects/``;
* ``python -m data_plane migrate``, then ``serve`` and ``worker`` as detached processes whose
  pids are in ``pids/{api,worker}.pid`` and output in ``logs/{api,worker}.log``. The
  interpreter (``data_plane_python``) imports the installed ``data_plane`` package; nothing
  puts a source tree on its ``PYTHONPATH`` (tests may, to stand a fake data plane in).

Suspension (SPEC §3 transition 7) does not stop anything: the control plane tells the
running data plane, through its control routes, to refuse vendor calls with 403
``TENANT_SUSPENDED``; :meth:`LocalProvider.stop` is for re-applying a config and for
deprovisioning.

Passwords: the service role's is the tenant's ``db_password`` from its SOPS file (SPEC §6),
decrypted in memory at every (re)start of its processes and set on the role;
``rotate-secrets`` restarts them through :meth:`LocalProvider.apply_secrets`, so the new
password is the live one at once. A tenant without a secrets file (tests) gets a random
one per start.
The migration and operator roles, used only by one-shot commands, get a fresh random
password each time. A password travels only in the child's environment
(``FROSTBYTE_DP_DATABASE_URL``) and reaches PostgreSQL only as a SCRAM verifier — it is
never written to disk or logged. The child
environment is built from an allowlist, so the control plane's own credentials never leak
into a data plane.

Isolation (SPEC §4, the ``process`` engine). The control plane runs as root; each tenant's
processes run as a Unix account of its own, ``fbt-<slug>`` (:mod:`control_plane.adapters.
unix_accounts`: a system account with its own group and no other, no login shell, its home
the tenant's ``work/``), made at provisioning and removed (``userdel``) at deprovisioning,
after every process running as it is stopped; ``verify_deprovisioned`` reports
``unix_account``. What runs as it: the API (``serve``), the worker and its parser children,
clamd, the one-shot ``migrate``/``add-vendor-key``/``revoke-vendor-key``, and the gateway's
nginx worker processes (``user fbt-<slug>;``). The gateway's nginx master stays root, as in
the Ansible role: it reads the root-only key and certificate and binds the port, and never
handles a request; a worker reaches the API's socket as the tenant. The ``clamd-info`` and
``clamd-config`` tools, which read nothing of a tenant's, run as root.

Files. ``<state_dir>`` and ``tenants/`` are 0711 (traversable, never listable); above them
every folder gets o+x where it lacks it (logged). The tenant's folder is root's, group the
tenant's, 0710: its account enters it, nobody else does, and it cannot rename or replace
what root writes there, so root never writes, reads or chowns through a path the tenant
controls (a tenant that swapped a folder for a link to ``/etc`` gains nothing):

* the account's own, 0700: ``objects/``, ``qdrant/``, ``work/`` (home, cwd, TMPDIR),
  ``run/`` (the API's and clamd's sockets, clamd's log; in ``/tmp/frostbyte-<hash>/`` when
  the path would be too long for a socket), ``clamd/tmp/``, and the folders nginx's master
  makes for its workers in ``gateway/tmp/`` (root's, 0710, emptied at each start); a folder made
  before accounts existed is handed over with its contents (walked by file descriptor,
  never following a link);
* root's, the account may read: ``clamd/`` (0710) with ``clamd.conf``, ``gateway/`` (0710)
  with ``nginx.conf`` and the certificate, ``port``, ``audit-key.pem`` (root:tenant 0440);
* root's only: ``logs/`` and ``pids/`` (0700; a process writes its log through the
  descriptor root opened, and cannot forge a pid file for the control plane to signal),
  the gateway's ``server.key`` (0600).

The state folder's other contents (``secrets/`` with the control plane's and the tenants'
age keys, ``ca/`` with the CA key, ``admin_token``, ``s3_admin``, ``stack.json``, ``pg/``
with the superuser's password) stay root-only. The data plane's interpreter and code must be
reachable by the account (checked before the first start: a Python under ``/root`` is not).
The project's PostgreSQL cluster (:mod:`control_plane.local_runtime.pg_cluster`) asks every
role for its SCRAM password, the superuser included; its socket is open to local accounts
(0777 in a 0711 folder), so the password is the boundary. Each tenant's roles are NOSUPERUSER
NOCREATEDB NOCREATEROLE, members of nothing but ``fb_<t>`` (the ops role); CONNECT on every
tenant database and on the cluster's own databases is revoked from PUBLIC.

The control plane reaches a tenant's ``/control/`` routes on the API's Unix socket
(:meth:`LocalProvider.control_channel`), never through the gateway, which answers 404 for
``/control/`` and ``/metrics`` on the vendor listener.

Without root no account can be made: provisioning is refused with what to do, unless
``FROSTBYTE_CP_LOCAL_SHARED_ACCOUNT=true`` — every tenant then runs as the control plane's
user with no isolation between tenants (development only). Before a tenant is recorded,
:meth:`LocalProvider.check_capacity` refuses one the machine cannot host (503
``INSUFFICIENT_CAPACITY``: PostgreSQL connection slots for its pools, ``MemAvailable``
against ``FROSTBYTE_CP_LOCAL_TENANT_MEMORY_BYTES``; :mod:`control_plane.domain.capacity`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import pwd
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import httpx
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from control_plane.adapters import processes, unix_accounts
from control_plane.adapters.certificate_authority import FileCertificateAuthority
from control_plane.adapters.data_plane_control import unix_socket_url
from control_plane.adapters.private_files import write_private
from control_plane.adapters.releases import LocalReleases, reported_version
from control_plane.adapters.secret_store import SopsAgeSecretStore
from control_plane.adapters.unix_accounts import TenantAccount
from control_plane.domain.capacity import (
    POOL_BUDGET,
    HostMeasures,
    PoolBudget,
    TenantNeeds,
    shortfalls,
)
from control_plane.domain.health import HealthReport
from control_plane.domain.lifecycle import Tenant
from control_plane.domain.ports import CertificateAuthority, SecretStore, TenantBuckets
from control_plane.domain.releases import UpdatePlan, check_schema, plan_update
from control_plane.domain.tenant_secrets import DATA_KEYS, EMBEDDING_API_KEY, with_data_keys
from control_plane.errors import (
    DataPlaneError,
    InsufficientCapacity,
    ProvisioningFailed,
    UpdateRolledBack,
)
from control_plane.providers.base import JobOutput
from control_plane.providers.gateway import (
    GatewayFiles,
    listen_address,
    nginx_argv,
    nginx_binary,
    render_config,
)
from control_plane.settings import ControlPlaneSettings
from frostbyte_common import logs, pg_admin, tls
from frostbyte_common.audit_checkpoint import write_new_signing_key
from frostbyte_common.offline import OFFLINE_ENV
from frostbyte_common.tenant_config import TenantConfig

log = logging.getLogger(__name__)

MARKER = "data_plane"
DATA_KEYS_ENV = "FROSTBYTE_DP_OBJECT_DATA_KEYS"

# Environment variables a data plane may inherit from the control plane; nothing else.
_INHERITED_ENV = (
    "PATH", "HOME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "VIRTUAL_ENV",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "HF_HOME", "XDG_CACHE_HOME", "TORCH_HOME",
    "OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES",
    # where baked embedding models are (nomic-embed-text-v1.5): one folder for every tenant
    "FROSTBYTE_DP_EMBEDDING_MODELS_DIR",
)


def bucket_name(slug: str) -> str:
    """The tenant's bucket on the stack's S3 server (slugs are valid S3 bucket names)."""
    return f"fb-{slug}"


def role_name(slug: str) -> str:
    """The tenant's PostgreSQL role and database name: ``fb_<slug with - as _>``."""
    return "fb_" + slug.replace("-", "_")


def migration_role_name(slug: str) -> str:
    """The role ``fbmig_<t>`` that owns the tenant's database and schema and runs ``migrate``."""
    return "fbmig_" + slug.replace("-", "_")


def ops_role_name(slug: str) -> str:
    """The tenant's operator role ``fbops_<t>`` (a prefix no tenant role can have)."""
    return "fbops_" + slug.replace("-", "_")


def _new_password() -> str:
    return secrets.token_urlsafe(32)


class TenantDatabases:
    """Creates, re-keys and drops tenant roles and databases through an admin connection."""

    def __init__(self, admin_conninfo: str) -> None:
        self._admin = admin_conninfo

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self._admin, autocommit=True, connect_timeout=10)

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit admin connection (for read-only checks such as verification)."""
        return self._connect()

    def ensure(self, slug: str) -> None:
        """Create the tenant's roles and database if missing (idempotent)."""
        role, ops, owner = role_name(slug), ops_role_name(slug), migration_role_name(slug)
        with self._connect() as conn:
            pg_admin.ensure_login_role(conn, role)
            pg_admin.ensure_login_role(conn, owner)
            pg_admin.ensure_login_role(conn, ops, in_role=role)
            pg_admin.ensure_database(conn, role, owner=owner)
            self._hand_over_to_migration_role(conn, slug)
            pg_admin.connect_only(conn, role, role)

    def _hand_over_to_migration_role(self, conn: psycopg.Connection[tuple[object, ...]],
                                     slug: str) -> None:
        """A database made before the migration role existed belongs to the service role:
        give it and everything in it to the migration role (once)."""
        role, owner = role_name(slug), migration_role_name(slug)
        row = conn.execute(b"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                           (role,)).fetchone()
        if row is None or row[0] == owner:
            return
        with psycopg.connect(make_conninfo(self._admin, dbname=role),
                             autocommit=True) as tenant_db:
            tenant_db.execute(sql.SQL("REASSIGN OWNED BY {} TO {}").format(
                sql.Identifier(role), sql.Identifier(owner)))

    def set_password(self, role: str, password: str) -> None:
        """Give ``role`` a new password (sent as a SCRAM verifier)."""
        with self._connect() as conn:
            pg_admin.set_password(conn, role, password)

    def conninfo(self, slug: str, role: str, password: str) -> str:
        """Conninfo for ``role`` on the tenant's database, on the admin connection's server."""
        return make_conninfo(self._admin, user=role, password=password, dbname=role_name(slug))

    def drop(self, slug: str) -> None:
        """Drop the tenant's database and roles (idempotent)."""
        role = role_name(slug)
        with self._connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(role))
            )
            for name in (ops_role_name(slug), role, migration_role_name(slug)):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def _exists(conn: psycopg.Connection[tuple[object, ...]], query: str, name: str) -> bool:
    return conn.execute(query.encode(), (name,)).fetchone() is not None


def own_folder(folder: Path, uid: int, gid: int, mode: int) -> None:
    """Give ``folder`` (a real folder, never a symbolic link: it is opened without following
    one) to ``uid``/``gid`` with ``mode``."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def own_file(path: Path, uid: int, gid: int, mode: int) -> None:
    """Give the file ``path`` (never through a symbolic link) to ``uid``/``gid``."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def hand_over(folder: Path, account: TenantAccount) -> None:
    """Make ``folder`` the account's (0700). One that is not yet its (made before tenants
    had accounts) is handed over with everything in it, walked by file descriptor without
    following a link, so nothing outside the folder changes owner."""
    if folder.lstat().st_uid != account.uid:
        for _, dirs, files, dir_fd in os.fwalk(folder, follow_symlinks=False):
            for name in (*dirs, *files):
                os.chown(name, account.uid, account.gid, dir_fd=dir_fd,
                         follow_symlinks=False)
    own_folder(folder, account.uid, account.gid, 0o700)


@dataclass(frozen=True, slots=True)
class TenantPaths:
    root: Path

    @property
    def objects(self) -> Path:
        return self.root / "objects"

    @property
    def qdrant(self) -> Path:
        return self.root / "qdrant"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def port_file(self) -> Path:
        return self.root / "port"

    @property
    def audit_key(self) -> Path:
        return self.root / "audit-key.pem"

    @property
    def audit_chain_file(self) -> Path:
        """Written by a restore from a backup (root's, 0600): the name of the audit chain the
        tenant's data plane continues (the source tenant's); absent, its own slug."""
        return self.root / "audit-chain"

    @property
    def clamd(self) -> Path:
        return self.root / "clamd"

    @property
    def clamd_config(self) -> Path:
        return self.clamd / "clamd.conf"

    @property
    def gateway(self) -> GatewayFiles:
        return GatewayFiles(self.root / "gateway")

    @property
    def run(self) -> Path:
        """The folder of the tenant's sockets (API, clamd), the one its
        processes create files in: ``run/`` in the tenant's folder, unless a socket's path
        there would be too long for a Unix socket (108 bytes): then a 0700 folder of the
        temporary folder named after the tenant's folder. Owned by the tenant's account."""
        beside = self.root / "run"
        if len(str(beside / "clamd.sock").encode()) <= 100:
            return beside
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"frostbyte-{digest}"

    @property
    def api_socket(self) -> Path:
        """The data plane API's Unix socket (reached by the gateway's workers and, for the
        control routes, by the control plane; never by another tenant)."""
        return self.run / "api.sock"

    @property
    def clamd_socket(self) -> Path:
        return self.run / "clamd.sock"

    def pid_file(self, name: str) -> Path:
        return self.pids / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def make(self, account: TenantAccount | None = None) -> None:
        """Make the tenant's folders. With ``account`` (isolation, see the module
        docstring): the tenant's folder root-owned, group the account's, 0710; what the
        data plane writes (objects, qdrant, work, run, clamd's tmp) owned by the account,
        0700 (a folder made before isolation is handed over with everything in it); logs,
        pids and the gateway's key root-only."""
        if account is None:
            for folder in (self.root, self.objects, self.qdrant, self.work, self.logs,
                           self.pids, self.run, self.clamd, self.clamd / "tmp"):
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.gateway.make()
            return
        me = os.geteuid()
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        own_folder(self.root, me, account.gid, 0o710)
        for folder in (self.logs, self.pids):
            folder.mkdir(exist_ok=True, mode=0o700)
            own_folder(folder, me, os.getegid(), 0o700)
        # root's files, the account enters; nginx's master (root) makes its temporary
        # folders in gateway/tmp and gives them to the workers: that folder must not be the
        # tenant's, or a link planted there would have root chown what it points at
        for folder in (self.gateway.root, self.clamd, self.gateway.temp):
            folder.mkdir(exist_ok=True, mode=0o700)
            own_folder(folder, me, account.gid, 0o710)
        for folder in (self.objects, self.qdrant, self.work, self.run, self.clamd / "tmp"):
            folder.mkdir(exist_ok=True, mode=0o700)
            hand_over(folder, account)


PROCESSES = ("api", "worker")
_COMMANDS = {"api": "serve", "worker": "worker"}
CLAMD = "clamd"
CLAMD_INFO_TTL_S = 60.0
GATEWAY = "gateway"


def process_markers(paths: TenantPaths) -> dict[str, str]:
    """Each process of a local tenant (its pid file's name) and the marker its command line
    must contain for that pid to be ours: ``data_plane`` for the API and worker, the
    tenant's own clamd config path for its clamd, its gateway config for its nginx. The
    gateway goes first: vendors are turned away before the API stops."""
    return ({GATEWAY: str(paths.gateway.config)} | {name: MARKER for name in PROCESSES}
            | {CLAMD: str(paths.clamd_config)})


def process_env(name: str, idle_stop_s: float,
                budget: PoolBudget = POOL_BUDGET) -> dict[str, str]:
    """What one long-lived data-plane process gets beside the tenant's environment: its
    share of the tenant's connection budget (:class:`~control_plane.domain.capacity.
    PoolBudget`, which the capacity check counts) and the idle time after which it drops
    its heavy parts."""
    db, queue = budget.pools(name)
    return {"FROSTBYTE_DP_DB_POOL_MAX_SIZE": str(db),
            "FROSTBYTE_DP_QUEUE_POOL_MAX_SIZE": str(queue),
            "FROSTBYTE_DP_IDLE_STOP_S": str(idle_stop_s)}


def clamd_config_args(paths: TenantPaths, database: Path, max_stream_bytes: int) -> list[str]:
    """``python -m data_plane clamd-config`` arguments for the tenant clamd's config: its own
    socket, database and temporary folder; streams as long as the tenant's largest file.
    No log file: clamd writes its log to standard output, which the provider passes through
    a log relay into ``logs/clamd.log`` (JSON lines, as every process of a tenant)."""
    return ["clamd-config", f"--socket={paths.clamd_socket}", f"--database={database}",
            f"--temp-dir={paths.clamd / 'tmp'}", f"--max-stream-bytes={max_stream_bytes}"]


def log_relay(slug: str, logger: str, level: str = "info") -> list[str]:
    """The relay a tenant process's output passes through into its file in ``logs/``
    (:func:`frostbyte_common.logs.relay`): the data plane's own JSON lines as they are,
    anything else (clamd's and nginx's logs, a crash before logging started) made one,
    with the tenant's slug. It runs as the control plane, which alone writes ``logs/``."""
    return logs.relay_argv(sys.executable, logger=logger, level=level,
                           context={"tenant": slug})


def clamd_ping(socket_path: Path, timeout_s: float = 5.0) -> bool:
    """True if a clamd answers ``PING`` on ``socket_path`` (clamd's ``z`` command form:
    the command and the reply each end in a NUL byte)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(str(socket_path))
            sock.sendall(b"zPING\0")
            reply = b""
            while not reply.endswith(b"\0") and len(reply) < 64:
                block = sock.recv(64)
                if not block:
                    break
                reply += block
    except OSError:
        return False
    return reply.rstrip(b"\0") == b"PONG"



class CaTrust:
    """A client TLS context that trusts the CA's tenant certificates, made at first use, not
    at start-up (every control-plane start and unit test builds the providers; the CA itself
    is made at that first use, if it is new)."""

    def __init__(self, authority: CertificateAuthority) -> None:
        self._authority = authority
        self._context: ssl.SSLContext | None = None

    def context(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = tls.client_context(self._authority.certificate_pem())
        return self._context


class LocalProvider:
    """Runs each tenant's data plane as local processes (see the module docstring)."""

    name = "local"

    def __init__(
        self,
        *,
        admin_conninfo: str,
        state_dir: Path,
        python: Path,
        port_range: range,
        host: str = "127.0.0.1",
        ready_timeout_s: float = 180.0,
        stop_grace_s: float = 10.0,
        command_timeout_s: float = 600.0,
        code_paths: Sequence[Path] = (),
        clamd_signatures: Path | None = None,
        allow_test_signatures: bool = False,
        secrets: SecretStore | None = None,
        buckets: TenantBuckets | None = None,
        authority: CertificateAuthority | None = None,
        shared_account: bool = False,
        tenant_memory_bytes: int = TenantNeeds().memory_bytes,
        idle_stop_s: float = 0.0,
    ) -> None:
        """``shared_account``: run every tenant as our own user (no isolation, for
        development; see the module docstring); ``tenant_memory_bytes``: what the capacity
        check expects one more tenant to take; ``idle_stop_s``: the data plane's
        ``FROSTBYTE_DP_IDLE_STOP_S`` (0: heavy parts loaded at start and kept).
        ``code_paths`` go on the data plane's ``PYTHONPATH`` (empty: the interpreter's
        installed ``data_plane``);
        ``clamd_signatures`` is the folder whose signatures each tenant's clamd loads in
        place (None: the folder ``clamd-info`` names);
        ``allow_test_signatures``: the data planes count as ready with only the project's
        test signatures (tests, ``make demo``);
        ``authority`` issues the tenants' gateway certificates (None: the CA kept in
        ``<state_dir>/ca``)."""
        self._authority = authority or FileCertificateAuthority(state_dir.resolve() / "ca")
        self._trust = CaTrust(self._authority)
        self._clamd_signatures = clamd_signatures
        self._allow_test_signatures = allow_test_signatures
        self._secrets = secrets
        self._buckets = buckets
        self._db = TenantDatabases(admin_conninfo)
        self._tenants_dir = state_dir.resolve() / "tenants"
        self._python = python
        self._port_range = port_range
        self._host = host
        self._ready_timeout_s = ready_timeout_s
        self._stop_grace_s = stop_grace_s
        self._command_timeout_s = command_timeout_s
        self._code_paths = [p.resolve() for p in code_paths]
        self._locks = TenantLocks()
        self._port_lock = threading.Lock()
        self._shared_account = shared_account
        self._needs = TenantNeeds(memory_bytes=tenant_memory_bytes)
        self._idle_stop_s = idle_stop_s
        self._clamd_info_lock = threading.Lock()
        self._clamd_info_cache: tuple[float, dict[str, str]] | None = None
        # the data-plane releases a tenant can run (issue 18): <state_dir>/releases/<version>
        self._releases = LocalReleases(state_dir.resolve() / "releases", python=python)

    @classmethod
    def from_settings(cls, settings: ControlPlaneSettings) -> LocalProvider:
        return cls(
            admin_conninfo=settings.effective_admin_database_url.get_secret_value(),
            state_dir=settings.state_dir,
            python=settings.data_plane_python,
            port_range=settings.port_range,
            ready_timeout_s=settings.data_plane_ready_timeout_s,
            stop_grace_s=settings.data_plane_stop_grace_s,
            clamd_signatures=settings.clamd_signatures,
            allow_test_signatures=settings.clamd_allow_test_signatures,
            secrets=SopsAgeSecretStore(settings.state_dir / "secrets"),
            buckets=buckets_from_settings(settings),
            shared_account=settings.local_shared_account,
            tenant_memory_bytes=settings.local_tenant_memory_bytes,
            idle_stop_s=settings.local_idle_stop_s,
        )

    # -- Provider port ---------------------------------------------------------------------
    def provision(self, tenant: Tenant, config: TenantConfig) -> str:
        """Create the tenant's database, folders and port; migrate; start; wait for ready."""
        self._pin_release(tenant)
        return self._ensure_running(tenant, config)

    def start(self, tenant: Tenant, config: TenantConfig) -> str:
        """Start the tenant's processes unless they are running and healthy."""
        self._pin_release(tenant)
        return self._ensure_running(tenant, config)

    def tls_fingerprint(self, tenant: Tenant) -> str | None:
        """The fingerprint of the certificate the tenant's gateway presents."""
        try:
            return tls.fingerprint(self.paths(tenant.slug).gateway.certificate.read_text(
                encoding="ascii"))
        except (OSError, ValueError):
            return None

    def is_healthy(self, tenant: Tenant) -> bool:
        paths = self.paths(tenant.slug)
        port = read_port(paths.port_file)
        return port is not None and self._healthy(paths, self._endpoint(port))

    def apply_secrets(self, tenant: Tenant, config: TenantConfig) -> str:
        """Stop the processes, then start them as a start does: the service role gets the
        SOPS ``db_password`` and the processes a conninfo with it; the gateway a newly
        issued certificate."""
        with self._lock(tenant.slug):
            paths = self.paths(tenant.slug)
            self._stop_processes(paths)
            paths.gateway.certificate.unlink(missing_ok=True)  # issued anew by the start
        return self._ensure_running(tenant, config)

    def stop(self, tenant: Tenant) -> list[str]:
        with self._lock(tenant.slug):
            return self._stop_processes(self.paths(tenant.slug))

    def install_vendor_key(
        self, tenant: Tenant, key_id: str, sha256: str, scopes: Sequence[str], label: str | None
    ) -> None:
        """Run ``python -m data_plane add-vendor-key`` as the tenant's ops role."""
        paths = self.paths(tenant.slug)
        port = read_port(paths.port_file)
        if port is None:
            raise DataPlaneError(f"tenant {tenant.slug!r} has no local data plane")
        with self._lock(tenant.slug):
            password = _new_password()
            with _database_step(f"could not prepare the ops role of {tenant.slug!r}"):
                self._db.ensure(tenant.slug)
                self._db.set_password(ops_role_name(tenant.slug), password)
            env = self.child_env(
                tenant.slug,
                TenantConfig.model_validate(tenant.config),
                port,
                self._db.conninfo(tenant.slug, ops_role_name(tenant.slug), password),
            )
            argv = ["add-vendor-key", "--key-id", key_id, "--sha256", sha256,
                    "--scopes", ",".join(scopes)]
            if label:
                argv += ["--label", label]
            self._run(argv, env=env, paths=paths, log_name="admin", error=DataPlaneError)

    @contextlib.contextmanager
    def control_channel(self, tenant: Tenant) -> Iterator[str]:
        """The data plane API's own Unix socket (``http+unix://``), which only the tenant's
        account and root reach: control calls never pass through the vendor-facing
        gateway, which answers 404 for ``/control/``."""
        if not tenant.endpoint:
            raise DataPlaneError(f"tenant {tenant.slug!r} has no data plane endpoint")
        yield unix_socket_url(self.paths(tenant.slug).api_socket)

    def check_capacity(self, slug: str) -> None:
        """Refuse (:class:`InsufficientCapacity`, 503) one more tenant this machine cannot
        host: PostgreSQL connection slots left for its pools, MemAvailable for its
        processes (:mod:`control_plane.domain.capacity` does the arithmetic)."""
        try:
            with self._db.admin() as conn:
                row = conn.execute(
                    b"SELECT current_setting('max_connections')::int, "
                    b"current_setting('superuser_reserved_connections')::int").fetchone()
        except psycopg.Error as exc:
            raise InsufficientCapacity(
                f"the tenants' PostgreSQL cannot be reached: {type(exc).__name__}") from None
        assert row is not None
        max_connections, reserved = (int(v) for v in row)  # type: ignore[call-overload]
        existing = sum(1 for folder in self._tenants_dir.glob("*/port")
                       if folder.parent.name != slug) if self._tenants_dir.is_dir() else 0
        host = HostMeasures(max_connections=max_connections, reserved_connections=reserved,
                            existing_tenants=existing,
                            memory_available_bytes=memory_available())
        reasons = shortfalls(host, self._needs)
        if reasons:
            raise InsufficientCapacity(
                f"this machine cannot host tenant {slug!r}: " + "; ".join(reasons))

    def deprovision(self, tenant: Tenant) -> None:
        """Stop the processes, drop the database and roles, delete the tenant's folder."""
        with self._lock(tenant.slug):
            paths = self.paths(tenant.slug)
            self._stop_processes(paths)
            account = None if self._shared_account else unix_accounts.lookup(tenant.slug)
            if account is not None:  # a parser child or a stray the pid files do not name
                processes.stop_owned_by(account.uid, grace_s=self._stop_grace_s)
            with _database_step(f"could not drop the database of {tenant.slug!r}"):
                self._db.drop(tenant.slug)
            if self._buckets is not None:
                with _object_store_step(f"could not remove the bucket of {tenant.slug!r}"):
                    self._buckets.remove_tenant(
                        bucket_name(tenant.slug),
                        self._tenant_secrets(tenant.slug).get("object_store_access_key", ""))
            if paths.run.parent != paths.root:  # it may live in the temporary folder
                shutil.rmtree(paths.run, ignore_errors=True)
            shutil.rmtree(paths.root, ignore_errors=True)
            if account is not None:
                unix_accounts.remove(tenant.slug)

    def revoke_vendor_key(self, tenant: Tenant, key_id: str) -> None:
        """Run ``python -m data_plane revoke-vendor-key`` as the tenant's ops role (works while
        the processes are stopped, e.g. for a SUSPENDED tenant)."""
        paths = self.paths(tenant.slug)
        port = read_port(paths.port_file)
        if port is None or not paths.root.is_dir():
            return  # no data plane (never provisioned, or gone): nothing can accept the key
        with self._lock(tenant.slug):
            password = _new_password()
            with _database_step(f"could not prepare the ops role of {tenant.slug!r}"):
                self._db.set_password(ops_role_name(tenant.slug), password)
            env = self.child_env(
                tenant.slug,
                TenantConfig.model_validate(tenant.config),
                port,
                self._db.conninfo(tenant.slug, ops_role_name(tenant.slug), password),
            )
            self._run(["revoke-vendor-key", "--key-id", key_id], env=env, paths=paths,
                      log_name="admin", error=DataPlaneError)

    def verify_deprovisioned(self, tenant: Tenant) -> dict[str, bool]:
        """Look for each resource :meth:`deprovision` destroys; True means verified gone."""
        slug = tenant.slug
        paths = self.paths(slug)
        with self._db.admin() as conn:
            database_gone = not _exists(
                conn, "SELECT 1 FROM pg_database WHERE datname = %s", role_name(slug))
            # every role of the tenant: fb_<t>, fbops_<t>, fbmig_<t>, ... (t is [a-z0-9_])
            roles_gone = not _exists(
                conn, "SELECT 1 FROM pg_roles WHERE rolname ~ ('^fb[a-z]*_' || %s || '$')",
                slug.replace("-", "_"))
        port = urlsplit(tenant.endpoint).port if tenant.endpoint else None
        try:
            account_gone = unix_accounts.lookup(slug) is None
        except ProvisioningFailed:  # an account of that name, not the tenant's
            account_gone = False
        buckets = {} if self._buckets is None else {
            "bucket": not self._buckets.bucket_exists(bucket_name(slug)),
            "object_store_key": bucket_name(slug) not in self._buckets.identity_names(),
        }
        return {
            "processes": not any(processes.running_pid(paths.pid_file(name), MARKER)
                                 for name in PROCESSES),
            "gateway": processes.running_pid(paths.pid_file(GATEWAY),
                                             str(paths.gateway.config)) is None,
            "scanner": processes.running_pid(paths.pid_file(CLAMD),
                                             str(paths.clamd_config)) is None,
            "endpoint": port is None or port_free(self._host, port),
            "database": database_gone,
            "roles": roles_gone,
            "object_root": not paths.objects.exists(),
            "vector_store": not paths.qdrant.exists(),
            "audit_signing_key": not paths.audit_key.exists(),
            "tenant_dir": not paths.root.exists(),
            "unix_account": account_gone,
            **buckets,
        }

    def job_output(self, tenant: Tenant, since: datetime, until: datetime | None,
                   limit: int) -> JobOutput:
        """Nothing: the one tool a local job runs, ``data_plane migrate``, writes a single
        unstamped result line to ``logs/migrate.log``, which cannot be placed in a job's
        window; the processes' own output is in ``logs/`` and failures are in the step's
        message."""
        return JobOutput()

    # -- health polling (providers.base.HealthProbe) ---------------------------------------
    def probe_health(self, tenant: Tenant) -> HealthReport:
        """One check of what :meth:`start` keeps running (the check it skips a start on):
        ready, else the first thing found wrong — a process gone, the API's socket missing,
        or what ``/readyz`` answered."""
        paths = self.paths(tenant.slug)
        port = read_port(paths.port_file)
        if port is None:
            return HealthReport(False, "no port recorded: the data plane was never started")
        endpoint = self._endpoint(port)
        if self._healthy(paths, endpoint):
            return HealthReport(True, "ready")
        for name, marker in process_markers(paths).items():
            if processes.running_pid(paths.pid_file(name), marker) is None:
                return HealthReport(False, f"its {name} process is not running")
        if not paths.api_socket.exists():
            return HealthReport(False, "the API's socket is missing")
        try:
            answer = httpx.get(f"{endpoint}/readyz", timeout=5, verify=self._trust.context())
        except httpx.HTTPError as exc:
            return HealthReport(False, f"/readyz did not answer ({type(exc).__name__})")
        return HealthReport(False, f"/readyz answered {answer.status_code}")

    def repair(self, tenant: Tenant, config: TenantConfig) -> str:
        """Restart a provisioned tenant's processes through :meth:`start` (under the
        tenant's lock: the missing ones and whatever depends on them, each checked as a
        start checks it); refused for a tenant whose folder or port is gone, so a repair
        racing a deprovisioning never makes a tenant again."""
        paths = self.paths(tenant.slug)
        if not paths.root.is_dir() or read_port(paths.port_file) is None:
            raise ProvisioningFailed(
                f"tenant {tenant.slug!r} has no local data plane to restart (deprovisioned?)")
        return self._ensure_running(tenant, config)

    # -- releases and updates (issue 18; the ReleaseUpdates port) ---------------------------
    # A tenant's release is pinned in ``<tenant>/release`` (its version; absent: the default,
    # the interpreter's installed package); every data-plane process of the tenant starts
    # with that release's folder first on its PYTHONPATH. ``<tenant>/migrations.json`` keeps
    # the name of every migration script its database has had, for the schema check.

    def default_version(self) -> str:
        return self._releases.default_version()

    def releases(self) -> LocalReleases:
        return self._releases

    def check_release(self, tenant: Tenant, version: str) -> None:
        """The release exists here and knows every migration the tenant's database had."""
        self._releases.get(version)  # ReleaseNotFound (404)
        plan = plan_update(tenant.slug, tenant.version or self.default_version(), version)
        check_schema(plan, self._applied_migrations(tenant, plan),
                     self._releases.migrations(plan.to_version))

    def update(self, tenant: Tenant, config: TenantConfig, version: str) -> str:
        """Stop, start on release ``version`` (migrate first), wait for ready and for
        ``/healthz`` to report ``version``; else roll back to ``tenant.version`` (see the
        port)."""
        plan = plan_update(tenant.slug, tenant.version or self.default_version(), version)
        self._releases.get(plan.to_version)
        try:
            endpoint = self._run_release(tenant, config, plan.to_version)
        except ProvisioningFailed as exc:
            reason = exc.message
            log.warning("tenant %s: update to %s failed (%s); rolling back to %s",
                        tenant.slug, plan.to_version, reason.splitlines()[0],
                        plan.from_version)
            self._record_migrations(tenant, plan)  # the new release may have migrated
            try:
                endpoint = self._run_release(tenant, config, plan.from_version)
            except ProvisioningFailed as again:
                raise ProvisioningFailed(
                    f"update to {plan.to_version} failed ({reason}); the rollback to "
                    f"{plan.from_version} failed too: {again.message}") from again
            raise UpdateRolledBack(reason, endpoint=endpoint) from exc
        self._record_migrations(tenant, plan)
        return endpoint

    def _run_release(self, tenant: Tenant, config: TenantConfig, version: str) -> str:
        """(Re)start the tenant on ``version``; its endpoint once ready and reporting it."""
        with self._lock(tenant.slug):
            self._write_pin(tenant.slug, version)
            self._stop_processes(self.paths(tenant.slug))
        endpoint = self._ensure_running(tenant, config)
        running = reported_version(endpoint, verify=self._trust.context())
        if running != version:
            raise ProvisioningFailed(f"the data plane reports version {running}, not {version}")
        return endpoint

    def _pin_release(self, tenant: Tenant) -> None:
        """Pin the release the tenant record names (a start after a crash mid-update runs
        the recorded one); a tenant without a version keeps what it has."""
        if tenant.version is not None:
            self._releases.get(tenant.version)  # ReleaseNotFound: refuse, don't guess
            self._write_pin(tenant.slug, tenant.version)

    def _write_pin(self, slug: str, version: str) -> None:
        pin = self.paths(slug).root / "release"
        if self._releases.get(version).path is None:
            pin.unlink(missing_ok=True)
        elif pin.parent.is_dir():
            pin.write_text(f"{version}\n", encoding="ascii")

    def _release_folder(self, slug: str) -> Path | None:
        """The folder of the release the tenant is pinned to (None: the default)."""
        try:
            version = (self.paths(slug).root / "release").read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        return self._releases.get(version).path

    def _applied_migrations(self, tenant: Tenant, plan: UpdatePlan) -> set[str]:
        record = self.paths(tenant.slug).root / "migrations.json"
        try:
            recorded = set(json.loads(record.read_text(encoding="utf-8")))
        except (FileNotFoundError, ValueError):
            recorded = set()
        return recorded | set(self._releases.migrations(plan.from_version))

    def _record_migrations(self, tenant: Tenant, plan: UpdatePlan) -> None:
        applied = self._applied_migrations(tenant, plan) | set(
            self._releases.migrations(plan.to_version))
        (self.paths(tenant.slug).root / "migrations.json").write_text(
            json.dumps(sorted(applied)) + "\n", encoding="utf-8")

    # -- internals -------------------------------------------------------------------------
    def paths(self, slug: str) -> TenantPaths:
        return TenantPaths(self._tenants_dir / slug)

    def _endpoint(self, port: int) -> str:
        return f"https://{listen_address(self._host, port)}"

    def _lock(self, slug: str) -> contextlib.AbstractContextManager[None]:
        return self._locks.of(slug)

    def _ensure_running(self, tenant: Tenant, config: TenantConfig) -> str:
        slug = tenant.slug
        with self._lock(slug):
            paths = self.paths(slug)
            account = self._ensure_account(slug, paths)
            paths.make(account)
            with _database_step(f"could not prepare the database of {slug!r}"):
                self._db.ensure(slug)
            port = read_port(paths.port_file)
            if port is not None and self._healthy(paths, self._endpoint(port)):
                return self._endpoint(port)
            self._stop_processes(paths)
            port = self._claim_port(paths)
            endpoint = self._endpoint(port)
            self._start_clamd(paths, config)
            try:
                secrets = self._start_secrets(slug)  # decrypted once for this start
                self._ensure_bucket(slug, secrets)
                write_new_signing_key(paths.audit_key)
                if account is not None:  # the account reads it, cannot replace it
                    own_file(paths.audit_key, os.geteuid(), account.gid, 0o440)
                password = secrets.get("db_password") or _new_password()
                owner_password = _new_password()
                with _database_step(f"could not set the database password of {slug!r}"):
                    self._db.set_password(role_name(slug), password)
                    self._db.set_password(migration_role_name(slug), owner_password)
                conninfo = self._db.conninfo(slug, role_name(slug), password)
                env = self.child_env(slug, config, port, conninfo, secrets=secrets)
                migrate_env = self.child_env(
                    slug, config, port,
                    self._db.conninfo(slug, migration_role_name(slug), owner_password),
                    secrets=secrets)
                migrate_env["FROSTBYTE_DP_SERVICE_ROLE"] = role_name(slug)
                self._run(["migrate"], env=migrate_env, paths=paths, log_name="migrate",
                          error=ProvisioningFailed)
                pids = {
                    processes.spawn_detached(
                        [str(self._python), "-m", "data_plane", _COMMANDS[name]],
                        env=env | process_env(name, self._idle_stop_s),
                        cwd=paths.work,
                        log_file=paths.log_file(name),
                        pid_file=paths.pid_file(name),
                        as_user=self._as_user(slug),
                        relay=log_relay(slug, f"data_plane.{name}", level="warning"),
                    ): MARKER
                    for name in PROCESSES
                }
                pids[self._start_gateway(paths, slug, port)] = str(paths.gateway.config)
                log.info("tenant %s: data plane starting on %s (pids %s)", slug, endpoint,
                         sorted(pids))
                why = processes.wait_until_ready(
                    f"{endpoint}/readyz", timeout_s=self._ready_timeout_s, pids=pids,
                    verify=self._trust.context())
                if why is not None:
                    raise ProvisioningFailed(
                        f"data plane of {slug!r} did not become ready: {why}. "
                        f"End of {paths.log_file('api')}:\n{processes.tail(paths.log_file('api'))}"
                    )
                return endpoint
            except BaseException:
                # nothing half-started stays behind: clamd and whatever else began
                self._stop_processes(paths)
                raise

    def _ensure_account(self, slug: str, paths: TenantPaths) -> TenantAccount | None:
        """The tenant's Unix account, made now if missing (None: shared-account mode).
        Refused when we are not root, unless the shared account was asked for."""
        if self._shared_account:
            return None
        if os.geteuid() != 0:
            raise ProvisioningFailed(
                f"the control plane runs as {_user_name(os.geteuid())!r}, not root: it cannot "
                "make a Unix account per tenant, so local tenants would not be isolated from "
                "each other. Run the control plane as root, or set "
                "FROSTBYTE_CP_LOCAL_SHARED_ACCOUNT=true (no isolation, for development)")
        self._open_ancestors()
        account = unix_accounts.ensure(slug, paths.work)
        self._check_reachable(account)
        return account

    def _open_ancestors(self) -> None:
        """The state and tenants folders 0711 (traversable, never listable: their other
        contents stay root-only), every folder above them at least traversable."""
        state = self._tenants_dir.parent
        self._tenants_dir.mkdir(parents=True, exist_ok=True, mode=0o711)
        for folder in (state, self._tenants_dir):
            os.chmod(folder, 0o711)  # noqa: PTH101, S103 - traversable, not listable
        for folder in state.parents:
            mode = folder.stat().st_mode
            if not mode & 0o001:
                log.warning("making %s traversable by tenant accounts (o+x)", folder)
                os.chmod(folder, (mode & 0o7777) | 0o001)  # noqa: PTH101

    def _check_reachable(self, account: TenantAccount) -> None:
        """The account can run the data plane's interpreter and read its code paths."""
        probe = ("import os, sys; sys.exit(0 if all(os.access(p, os.R_OK | os.X_OK) "
                 "for p in sys.argv[1:]) else 3)")
        try:
            result = subprocess.run(
                [str(self._python), "-c", probe, *(str(p) for p in self._code_paths)],
                env=self._base_env() | {"HOME": "/"}, cwd="/", stdin=subprocess.DEVNULL,
                capture_output=True, timeout=60, check=False,
                **processes.user_kwargs((account.uid, account.gid)))
        except OSError as exc:
            result = None
            why = str(exc)
        if result is None or result.returncode != 0:
            why = why if result is None else result.stderr.decode(errors="replace")[-300:]
            raise ProvisioningFailed(
                f"the tenant's Unix account {account.name!r} cannot run {self._python} or "
                f"read the data plane's code ({why.strip() or 'permission denied'}): "
                "every folder above them must be traversable by other users (o+x; a "
                "Python under /root is not), or set FROSTBYTE_CP_DATA_PLANE_PYTHON to one "
                "that is")

    def _as_user(self, slug: str) -> tuple[int, int] | None:
        """The (uid, gid) the tenant's processes run as; None: as we do."""
        if self._shared_account:
            return None
        account = unix_accounts.lookup(slug)
        if account is None:
            raise ProvisioningFailed(f"tenant {slug!r} has no Unix account; start it to "
                                     "make one")
        return account.uid, account.gid

    def _gateway_user(self, slug: str) -> str | None:
        """Whom nginx's workers run as: the tenant's account (its master stays root to read
        the root-only key); in shared-account mode, as root, our own user."""
        if not self._shared_account:
            return unix_accounts.account_name(slug)
        return _user_name(os.geteuid()) if os.geteuid() == 0 else None

    def _tenant_secrets(self, slug: str) -> dict[str, str]:
        """The tenant's SOPS secrets, decrypted in memory ({} for a tenant without any)."""
        if self._secrets is not None and self._secrets.exists(slug):
            return self._secrets.get(slug)
        return {}

    def _start_secrets(self, slug: str) -> dict[str, str]:
        """What a start needs of the tenant's secrets; with an S3 server, its data keys too
        (made now for a tenant from before objects were encrypted)."""
        if self._buckets is not None and self._secrets is not None and \
                self._secrets.exists(slug):
            return with_data_keys(self._secrets, slug)
        return self._tenant_secrets(slug)

    def _ensure_bucket(self, slug: str, secrets: Mapping[str, str]) -> None:
        """The tenant's bucket and its key on the S3 server."""
        if self._buckets is None:
            return
        if not (secrets.get("object_store_access_key") and secrets.get("object_store_secret_key")):
            raise ProvisioningFailed(
                f"tenant {slug!r} has no object-store credentials in its SOPS secrets; "
                "rotate its secrets (`frostbyte tenants rotate-secrets`) to issue them")
        with _object_store_step(f"could not prepare the bucket of {slug!r}"):
            self._buckets.ensure_tenant(bucket_name(slug), secrets["object_store_access_key"],
                                        secrets["object_store_secret_key"])

    def _object_store_env(self, slug: str, secrets: Mapping[str, str]) -> dict[str, str]:
        """Where the data plane keeps its objects and the keys that encrypt them."""
        env = {DATA_KEYS_ENV: secrets[DATA_KEYS]} if secrets.get(DATA_KEYS) else {}
        if self._buckets is None:
            return {**env, "FROSTBYTE_DP_OBJECT_STORE_ROOT": str(self.paths(slug).objects)}
        return {**env,
                "FROSTBYTE_DP_S3_ENDPOINT": self._buckets.endpoint,
                "FROSTBYTE_DP_S3_BUCKET": bucket_name(slug),
                "FROSTBYTE_DP_S3_ACCESS_KEY": secrets.get("object_store_access_key", ""),
                "FROSTBYTE_DP_S3_SECRET_KEY": secrets.get("object_store_secret_key", "")}

    def _healthy(self, paths: TenantPaths, endpoint: str) -> bool:
        running = all(
            processes.running_pid(paths.pid_file(name), MARKER) is not None
            for name in PROCESSES
        ) and all(processes.running_pid(paths.pid_file(name), marker) is not None
                  for name, marker in ((CLAMD, str(paths.clamd_config)),
                                       (GATEWAY, str(paths.gateway.config))))
        # the data plane's /readyz also fails while its scanner does not answer
        return running and processes.http_ok(f"{endpoint}/readyz", verify=self._trust.context())

    def _stop_processes(self, paths: TenantPaths) -> list[str]:
        """Stop the tenant's API, worker and clamd — only the pids in its pid files whose
        command line is still ours (a recycled pid is never signalled)."""
        stopped = []
        for name, marker in process_markers(paths).items():
            pid = processes.stop_pid_file(
                paths.pid_file(name), marker, grace_s=self._stop_grace_s
            )
            if pid is not None:
                stopped.append(f"{paths.root.name} {name} (pid {pid})")
        return stopped

    def _start_clamd(self, paths: TenantPaths, config: TenantConfig) -> None:
        """Start the tenant's clamd unless it runs; wait until it answers PING."""
        marker = str(paths.clamd_config)
        if processes.running_pid(paths.pid_file(CLAMD), marker) is not None and \
                clamd_ping(paths.clamd_socket):
            return
        processes.stop_pid_file(paths.pid_file(CLAMD), marker, grace_s=self._stop_grace_s)
        # a clamd whose pid was never recorded (the control plane killed while starting it)
        # would hold the log's lock and the socket: the new one would not start
        strays = processes.stop_strays(f"--config-file={marker}", grace_s=self._stop_grace_s)
        if strays:
            log.warning("tenant %s: stopped clamd(s) %s left without a pid file",
                        paths.root.name, strays)
        binary, signatures = self._clamd_info(paths)
        if binary is None:
            raise ProvisioningFailed(
                "clamd is not installed (Debian package clamav-daemon): without a malware "
                "scanner the data plane would hold every file as SCAN_PENDING")
        # read in place, not copied: freshclam's update (or a bundle's) reaches every
        # tenant's clamd by its SelfCheck or a RELOAD, and an official database's few
        # hundred MB are not copied per tenant
        database = (self._clamd_signatures or signatures).resolve()
        for folder in (paths.clamd, paths.clamd / "tmp"):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        max_stream = max(600 * 1024 * 1024, config.intake.max_file_bytes + (1 << 20))
        paths.clamd_config.write_text(
            self._tool_output(clamd_config_args(paths, database, max_stream), paths),
            encoding="utf-8")
        paths.clamd_socket.unlink(missing_ok=True)
        pid = processes.spawn_detached(
            [binary, f"--config-file={paths.clamd_config}"], env=self._clamd_env(),
            cwd=paths.clamd, log_file=paths.log_file(CLAMD),
            pid_file=paths.pid_file(CLAMD), as_user=self._as_user(paths.root.name),
            relay=log_relay(paths.root.name, CLAMD))
        deadline = time.monotonic() + self._ready_timeout_s
        while not clamd_ping(paths.clamd_socket):
            if not processes.is_running(pid, marker) or time.monotonic() > deadline:
                processes.stop_pid_file(paths.pid_file(CLAMD), marker, grace_s=1)
                raise ProvisioningFailed(
                    f"clamd of {paths.root.name!r} did not start. End of "
                    f"{paths.log_file(CLAMD)}:\n{processes.tail(paths.log_file(CLAMD))}")
            time.sleep(0.1)
        log.info("tenant %s: clamd ready on %s (pid %d)", paths.root.name,
                 paths.clamd_socket, pid)

    def _ensure_certificate(self, paths: TenantPaths, slug: str) -> None:
        """The gateway's key and certificate for this host, issued by the CA unless the
        present one serves (same CA, same host, not near its end)."""
        files = paths.gateway
        ca_pem = self._authority.certificate_pem()
        try:
            present = files.certificate.read_text(encoding="ascii")
            why = tls.needs_renewal(present, [self._host], ca_pem) \
                if files.key.exists() else "its key is missing"
        except (OSError, ValueError):
            why = "there is none"
        if why is None:
            return
        issued = self._authority.issue([self._host], common_name=f"{slug} data plane")
        write_private(files.key, issued.key_pem.encode("ascii"))
        write_private(files.certificate, (issued.cert_pem + ca_pem).encode("ascii"))
        log.info("tenant %s: gateway certificate %s issued (%s)", slug, issued.fingerprint,
                 why)

    def _start_gateway(self, paths: TenantPaths, slug: str, port: int) -> int:
        """Start the tenant's nginx: HTTPS on its loopback port, to the API's socket."""
        files = paths.gateway
        self._ensure_certificate(paths, slug)
        # nginx's master makes (and, as root, chowns) its temporary folders anew: what a
        # worker left there is not walked into (rmtree follows no link)
        shutil.rmtree(files.temp, ignore_errors=True)
        files.temp.mkdir(mode=0o700)
        if (as_user := self._as_user(slug)) is not None:
            own_folder(files.temp, os.geteuid(), as_user[1], 0o710)
        # nginx's error log and its access log (JSON, escape=json) go to its standard
        # error, through the relay into logs/gateway.log
        files.config.write_text(render_config(
            files, slug=slug, host=self._host, port=port, socket=paths.api_socket,
            error_log="stderr", user=self._gateway_user(slug)), encoding="utf-8")
        return processes.spawn_detached(
            nginx_argv(nginx_binary(), files, "stderr"), env=self._clamd_env(),
            cwd=files.root, log_file=paths.log_file(GATEWAY),
            pid_file=paths.pid_file(GATEWAY), relay=log_relay(slug, "nginx"))

    def _clamd_info(self, paths: TenantPaths) -> tuple[str | None, Path]:
        """This host's clamd binary (None: not installed) and the data plane's shipped
        signatures, from ``python -m data_plane clamd-info``. Asked once a minute at most:
        the answer describes the host, not the tenant, and tenants starting together would
        each pay an interpreter's start for it."""
        with self._clamd_info_lock:
            cached = self._clamd_info_cache
            if cached is None or time.monotonic() - cached[0] > CLAMD_INFO_TTL_S:
                cached = (time.monotonic(), json.loads(self._tool_output(["clamd-info"], paths)))
                self._clamd_info_cache = cached
        info = cached[1]
        binary = info.get("binary")
        return (str(binary) if binary else None), Path(info["signatures"])

    def _tool_output(self, argv: Sequence[str], paths: TenantPaths) -> str:
        """The output of a ``python -m data_plane`` tool command that needs no tenant
        settings (``clamd-info``, ``clamd-config``): run with the allowlisted environment and
        the data plane's code paths, nothing of the tenant's."""
        env = self._base_env()
        try:
            result = subprocess.run(
                [str(self._python), "-m", "data_plane", *argv], env=env, cwd=paths.root,
                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=self._command_timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ProvisioningFailed(f"`data_plane {argv[0]}` could not run: {exc}") from None
        if result.returncode != 0:
            raise ProvisioningFailed(
                f"`data_plane {argv[0]}` exited {result.returncode}: "
                f"{result.stderr.strip()[-2000:]}")
        return result.stdout

    def _base_env(self, slug: str | None = None) -> dict[str, str]:
        """What every ``python -m data_plane`` child gets: an allowlist of this process's
        environment, the offline switches and the data plane's code paths (if any); for a
        tenant (``slug``) pinned to a built release, that release's folder first."""
        env = {k: v for k, v in os.environ.items() if k in _INHERITED_ENV or k.startswith("LC_")}
        env.update(OFFLINE_ENV)
        paths = [*self._code_paths]
        if slug is not None and (release := self._release_folder(slug)) is not None:
            paths.insert(0, release)
        if paths:
            env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
        return env

    @staticmethod
    def _clamd_env() -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TZ", "TMPDIR")}

    def _claim_port(self, paths: TenantPaths) -> int:
        with self._port_lock:
            return claim_port(paths, self._host, self._port_range)

    def child_env(
        self, slug: str, config: TenantConfig, port: int, database_url: str, *,
        secrets: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The data plane's whole environment: an allowlist of ours plus FROSTBYTE_DP_*.
        ``secrets``: the tenant's, when the caller has them decrypted already."""
        env = self._base_env(slug)
        paths = self.paths(slug)
        env.update(
            PYTHONUNBUFFERED="1",
            FROSTBYTE_DP_TENANT=slug,
            FROSTBYTE_DP_DATABASE_URL=database_url,
            FROSTBYTE_DP_QDRANT_PATH=str(paths.qdrant),
            FROSTBYTE_DP_SOCKET=str(paths.api_socket),
            FROSTBYTE_DP_TENANT_CONFIG=config.model_dump_json(),
            FROSTBYTE_DP_WORK_DIR=str(paths.work),
            FROSTBYTE_DP_AUDIT_SIGNING_KEY_FILE=str(paths.audit_key),
            FROSTBYTE_DP_CLAMD_SOCKET=str(paths.clamd_socket),
        )
        if paths.audit_chain_file.exists():  # a tenant restored from a backup
            env["FROSTBYTE_DP_AUDIT_CHAIN"] = paths.audit_chain_file.read_text(
                encoding="ascii").strip()
        if not self._shared_account:  # nothing of ours: its home and scratch are its own
            env.update(HOME=str(paths.work), TMPDIR=str(paths.work))
        if self._allow_test_signatures:
            env["FROSTBYTE_DP_CLAMD_ALLOW_TEST_SIGNATURES"] = "true"
        values = self._tenant_secrets(slug) if secrets is None else secrets
        env.update(self._object_store_env(slug, values))
        if values.get(EMBEDDING_API_KEY):  # an online tenant's key, set by an admin
            env["FROSTBYTE_DP_ONLINE_EMBEDDING_API_KEY"] = values[EMBEDDING_API_KEY]
        return env

    def _run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        paths: TenantPaths,
        log_name: str,
        error: type[ProvisioningFailed],
    ) -> None:
        log_file = paths.log_file(log_name)
        with log_file.open("ab") as out:
            # its log lines (JSON) and its result line (stdout), each kept as a JSON line
            try:
                result = subprocess.run(
                    [str(self._python), "-m", "data_plane", *argv],
                    env=dict(env),
                    cwd=paths.work,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    timeout=self._command_timeout_s,
                    check=False,
                    **processes.user_kwargs(self._as_user(paths.root.name)),
                )
            except subprocess.TimeoutExpired as exc:
                _keep_output(out, exc.output, argv[0], paths.root.name)
                raise error(
                    f"`data_plane {argv[0]}` for {paths.root.name!r} timed out"
                ) from None
            _keep_output(out, result.stdout, argv[0], paths.root.name)
        if result.returncode != 0:
            raise error(
                f"`data_plane {argv[0]}` for {paths.root.name!r} exited {result.returncode}. "
                f"End of {log_file}:\n{processes.tail(log_file, max_bytes=2000)}"
            )


def _keep_output(out: BinaryIO, output: bytes | None, command: str, slug: str) -> None:
    """A one-shot command's output appended to its log, every line a JSON log line."""
    for line in (output or b"").splitlines():
        if line.strip():
            out.write(logs.wrap_line(line, logger=f"data_plane.{command}",
                                     context={"tenant": slug}).encode("utf-8") + b"\n")


@contextlib.contextmanager
def _database_step(what: str) -> Iterator[None]:
    """Turn a database error into a ProvisioningFailed whose message is safe to show."""
    try:
        yield
    except psycopg.Error as exc:
        detail = exc.diag.message_primary if exc.diag else None
        raise ProvisioningFailed(f"{what}: {type(exc).__name__}: {detail or 'no detail'}"
                                 ) from exc


@contextlib.contextmanager
def _object_store_step(what: str) -> Iterator[None]:
    """Turn an S3 server's refusal into a ProvisioningFailed that names what failed."""
    try:
        yield
    except ProvisioningFailed:
        raise
    except Exception as exc:  # minio's S3Error, urllib3's connection errors, OSError
        raise ProvisioningFailed(f"{what}: {type(exc).__name__}: {exc}") from exc


def buckets_from_settings(settings: ControlPlaneSettings) -> TenantBuckets | None:
    """The stack's S3 server when one is configured (``frostbyte local up`` starts one)."""
    if settings.s3_endpoint is None:
        return None
    from control_plane.adapters.seaweedfs import AdminCredentials, SeaweedAdmin

    if not (settings.s3_master and settings.s3_admin_access_key
            and settings.s3_admin_secret_key):
        raise ValueError("FROSTBYTE_CP_S3_ENDPOINT needs FROSTBYTE_CP_S3_MASTER, "
                         "FROSTBYTE_CP_S3_ADMIN_ACCESS_KEY and FROSTBYTE_CP_S3_ADMIN_SECRET_KEY")
    return SeaweedAdmin(settings.s3_endpoint, settings.s3_master, AdminCredentials(
        settings.s3_admin_access_key, settings.s3_admin_secret_key.get_secret_value()))


def memory_available() -> int:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes."""
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise InsufficientCapacity("/proc/meminfo has no MemAvailable line")


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def read_port(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


class TenantLocks:
    """One lock per tenant: a provider's operations on one tenant never overlap."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @contextlib.contextmanager
    def of(self, slug: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(slug, threading.Lock())
        with lock:
            yield


def claim_port(paths: TenantPaths, host: str, port_range: range) -> int:
    """Keep the tenant's port if it is free, else take the first free one of the range that
    no other tenant of the state folder holds (whatever its engine). The caller serialises."""
    current = read_port(paths.port_file)
    if current is not None and port_free(host, current):
        return current
    taken = {
        port
        for other in paths.root.parent.glob("*/port")
        if other != paths.port_file and (port := read_port(other)) is not None
    }
    for port in port_range:
        if port not in taken and port_free(host, port):
            paths.port_file.write_text(f"{port}\n", encoding="ascii")
            return port
    raise ProvisioningFailed(f"no free port left in {port_range.start}-{port_range.stop - 1}")


def port_free(host: str, port: int) -> bool:
    """True if nothing listens on ``host:port`` (we could bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True
