"""The tenant's role and database on a PostgreSQL that the data plane's host runs for this
tenant alone (the playbooks' process engine), made through a superuser connection.

The service role (the API's and worker's login, named with its password in
``FROSTBYTE_DP_DATABASE_URL``) gets no privilege beyond CONNECT here; the schema belongs to
the superuser, who then runs the migrations and grants the service role what it needs
(:func:`data_plane.adapters.audit_store.grant_service_role`) — so the audit tables stay
append-only for everything the API and worker can do. Idempotent: a restart runs it again.
"""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from data_plane.errors import DatabaseSetupFailed
from frostbyte_common import pg_admin


def prepare_database(admin_conninfo: str, service_conninfo: str) -> tuple[str, str]:
    """Create (or re-key) the service role and create the tenant database; return the
    superuser's conninfo on that database (for the migrations) and the service role."""
    service = conninfo_to_dict(service_conninfo)
    role, password, database = service.get("user"), service.get("password"), service.get("dbname")
    if not (role and password and database):
        raise DatabaseSetupFailed(
            "the data plane's database URL must name its user, password and database")
    with psycopg.connect(admin_conninfo, autocommit=True, connect_timeout=10) as conn:
        pg_admin.ensure_login_role(conn, str(role))
        pg_admin.set_password(conn, str(role), str(password))
        pg_admin.ensure_database(conn, str(database))
        pg_admin.connect_only(conn, str(database), str(role))
    return make_conninfo(admin_conninfo, dbname=str(database)), str(role)
