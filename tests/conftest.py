"""Shared fixtures: a real PostgreSQL for integration tests.

``pg_admin_url`` is a superuser conninfo: ``$TEST_DATABASE_URL`` when set, otherwise a
throwaway cluster (socket only, port 54331 — never 5432 or the dev stack's 54329) built with
the same code as ``frostbyte local up`` and removed at the end of the session.
``fresh_database`` gives each test its own, uniquely named database.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.seaweedfs_fixture import s3_tenant, seaweed_admin, seaweed_server  # noqa: F401

TEST_PG_PORT = 54331


def pytest_configure(config: pytest.Config) -> None:
    """As root, local tenants' accounts must reach their state folder under ``tmp_path``;
    pytest's own base (``/tmp/pytest-of-root``) is made 0700 again by every pytest session
    that starts (sessions run side by side here), so the base is a folder of this session's
    own, removed at its end, unless ``--basetemp`` names one."""
    if os.geteuid() == 0 and config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="fb-pytest-")
        config.stash[_OWN_BASETEMP] = Path(config.option.basetemp)


def pytest_unconfigure(config: pytest.Config) -> None:
    if (own := config.stash.get(_OWN_BASETEMP, None)) is not None:
        shutil.rmtree(own, ignore_errors=True)


_OWN_BASETEMP = pytest.StashKey[Path]()


@pytest.fixture(scope="session", autouse=True)
def tenant_accounts_reach_python() -> None:
    """As root, local tenants run under accounts of their own (control_plane.providers.local),
    which must run this interpreter: where it lives in a private home (pyenv under /root,
    0700), its folders are made traversable (o+x: nothing becomes listable). Left so after
    the session: test sessions run side by side on one machine."""
    if os.geteuid() != 0:
        return
    for folder in Path(os.path.realpath(sys.executable)).parents:
        mode = folder.stat().st_mode & 0o7777
        if not mode & 0o001:
            folder.chmod(mode | 0o001)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """Superuser conninfo of a real PostgreSQL server for this test session."""
    from_env = os.environ.get("TEST_DATABASE_URL")
    if from_env:
        yield from_env
        return
    if shutil.which("initdb") is None and not Path("/usr/lib/postgresql/15/bin/initdb").exists():
        pytest.skip("no PostgreSQL binaries and no TEST_DATABASE_URL")
    from control_plane.local_runtime.pg_cluster import PgCluster

    # Directly under /tmp: pytest's own tmp dirs (0700, root) are unreachable for `postgres`.
    root = Path(tempfile.mkdtemp(prefix="fb-pgtest-"))
    os.chmod(root, 0o755)  # noqa: PTH101
    cluster = PgCluster(
        root=root / "pg",
        socket_dir=root / "run",
        port=TEST_PG_PORT,
        settings={"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"},
    )
    try:
        cluster.init()
        cluster.start()
        yield cluster.conninfo()
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


def create_database(admin_url: str, prefix: str = "fbtest") -> tuple[str, str]:
    """Create a uniquely named database; returns (name, conninfo) on the same server/user."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = {k: str(v) for k, v in conninfo_to_dict(admin_url).items() if v is not None}
    params["dbname"] = name
    return name, make_conninfo("", **params)


def drop_database(admin_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def fresh_database(pg_admin_url: str) -> Iterator[str]:
    """Conninfo (same server and user as ``pg_admin_url``) of a new, empty database that is
    dropped after the test."""
    name, conninfo = create_database(pg_admin_url)
    yield conninfo
    drop_database(pg_admin_url, name)


# Every clamd the tests start loads the project's test signatures only (no ClamAV mirror is
# reachable from the test machines): let data planes be ready with them, in this process
# and in the control planes and data planes it starts (tests that check the refusal set
# the setting off explicitly).
os.environ.setdefault("FROSTBYTE_DP_CLAMD_ALLOW_TEST_SIGNATURES", "true")
os.environ.setdefault("FROSTBYTE_CP_CLAMD_ALLOW_TEST_SIGNATURES", "true")
