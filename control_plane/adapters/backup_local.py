"""The data of a ``local`` tenant (process engine), dumped into a backup and loaded into a
new tenant from one (issue 18; :class:`~control_plane.domain.backups.TenantDataPort`).

Dump: ``pg_dump --format=custom --no-owner --no-privileges`` of the tenant database (the
cluster's own binaries, as the cluster's admin; the password reaches ``pg_dump`` in its
environment, never its arguments), every object of the tenant's bucket read with the
tenant's own S3 key exactly as stored (ciphertext; or the filesystem double's files), and
the tenant's audit signing key file.

Load (before the new tenant's first start, which migrates and starts it as any start does):
the new tenant's roles and database made afresh (a load that runs again starts over), the
dump restored as its migration role (so that role owns every table, as ``migrate`` expects),
every object put in its new bucket under the same key with its new S3 key (keys carry no
slug, and each object's encryption binds only its key), the audit signing key file placed
where the data plane reads it, and the name of the audit chain it continues.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from control_plane.domain.backups import OBJECTS_PREFIX, object_key, object_member
from control_plane.domain.ports import TenantBuckets
from control_plane.errors import BackupFailed
from control_plane.providers.local import (
    TenantDatabases,
    TenantPaths,
    bucket_name,
    migration_role_name,
    role_name,
)

_TMP_PREFIX = ".fb-tmp-"  # the filesystem store's in-flight writes: never part of a backup


def _pg_env(conninfo: str) -> dict[str, str]:
    """libpq's environment for ``conninfo`` (so no password is in a process's arguments)."""
    names = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD",
             "dbname": "PGDATABASE", "sslmode": "PGSSLMODE"}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    for key, value in conninfo_to_dict(conninfo).items():
        if key in names and value is not None:
            env[names[key]] = str(value)
    return env


class LocalTenantData:
    """Dumps and loads the data of the local provider's tenants."""

    def __init__(self, *, admin_conninfo: str, state_dir: Path,
                 buckets: TenantBuckets | None, timeout_s: float = 3600) -> None:
        self._admin = admin_conninfo
        self._db = TenantDatabases(admin_conninfo)
        self._tenants = state_dir.resolve() / "tenants"
        self._buckets = buckets
        self._timeout_s = timeout_s

    def paths(self, slug: str) -> TenantPaths:
        return TenantPaths(self._tenants / slug)

    # -- PostgreSQL -------------------------------------------------------------------------
    def _server_version(self) -> tuple[int, str]:
        with psycopg.connect(self._admin, autocommit=True, connect_timeout=10) as conn:
            row = conn.execute(b"SELECT current_setting('server_version_num')::int, "
                               b"current_setting('server_version')").fetchone()
        assert row is not None
        return int(str(row[0])), str(row[1])

    def _tool(self, name: str) -> str:
        """``pg_dump``/``pg_restore`` of the cluster's major version when installed there
        (Debian keeps each version's in ``/usr/lib/postgresql/<major>/bin``), else PATH's."""
        major = self._server_version()[0] // 10000
        beside = Path(f"/usr/lib/postgresql/{major}/bin/{name}")
        if beside.exists():
            return str(beside)
        found = shutil.which(name)
        if found is None:
            raise BackupFailed(f"{name} is not installed (Debian package "
                                     "postgresql-client)")
        return found

    def _run(self, argv: list[str], env: Mapping[str, str], what: str) -> None:
        try:
            result = subprocess.run(argv, env=dict(env), stdin=subprocess.DEVNULL,
                                    capture_output=True, timeout=self._timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackupFailed(f"{what}: {type(exc).__name__}") from None
        if result.returncode != 0:
            detail = result.stderr.decode("utf-8", "replace").strip()[-1500:]
            raise BackupFailed(f"{what}: {Path(argv[0]).name} exited "
                                     f"{result.returncode}: {detail}")

    def dump_database(self, slug: str, target: Path) -> str:
        """The tenant database into ``target`` (custom format); the server's version."""
        conninfo = make_conninfo(self._admin, dbname=role_name(slug))
        self._run([self._tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                   f"--file={target}"], _pg_env(conninfo),
                  f"could not dump the database of {slug!r}")
        return self._server_version()[1]

    def load_database(self, slug: str, dump: Path) -> list[str]:
        """The new tenant's roles and an empty database made afresh, then ``dump`` restored
        into it as the tenant's migration role (which owns what it creates); every vendor key
        (and control key) of the source revoked before anything can start on it — the new
        tenant gets keys of its own. The ids of the keys revoked."""
        import secrets

        try:
            self._db.drop(slug)  # a load that runs again starts from nothing
            self._db.ensure(slug)
            password = secrets.token_urlsafe(32)
            self._db.set_password(migration_role_name(slug), password)
        except psycopg.Error as exc:
            raise BackupFailed(f"could not prepare the database of {slug!r}: "
                                     f"{type(exc).__name__}") from None
        conninfo = self._db.conninfo(slug, migration_role_name(slug), password)
        self._run([self._tool("pg_restore"), "--no-owner", "--no-privileges",
                   "--exit-on-error", "--single-transaction",
                   f"--dbname={conninfo_to_dict(conninfo)['dbname']}", str(dump)],
                  _pg_env(conninfo), f"could not restore the database of {slug!r}")
        try:
            with psycopg.connect(make_conninfo(self._admin, dbname=role_name(slug)),
                                 autocommit=True, connect_timeout=10) as conn:
                rows = conn.execute(
                    b"UPDATE vendor_keys SET revoked_at = now() WHERE revoked_at IS NULL "
                    b"RETURNING key_id").fetchall()
        except psycopg.Error as exc:
            raise BackupFailed(f"could not revoke the restored keys of {slug!r}: "
                                     f"{type(exc).__name__}") from None
        return sorted(str(row[0]) for row in rows)

    # -- objects ----------------------------------------------------------------------------
    def _client(self, secrets: Mapping[str, str]) -> object:
        from minio import Minio

        assert self._buckets is not None
        endpoint = urlsplit(self._buckets.endpoint)
        return Minio(endpoint.netloc, secrets.get("object_store_access_key", ""),
                     secrets.get("object_store_secret_key", ""),
                     secure=endpoint.scheme == "https")

    def dump_objects(self, slug: str, secrets: Mapping[str, str], members: Path) -> int:
        """Every object of the tenant, as stored, into ``members/objects/<key>``; how many."""
        count = 0
        if self._buckets is None:
            root = self.paths(slug).objects
            for path in sorted(root.rglob("*")) if root.is_dir() else ():
                key = path.relative_to(root).as_posix()
                if path.is_file() and not any(p.startswith(_TMP_PREFIX)
                                              for p in key.split("/")):
                    self._copy(path, members / object_member(key))
                    count += 1
            return count
        client = self._client(secrets)
        bucket = bucket_name(slug)
        try:
            for obj in client.list_objects(bucket, recursive=True):  # type: ignore[attr-defined]
                key = obj.object_name
                target = members / object_member(key)
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                client.fget_object(bucket, key, str(target))  # type: ignore[attr-defined]
                count += 1
        except Exception as exc:  # minio's S3Error, urllib3's errors
            raise BackupFailed(f"could not read the bucket of {slug!r}: "
                                     f"{type(exc).__name__}: {exc}") from None
        return count

    def load_objects(self, slug: str, secrets: Mapping[str, str], members: Path) -> int:
        """Every ``objects/`` member into the new tenant's bucket (made now, with its own
        key) under the same key; how many."""
        sources = list(_object_files(members))
        if self._buckets is None:
            root = self.paths(slug).objects
            root.mkdir(parents=True, exist_ok=True, mode=0o700)
            for key, path in sources:
                self._copy(path, root / key)
            return len(sources)
        bucket = bucket_name(slug)
        try:
            self._buckets.ensure_tenant(bucket, secrets["object_store_access_key"],
                                        secrets["object_store_secret_key"])
            client = self._client(secrets)
            for key, path in sources:
                client.fput_object(bucket, key, str(path))  # type: ignore[attr-defined]
        except Exception as exc:
            raise BackupFailed(f"could not fill the bucket of {slug!r}: "
                                     f"{type(exc).__name__}: {exc}") from None
        return len(sources)

    @staticmethod
    def _copy(source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(source, target)

    # -- the tenant's folder ----------------------------------------------------------------
    def audit_signing_key(self, slug: str) -> bytes:
        """The PEM of the key the tenant's data plane signs its audit checkpoints with."""
        try:
            return self.paths(slug).audit_key.read_bytes()
        except OSError as exc:
            raise BackupFailed(f"tenant {slug!r} has no audit signing key file "
                                     f"({exc.strerror})") from None

    def place_identity(self, slug: str, audit_key_pem: bytes, audit_chain: str) -> None:
        """The carried audit signing key and the chain's name in the new tenant's folder
        (root's, 0600 until its first start gives the key to the tenant's group, read-only)."""
        paths = self.paths(slug)
        paths.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        for path, data in ((paths.audit_key, audit_key_pem),
                           (paths.audit_chain_file, audit_chain.encode("ascii") + b"\n")):
            path.unlink(missing_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)


def _object_files(members: Path) -> Iterator[tuple[str, Path]]:
    folder = members / OBJECTS_PREFIX.rstrip("/")
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            key = object_key(path.relative_to(members).as_posix())
            assert key is not None
            yield key, path
