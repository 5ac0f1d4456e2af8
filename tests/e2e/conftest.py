"""Fixtures of the end-to-end suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from control_plane.adapters.seaweedfs import SeaweedAdmin, SeaweedServer
from tests.conftest import create_database, drop_database
from tests.seaweedfs_fixture import S3Tenant, new_credentials


@pytest.fixture(scope="module")
def module_database(pg_admin_url: str) -> Iterator[str]:
    """A new database shared by one test module, dropped afterwards."""
    name, conninfo = create_database(pg_admin_url, prefix="fbe2e")
    yield conninfo
    drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def module_bucket(seaweed_server: SeaweedServer, seaweed_admin: SeaweedAdmin,
                  request: pytest.FixtureRequest) -> Iterator[S3Tenant]:
    """A bucket and key of its own on the session's SeaweedFS for one test module's tenant:
    the end-to-end data planes keep their objects on a real S3 server, encrypted."""
    bucket = "e2e-" + request.module.__name__.rsplit(".", 1)[-1].replace("_", "-")[:40]
    access_key, secret_key = new_credentials()
    seaweed_admin.ensure_tenant(bucket, access_key, secret_key)
    yield S3Tenant(seaweed_server.s3_endpoint, bucket, access_key, secret_key)
    seaweed_admin.remove_tenant(bucket, access_key)
