"""A project-owned PostgreSQL 15 cluster, reachable only through a unix socket.

Used by ``frostbyte local up`` (the dev stack) and by the test suite (a throwaway cluster).
PostgreSQL refuses to run as root, so when we are root every server command runs as the
``postgres`` OS user (``runuser -u postgres --``) and the cluster's folders belong to it.

Authentication: the ``postgres`` superuser is trusted on the socket (a dev cluster; the socket
folder is the boundary); every other role — tenant roles — must log in with its SCRAM
password, so tenant isolation also holds inside the dev cluster.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from psycopg.conninfo import make_conninfo

from control_plane.errors import LocalRuntimeError

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "postgres"
_SOCKET_NAME_LEN = len("/.s.PGSQL.65535.lock")
MAX_SOCKET_DIR_LEN = 100 - _SOCKET_NAME_LEN

_HBA = """\
# Written by frostbyte: socket only, no TCP at all (listen_addresses = '').
local   all   postgres                 trust
local   all   all                      scram-sha-256
"""


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _as_root() -> bool:
    return os.geteuid() == 0


def os_user_can_traverse(path: Path, user: str = SUPERUSER) -> bool:
    """True if ``user`` can reach ``path`` (every ancestor searchable)."""
    if not _as_root():
        return True
    probe = subprocess.run(
        ["runuser", "-u", user, "--", "test", "-x", str(path)],
        check=False, capture_output=True,
    )
    return probe.returncode == 0


def _chown_to_postgres(*paths: Path) -> None:
    if not _as_root():
        return
    entry = pwd.getpwnam(SUPERUSER)
    for path in paths:
        os.chown(path, entry.pw_uid, entry.pw_gid)


@dataclass
class PgCluster:
    """One cluster: its data folder, socket folder and port. ``settings`` are extra
    ``postgresql.conf`` lines (e.g. ``fsync = off`` for a test cluster)."""

    root: Path
    socket_dir: Path
    port: int
    settings: Mapping[str, str] = field(default_factory=dict)
    pg_bin: Path = PG_BIN

    @classmethod
    def for_state_dir(
        cls,
        state_dir: Path,
        *,
        port: int,
        settings: Mapping[str, str] | None = None,
        notes: list[str] | None = None,
    ) -> PgCluster:
        """The cluster at ``<state_dir>/pg``, or under ``/var/lib/frostbyte`` when the
        ``postgres`` user cannot reach ``state_dir``; socket inside it when the path is short
        enough, else ``/tmp/fb-<hash>``. Fallbacks are explained in ``notes``."""
        state_dir = state_dir.resolve()
        root = state_dir / "pg"
        state_dir.mkdir(parents=True, exist_ok=True)
        if not os_user_can_traverse(state_dir):
            root = Path("/var/lib/frostbyte") / _short_hash(str(state_dir)) / "pg"
            if notes is not None:
                notes.append(
                    f"the postgres user cannot reach {state_dir}; the cluster lives in {root}"
                )
        socket_dir = root / "run"
        if len(str(socket_dir)) > MAX_SOCKET_DIR_LEN:
            socket_dir = Path("/tmp") / f"fb-{_short_hash(str(root))}"  # noqa: S108
            if notes is not None:
                notes.append(f"the socket path would be too long; socket in {socket_dir}")
        return cls(root=root, socket_dir=socket_dir, port=port, settings=dict(settings or {}))

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "log" / "postgres.log"

    def describe(self) -> str:
        return f"project cluster at {self.socket_dir} port {self.port}"

    def conninfo(self, dbname: str = "postgres", user: str = SUPERUSER) -> str:
        return make_conninfo(
            "", host=str(self.socket_dir), port=str(self.port), user=user, dbname=dbname
        )

    # -- commands --------------------------------------------------------------------------
    def _run(
        self, argv: Sequence[str], *, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", SUPERUSER, "--"] if _as_root() else []
        return subprocess.run(
            [*prefix, *argv], check=False, capture_output=True, text=True, timeout=timeout,
            cwd="/",
        )

    def _checked(self, argv: Sequence[str], what: str) -> None:
        result = self._run(argv)
        if result.returncode != 0:
            output = (result.stderr or result.stdout).strip()[-2000:]
            raise LocalRuntimeError(f"{what} failed (exit {result.returncode}): {output}")

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        """Create the cluster if it does not exist (idempotent)."""
        for folder in (self.root, self.root / "log", self.socket_dir):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            _chown_to_postgres(folder)
        if self.initialised():
            return
        self._checked(
            [str(self.pg_bin / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
             "--auth-local=trust", "--auth-host=reject", "--encoding=UTF8", "--locale=C",
             "--no-instructions"],
            "initdb",
        )
        lines = {
            "listen_addresses": "''",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "unix_socket_permissions": "0770",
            "password_encryption": "'scram-sha-256'",
            **self.settings,
        }
        conf = "\n# frostbyte\n" + "".join(f"{k} = {v}\n" for k, v in lines.items())
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as fh:
            fh.write(conf)
        (self.data_dir / "pg_hba.conf").write_text(_HBA, encoding="utf-8")

    def is_running(self) -> bool:
        if not self.initialised():
            return False
        return self._run([str(self.pg_bin / "pg_ctl"), "status", "-D", str(self.data_dir)]
                         ).returncode == 0

    def start(self) -> None:
        """Start the server and wait until it accepts connections (idempotent)."""
        if self.is_running():
            return
        # The socket folder may live in /tmp, which can be cleaned between runs.
        self.socket_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        _chown_to_postgres(self.socket_dir)
        self._checked(
            [str(self.pg_bin / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.data_dir),
             "-l", str(self.log_file)],
            f"starting PostgreSQL (log: {self.log_file})",
        )

    def stop(self) -> bool:
        """Fast shutdown; True if it was running."""
        if not self.is_running():
            return False
        self._checked(
            [str(self.pg_bin / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.data_dir)],
            "stopping PostgreSQL",
        )
        return True

    def postmaster_pid(self) -> int | None:
        try:
            first = (self.data_dir / "postmaster.pid").read_text(encoding="ascii").split("\n")[0]
        except (OSError, UnicodeDecodeError):
            return None
        return int(first) if first.strip().isdigit() else None

    def destroy(self) -> None:
        """Stop and delete the cluster (test clusters)."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    def create_database(self, name: str) -> None:
        """Create database ``name`` if it does not exist."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.conninfo(), autocommit=True, connect_timeout=10) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                return
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
