"""A project-owned PostgreSQL 15 cluster, reachable only through a unix socket.

Used by ``frostbyte local up`` (the dev stack) and by the test suite (a throwaway cluster).
PostgreSQL refuses to run as root, so when we are root every server command runs as the
``postgres`` OS user (``runuser -u postgres --``) and the cluster's folders belong to it.

Authentication: ``scram-sha-256`` for every role, the ``postgres`` superuser included: no
``trust`` line, so a local tenant's account (which can reach the socket: folder 0711, socket
0777, SPEC §4) gets nothing without a password. The superuser's password is generated at
``initdb`` and kept in ``<root>/superuser.password`` (0600, our user only);
:meth:`PgCluster.conninfo` carries it (a secret: never logged). A cluster made before this
(``local all postgres trust``) is given a password and a new ``pg_hba.conf`` at its next
:meth:`PgCluster.start`. CONNECT on the cluster's own databases (``postgres``, ``template1``,
those :meth:`PgCluster.create_database` makes) is revoked from PUBLIC: a tenant role reaches
only the database granted to it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import secrets
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
# Written by frostbyte: socket only, no TCP at all (listen_addresses = ''); a password
# (SCRAM) for every role, the superuser included.
local   all   all                      scram-sha-256
"""
_TRUST_LINE = "trust"
# the socket is reachable by every local account (tenants' included): SCRAM is the boundary
_SOCKET_PERMISSIONS = "0777"


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


def _write_as_postgres(path: Path, text: str) -> None:
    """Replace a file of the data folder, keeping it the postgres user's."""
    tmp = path.with_name(f".{path.name}.new")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o600)
    _chown_to_postgres(tmp)
    tmp.replace(path)


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

    @property
    def password_file(self) -> Path:
        """The superuser's password (0600, our user only)."""
        return self.root / "superuser.password"

    def superuser_password(self) -> str:
        """The superuser's password: made once, then read back."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o711)
        with contextlib.suppress(FileExistsError):
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(secrets.token_urlsafe(32) + "\n")
        password = self.password_file.read_text(encoding="ascii").strip()
        if not password:
            raise LocalRuntimeError(f"{self.password_file} is empty; the cluster's superuser "
                                    "password is lost (ALTER ROLE postgres PASSWORD as the "
                                    "postgres OS user, then write it there)")
        return password

    def conninfo(self, dbname: str = "postgres", user: str = SUPERUSER) -> str:
        """Conninfo on the socket; the superuser's carries its password (a secret)."""
        params = {"host": str(self.socket_dir), "port": str(self.port), "user": user,
                  "dbname": dbname}
        if user == SUPERUSER:
            params["password"] = self.superuser_password()
        return make_conninfo("", **params)

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
        self._make_folders()
        if self.initialised():
            return
        # the password reaches initdb in a file only the postgres user reads, removed at
        # once (never on a command line)
        pwfile = self.root / ".initdb.password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(self.superuser_password() + "\n")
        _chown_to_postgres(pwfile)
        try:
            self._checked(
                [str(self.pg_bin / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
                 "--auth-local=scram-sha-256", "--auth-host=reject", f"--pwfile={pwfile}",
                 "--encoding=UTF8", "--locale=C", "--no-instructions"],
                "initdb",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        lines = {
            "listen_addresses": "''",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "unix_socket_permissions": _SOCKET_PERMISSIONS,
            "password_encryption": "'scram-sha-256'",
            "max_connections": "300",  # each local tenant's pools take 26 (domain.capacity)
            **self.settings,
        }
        conf = "\n# frostbyte\n" + "".join(f"{k} = {v}\n" for k, v in lines.items())
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as fh:
            fh.write(conf)
        (self.data_dir / "pg_hba.conf").write_text(_HBA, encoding="utf-8")

    def _make_folders(self) -> None:
        """The cluster's folder and socket folder traversable (0711: a tenant's account
        reaches the socket, lists nothing), the log folder the postgres user's only."""
        for folder, mode in ((self.root, 0o711), (self.root / "log", 0o700),
                             (self.socket_dir, 0o711)):
            folder.mkdir(parents=True, exist_ok=True, mode=mode)
            folder.chmod(mode)
            _chown_to_postgres(folder)

    def _trusts_anyone(self) -> bool:
        """True for a cluster made before every role needed a password."""
        try:
            hba = (self.data_dir / "pg_hba.conf").read_text(encoding="utf-8")
        except OSError:
            return False
        return any(line.split()[-1:] == [_TRUST_LINE] for line in hba.splitlines()
                   if line.strip() and not line.lstrip().startswith("#"))

    def _require_passwords(self) -> None:
        """Migrate a cluster that trusts its superuser: give it a password (sent as a SCRAM
        verifier), rewrite ``pg_hba.conf`` with no trust line, open the socket to local
        accounts (SCRAM guards it), restart. Runs on a started server."""
        import psycopg
        from psycopg import sql

        password = self.superuser_password()
        trusted = make_conninfo("", host=str(self.socket_dir), port=str(self.port),
                                user=SUPERUSER, dbname="postgres")
        with psycopg.connect(trusted, autocommit=True, connect_timeout=10) as conn:
            conn.execute("SET password_encryption = 'scram-sha-256'")
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(SUPERUSER), sql.Literal(password)))
        self.stop()
        hba = self.data_dir / "pg_hba.conf"
        _write_as_postgres(hba, _HBA)
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as fh:
            fh.write(f"\n# frostbyte: every role logs in with a password\n"
                     f"unix_socket_permissions = {_SOCKET_PERMISSIONS}\n")
        self._start_server()

    def _revoke_public_connect(self) -> None:
        """Nobody but the superuser connects to the cluster's own databases."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.conninfo(), autocommit=True, connect_timeout=10) as conn:
            for (name,) in conn.execute(
                    "SELECT datname FROM pg_database WHERE datname IN ('postgres', 'template1')"
            ).fetchall():
                conn.execute(sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC")
                             .format(sql.Identifier(name)))

    def is_running(self) -> bool:
        if not self.initialised():
            return False
        return self._run([str(self.pg_bin / "pg_ctl"), "status", "-D", str(self.data_dir)]
                         ).returncode == 0

    def start(self) -> None:
        """Start the server and wait until it accepts connections (idempotent); a cluster
        that still trusts its superuser is moved to passwords first."""
        if not self.is_running():
            self._start_server()
        if self._trusts_anyone():
            self._require_passwords()
        self._revoke_public_connect()

    def _start_server(self) -> None:
        # The socket folder may live in /tmp, which can be cleaned between runs.
        self._make_folders()
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
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                (name,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC")
                         .format(sql.Identifier(name)))
