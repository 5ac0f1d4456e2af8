"""PostgreSQL unreachable is an outage, not a bug: every call of the tenant database raises
``DatabaseUnavailable`` (503 with Retry-After through the API, waited out by the jobs), and
the readiness ping says False within seconds instead of hanging on the pool."""

from __future__ import annotations

import socket
import time
import uuid

import pytest

from data_plane.adapters.postgres import TenantDatabase
from data_plane.errors import DatabaseUnavailable


def _refusing_port() -> int:
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_database_is_unavailable_not_an_error() -> None:
    db = TenantDatabase(f"host=127.0.0.1 port={_refusing_port()} dbname=x user=x "
                        "connect_timeout=1", "outage", max_size=1)
    db.open(wait=False)
    try:
        started = time.monotonic()
        assert db.ping() is False
        assert time.monotonic() - started < 10  # not the pool's 30 s
        with pytest.raises(DatabaseUnavailable) as raised:
            db.get_document(uuid.uuid4())
        assert raised.value.status_code == 503
        assert raised.value.code == "DATABASE_UNAVAILABLE"
    finally:
        db.close()
