"""``python -m data_plane prepare-database``: what the playbooks' process engine runs on a host
that has the tenant's own PostgreSQL. Against the suite's real cluster: the service role is
made with its password (SCRAM), the database and schema belong to the superuser, the service
role may write documents but never rewrite the audit trail, and running it again (every
restart does) changes nothing but the password."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo


@pytest.fixture
def names(pg_admin_url: str) -> Iterator[tuple[str, str]]:
    suffix = uuid.uuid4().hex[:10]
    role, database = f"fbsvc_{suffix}", f"fbdb_{suffix}"
    yield role, database
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                     .format(sql.Identifier(database)))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def conninfo(admin_url: str, **override: str) -> str:
    params = {k: str(v) for k, v in conninfo_to_dict(admin_url).items() if v is not None}
    params.update(override)
    return make_conninfo("", **params)


def prepare(admin_url: str, service_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FROSTBYTE_DP_")}
    env.update(FROSTBYTE_DP_TENANT="acme", FROSTBYTE_DP_OBJECT_STORE_ROOT="/nonexistent",
               FROSTBYTE_DP_DATABASE_URL=service_url, FROSTBYTE_DP_ADMIN_DATABASE_URL=admin_url)
    return subprocess.run([sys.executable, "-m", "data_plane", "prepare-database"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_prepare_database_makes_a_service_role_that_cannot_rewrite_the_audit_trail(
        pg_admin_url: str, names: tuple[str, str]) -> None:
    role, database = names
    password = secrets.token_urlsafe(24)
    service_url = conninfo(pg_admin_url, user=role, password=password, dbname=database)
    done = prepare(pg_admin_url, service_url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["service_role"] == role
    assert password not in done.stdout + done.stderr

    with psycopg.connect(service_url, autocommit=True) as service:
        service.execute("INSERT INTO vendor_keys (key_id, key_sha256, scopes) "
                        "VALUES ('k1', repeat('0', 64), ARRAY['read'])")
        assert service.execute("SELECT count(*) FROM vendor_keys").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            service.execute("UPDATE audit.events SET payload = '{}'::jsonb")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            service.execute("CREATE TABLE intruder (x int)")
    with psycopg.connect(pg_admin_url) as admin:
        owner = admin.execute("SELECT pg_get_userbyid(datdba) FROM pg_database "
                              "WHERE datname = %s", (database,)).fetchone()
    assert owner is not None and owner[0] != role, "the schema is not the service role's"

    # again, with a new password (a rotation): the old one stops working, data stays
    new_password = secrets.token_urlsafe(24)
    again = prepare(pg_admin_url, conninfo(pg_admin_url, user=role, password=new_password,
                                           dbname=database))
    assert again.returncode == 0, again.stderr
    with psycopg.connect(conninfo(pg_admin_url, user=role, password=new_password,
                                  dbname=database)) as service:
        assert service.execute("SELECT count(*) FROM vendor_keys").fetchone() == (1,)
    if "TEST_DATABASE_URL" not in os.environ:  # the suite's own cluster checks passwords
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(service_url).close()


def test_prepare_database_refuses_a_url_without_a_password(
        pg_admin_url: str, names: tuple[str, str]) -> None:
    role, database = names
    # the admin URL carries the superuser's password now (scram for every role): drop it
    without = {k: v for k, v in conninfo_to_dict(conninfo(pg_admin_url, user=role,
                                                          dbname=database)).items()
               if k != "password" and v is not None}
    done = prepare(pg_admin_url, make_conninfo("", **without))
    assert done.returncode != 0
    assert "user, password and database" in done.stderr
