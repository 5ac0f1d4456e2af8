"""SeaweedFS as the local S3 server: start/stop, one bucket and key per tenant that reaches
nothing else, keys replaced and removed while the server runs, and what the data plane's
S3 store does while the server is frozen or gone."""

from __future__ import annotations

import io
import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import urllib3
from minio import Minio
from minio.error import S3Error

from control_plane.adapters.seaweedfs import (
    AdminCredentials,
    SeaweedAdmin,
    SeaweedPorts,
    SeaweedServer,
    weed_binary,
)
from control_plane.errors import LocalRuntimeError
from data_plane.adapters.objectstore_s3 import S3ObjectStore
from data_plane.errors import ObjectStoreUnavailable
from frostbyte_common.retry import ExponentialBackoff, RetryPolicy
from tests.seaweedfs_fixture import S3Tenant, new_credentials

FAST_RETRY = RetryPolicy(attempts=2, backoff=ExponentialBackoff(base=0.1, cap=0.1))


def _minio(endpoint: str, access_key: str, secret_key: str) -> Minio:
    return Minio(endpoint.removeprefix("http://"), access_key=access_key,
                 secret_key=secret_key, secure=False, region="us-east-1",
                 http_client=urllib3.PoolManager(retries=False, timeout=5.0))


def _wait_until_stopped(pid: int) -> None:
    """SIGSTOP takes effect on every thread a moment after ``kill`` returns."""
    for _ in range(500):
        states = {stat.read_text(encoding="ascii").rsplit(")", 1)[-1].split()[0]
                  for stat in Path(f"/proc/{pid}/task").glob("*/stat")}
        if states == {"T"}:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not stop")


def _new_tenant(server: SeaweedServer, admin: SeaweedAdmin) -> S3Tenant:
    bucket = f"t-{secrets.token_hex(6)}"
    access_key, secret_key = new_credentials()
    admin.ensure_tenant(bucket, access_key, secret_key)
    return S3Tenant(server.s3_endpoint, bucket, access_key, secret_key)


@pytest.fixture
def other_tenant(seaweed_server: SeaweedServer,
                 seaweed_admin: SeaweedAdmin) -> Iterator[S3Tenant]:
    tenant = _new_tenant(seaweed_server, seaweed_admin)
    yield tenant
    seaweed_admin.remove_tenant(tenant.bucket, tenant.access_key)


def test_a_tenant_key_reaches_only_its_own_bucket(s3_tenant: S3Tenant,
                                                    other_tenant: S3Tenant) -> None:
    other = _minio(other_tenant.endpoint, other_tenant.access_key, other_tenant.secret_key)
    other.put_object(other_tenant.bucket, "secret.txt", io.BytesIO(b"B's data"), 8)
    mine = _minio(s3_tenant.endpoint, s3_tenant.access_key, s3_tenant.secret_key)
    mine.put_object(s3_tenant.bucket, "own.txt", io.BytesIO(b"A's data"), 8)
    assert mine.get_object(s3_tenant.bucket, "own.txt").read() == b"A's data"

    with pytest.raises(S3Error) as read:
        mine.get_object(other_tenant.bucket, "secret.txt")
    with pytest.raises(S3Error) as listing:
        list(mine.list_objects(other_tenant.bucket, recursive=True))
    with pytest.raises(S3Error) as write:
        mine.put_object(other_tenant.bucket, "planted.txt", io.BytesIO(b"x"), 1)
    with pytest.raises(S3Error) as new_bucket:
        mine.make_bucket(f"t-{secrets.token_hex(6)}")
    assert {e.value.code for e in (read, listing, write, new_bucket)} == {"AccessDenied"}
    assert [b.name for b in mine.list_buckets()] == [s3_tenant.bucket]
    assert [o.object_name for o in other.list_objects(other_tenant.bucket)] == ["secret.txt"]


def test_the_store_refuses_another_tenants_bucket_without_retrying(
        s3_tenant: S3Tenant, other_tenant: S3Tenant) -> None:
    tries: list[float] = []
    store = S3ObjectStore(s3_tenant.endpoint, other_tenant.bucket, s3_tenant.access_key,
                          s3_tenant.secret_key,
                          retry=RetryPolicy(attempts=5, sleep=tries.append))
    with pytest.raises(ObjectStoreUnavailable, match="refused access"):
        store.put_bytes("k", b"x")
    assert tries == []
    assert store.ping() is False


def test_replaced_credentials_take_effect_and_the_old_ones_stop_working(
        seaweed_admin: SeaweedAdmin, s3_tenant: S3Tenant) -> None:
    old = _minio(s3_tenant.endpoint, s3_tenant.access_key, s3_tenant.secret_key)
    old.put_object(s3_tenant.bucket, "kept.txt", io.BytesIO(b"kept"), 4)
    new_key, new_secret = new_credentials()

    seaweed_admin.ensure_tenant(s3_tenant.bucket, new_key, new_secret)

    new = _minio(s3_tenant.endpoint, new_key, new_secret)
    assert new.get_object(s3_tenant.bucket, "kept.txt").read() == b"kept"
    with pytest.raises(S3Error) as refused:
        old.get_object(s3_tenant.bucket, "kept.txt")
    assert refused.value.code == "InvalidAccessKeyId"
    seaweed_admin.remove_tenant(s3_tenant.bucket, new_key)


def test_ensure_tenant_twice_keeps_the_key_and_the_objects(
        seaweed_admin: SeaweedAdmin, s3_tenant: S3Tenant) -> None:
    store = S3ObjectStore(s3_tenant.endpoint, s3_tenant.bucket, s3_tenant.access_key,
                          s3_tenant.secret_key)
    store.put_bytes("doc", b"1")
    seaweed_admin.ensure_tenant(s3_tenant.bucket, s3_tenant.access_key, s3_tenant.secret_key)
    assert store.get_bytes("doc") == b"1"
    assert seaweed_admin.identity_names().count(s3_tenant.bucket) == 1


def test_remove_tenant_leaves_no_bucket_and_no_identity(
        seaweed_server: SeaweedServer, seaweed_admin: SeaweedAdmin) -> None:
    tenant = _new_tenant(seaweed_server, seaweed_admin)
    store = S3ObjectStore(tenant.endpoint, tenant.bucket, tenant.access_key, tenant.secret_key)
    store.put_bytes("raw/ab/doc", b"bytes")
    store.put_bytes("canonical/doc.json", b"{}")

    seaweed_admin.remove_tenant(tenant.bucket, tenant.access_key)
    seaweed_admin.remove_tenant(tenant.bucket, tenant.access_key)  # idempotent

    assert not seaweed_admin.bucket_exists(tenant.bucket)
    assert tenant.bucket not in seaweed_admin.identity_names()
    with pytest.raises(S3Error) as refused:
        _minio(tenant.endpoint, tenant.access_key, tenant.secret_key).list_buckets()
    assert refused.value.code == "InvalidAccessKeyId"


def test_a_large_file_goes_up_in_parts_and_comes_back_whole(s3_tenant: S3Tenant,
                                                           tmp_path: Path) -> None:
    store = S3ObjectStore(s3_tenant.endpoint, s3_tenant.bucket, s3_tenant.access_key,
                          s3_tenant.secret_key, part_size=5 * 1024 * 1024)
    data = os.urandom(11 * 1024 * 1024)  # three parts
    source = tmp_path / "scratch"
    source.write_bytes(data)

    store.put_file("raw/big", source, move=True)

    assert not source.exists()
    with store.open("raw/big") as f:
        assert f.read(1024) == data[:1024]
        assert f.read() == data[1024:]
    stat = _minio(s3_tenant.endpoint, s3_tenant.access_key,
                  s3_tenant.secret_key).stat_object(s3_tenant.bucket, "raw/big")
    assert stat.etag is not None and stat.etag.endswith("-3")  # a multipart upload's ETag


def test_bad_names_never_reach_the_admin_shell(seaweed_admin: SeaweedAdmin) -> None:
    with pytest.raises(ValueError):
        seaweed_admin.ensure_tenant("t-ok-bucket", "KEY WITH BLANKS", "secretsecret")
    with pytest.raises(ValueError):
        seaweed_admin.ensure_tenant("Bad_Bucket", "AKOKOKOKOK", "secretsecret")


class _SlowDown(BaseHTTPRequestHandler):
    """An S3 server that is overloaded: every request gets 503 SlowDown."""

    requests = 0

    def do_PUT(self) -> None:
        type(self).requests += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = (b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown</Code>"
                b"<Message>Please reduce your request rate.</Message></Error>")
        self.send_response(503)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


def test_slow_down_is_retried_within_the_window_then_unavailable() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowDown)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    waits: list[float] = []
    store = S3ObjectStore(f"http://127.0.0.1:{server.server_address[1]}", "t-bucket",
                          "AKSLOWDOWN", "secretsecret",
                          retry=RetryPolicy(attempts=3, sleep=waits.append))
    try:
        with pytest.raises(ObjectStoreUnavailable, match=r"after 3 attempt.*SlowDown"):
            store.put_bytes("doc", b"x")
    finally:
        server.shutdown()
        server.server_close()
    assert _SlowDown.requests == 3
    assert len(waits) == 2


def test_server_lifecycle_and_the_store_while_it_is_frozen_or_gone(tmp_path: Path) -> None:
    try:
        binary = weed_binary()
    except LocalRuntimeError:
        pytest.skip("no SeaweedFS binary (weed)")
    server = SeaweedServer(tmp_path / "sw", SeaweedPorts.free(),
                           AdminCredentials(*new_credentials()), binary=binary)
    server.start()
    try:
        assert server.is_running()
        server.start()  # already running: a no-op
        tenant = _new_tenant(server, server.admin())
        S3ObjectStore(tenant.endpoint, tenant.bucket, tenant.access_key,
                      tenant.secret_key).put_bytes("doc", b"before")  # a bucket's first write
        # may take seconds (its volumes are made), so only now the short timeouts
        store = S3ObjectStore(tenant.endpoint, tenant.bucket, tenant.access_key,
                              tenant.secret_key, retry=FAST_RETRY, timeout_s=1.0)
        assert store.ping() is True

        pid = int(server.pid_file.read_text(encoding="ascii"))
        os.kill(pid, signal.SIGSTOP)
        try:
            _wait_until_stopped(pid)
            assert store.ping() is False
            with pytest.raises(ObjectStoreUnavailable, match="after 2 attempt"):
                store.get_bytes("doc")
        finally:
            os.kill(pid, signal.SIGCONT)
        assert store.get_bytes("doc") == b"before"
    finally:
        server.stop()

    assert not server.is_running()
    assert not server.pid_file.exists()
    assert store.ping() is False
    with pytest.raises(ObjectStoreUnavailable):
        store.put_bytes("doc", b"after")
