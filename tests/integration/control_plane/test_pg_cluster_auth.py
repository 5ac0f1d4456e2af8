"""The project's PostgreSQL cluster asks every role for its SCRAM password, the superuser
included (issue 16, finding 1): its socket is reachable by local tenants' accounts, so no
``trust`` line may remain — in a new cluster, nor in one made before (migrated at start)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from control_plane.local_runtime.pg_cluster import PgCluster, _chown_to_postgres
from control_plane.providers.local import port_free

pytestmark = pytest.mark.skipif(
    not Path("/usr/lib/postgresql/15/bin/initdb").exists(), reason="no PostgreSQL 15")

OLD_HBA = """\
local   all   postgres                 trust
local   all   all                      scram-sha-256
"""


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    root = Path(tempfile.mkdtemp(prefix="fb-pgauth-"))
    os.chmod(root, 0o755)  # noqa: PTH101 - the postgres user must reach it
    port = next(p for p in range(54400, 54500) if port_free("127.0.0.1", p))
    made = PgCluster(root=root / "pg", socket_dir=root / "run", port=port,
                     settings={"fsync": "off"})
    try:
        yield made
    finally:
        made.destroy()
        shutil.rmtree(root, ignore_errors=True)


def without_password(cluster: PgCluster, dbname: str = "postgres") -> str:
    return make_conninfo("", host=str(cluster.socket_dir), port=str(cluster.port),
                         user="postgres", dbname=dbname)


def test_a_new_cluster_asks_the_superuser_for_its_password(cluster: PgCluster) -> None:
    cluster.init()
    cluster.start()
    assert "trust" not in (cluster.data_dir / "pg_hba.conf").read_text()
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(without_password(cluster), connect_timeout=5).close()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(without_password(cluster) + " password=guess", connect_timeout=5).close()
    with psycopg.connect(cluster.conninfo(), connect_timeout=5) as conn:  # it carries it
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
    # the password is ours alone, the socket folder only traversable
    assert cluster.password_file.stat().st_mode & 0o777 == 0o600
    assert cluster.password_file.stat().st_uid == os.geteuid()
    assert cluster.socket_dir.stat().st_mode & 0o777 == 0o711
    # the cluster's own databases are closed to every role but the superuser
    cluster.create_database("frostbyte_control")
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE ROLE someone LOGIN PASSWORD 'pw'")
    for dbname in ("postgres", "template1", "frostbyte_control"):
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            psycopg.connect(make_conninfo(without_password(cluster, dbname), user="someone",
                                          password="pw"), connect_timeout=5).close()


def test_a_cluster_that_trusted_its_superuser_is_given_a_password_at_start(
    cluster: PgCluster
) -> None:
    cluster.init()
    hba = cluster.data_dir / "pg_hba.conf"
    hba.write_text(OLD_HBA)  # as clusters were made before
    _chown_to_postgres(hba)
    with (cluster.data_dir / "postgresql.conf").open("a") as conf:
        conf.write("unix_socket_permissions = 0770\n")
    cluster.password_file.unlink()
    cluster.start()  # starts it as it is, then moves it to passwords
    assert "trust" not in hba.read_text()
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(without_password(cluster), connect_timeout=5).close()
    with psycopg.connect(cluster.conninfo(), connect_timeout=5) as conn:
        assert conn.execute("SHOW unix_socket_permissions").fetchone() == ("0777",)
    cluster.stop()
    cluster.start()  # and stays so
    with psycopg.connect(cluster.conninfo(), connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
