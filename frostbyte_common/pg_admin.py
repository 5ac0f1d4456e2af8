"""Roles and databases made through a PostgreSQL superuser connection (autocommit), for
both deployables: the control plane's local provider makes each tenant's on the project's
cluster, the data plane's ``prepare-database`` its own on a host's cluster. Every call is
idempotent; passwords go to the server only as SCRAM verifiers."""

from __future__ import annotations

import contextlib
from typing import Any

import psycopg
from psycopg import sql

from frostbyte_common.scram import scram_sha256_verifier

Conn = psycopg.Connection[Any]


def ensure_login_role(conn: Conn, name: str, *, in_role: str | None = None) -> None:
    """A login role without any attribute beyond LOGIN (member of ``in_role`` if given)."""
    if conn.execute(b"SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
        return
    statement = sql.SQL("CREATE ROLE {} LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE "
                        "NOREPLICATION").format(sql.Identifier(name))
    if in_role is not None:
        statement += sql.SQL(" IN ROLE {}").format(sql.Identifier(in_role))
    with contextlib.suppress(psycopg.errors.DuplicateObject):
        conn.execute(statement)


def set_password(conn: Conn, role: str, password: str) -> None:
    """Give ``role`` a new password, sent as its SCRAM verifier (never the plaintext)."""
    conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
        sql.Identifier(role), sql.Literal(scram_sha256_verifier(password))))


def ensure_database(conn: Conn, name: str, *, owner: str | None = None) -> None:
    """A UTF-8 database owned by ``owner`` (the connected user when None)."""
    if conn.execute(b"SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
        return
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if owner is not None:
        statement += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
    with contextlib.suppress(psycopg.errors.DuplicateDatabase):
        conn.execute(statement + sql.SQL(" ENCODING 'UTF8' TEMPLATE template0"))


def connect_only(conn: Conn, database: str, role: str) -> None:
    """Nobody but ``role`` (and owners, superusers) may connect to ``database``; ``role``
    gets CONNECT and TEMPORARY there and nothing else."""
    conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC")
                 .format(sql.Identifier(database)))
    conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}")
                 .format(sql.Identifier(database), sql.Identifier(role)))
