"""The tenant's role and database on a PostgreSQL that the data plane's host runs for this
tenant alone (the playbooks' process engine), made through a superuser connection.

The service role (the API's and worker's login, named with its password in
``FROSTBYTE_DP_DATABASE_URL``) gets no privilege beyond CONNECT here; the schema belongs to
the superuser, who then runs the migrations and grants the service role what it needs
(:func:`data_plane.adapters.audit_store.grant_service_role`) — so the audit tables stay
append-only for everything the API and worker can do. Idempotent: a restart runs it again.
"""

from __future__ import annotations

import contextlib

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from data_plane.errors import DatabaseSetupFailed
from frostbyte_common.scram import scram_sha256_verifier


def prepare_database(admin_conninfo: str, service_conninfo: str) -> str:
    """Create (or re-key) the service role and create the tenant database; return the
    superuser's conninfo on that database, for the migrations."""
    service = conninfo_to_dict(service_conninfo)
    role, password, database = service.get("user"), service.get("password"), service.get("dbname")
    if not (role and password and database):
        raise DatabaseSetupFailed(
            "the data plane's database URL must name its user, password and database")
    with psycopg.connect(admin_conninfo, autocommit=True, connect_timeout=10) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
            with contextlib.suppress(psycopg.errors.DuplicateObject):
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                                     "NOREPLICATION").format(sql.Identifier(str(role))))
        # the verifier, not the password: the plaintext never reaches the server's log
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
            sql.Identifier(str(role)), sql.Literal(scram_sha256_verifier(str(password)))))
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                        (database,)).fetchone() is None:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0")
                             .format(sql.Identifier(str(database))))
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC")
                     .format(sql.Identifier(str(database))))
        conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}")
                     .format(sql.Identifier(str(database)), sql.Identifier(str(role))))
    admin = {k: str(v) for k, v in conninfo_to_dict(admin_conninfo).items() if v is not None}
    admin["dbname"] = str(database)
    return make_conninfo("", **admin)
