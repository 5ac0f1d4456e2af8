"""Fixtures of the end-to-end suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import create_database, drop_database


@pytest.fixture(scope="module")
def module_database(pg_admin_url: str) -> Iterator[str]:
    """A new database shared by one test module, dropped afterwards."""
    name, conninfo = create_database(pg_admin_url, prefix="fbe2e")
    yield conninfo
    drop_database(pg_admin_url, name)
