"""The control plane reads no body before the admin token is checked, and no more of it than
64 KiB; its OpenAPI document wants a token and no CDN-loaded docs are served (security
review, issue 16 findings 2 and 10). Real PostgreSQL registry, fake provider; the guarded
requests are driven at the ASGI level, to see whether the app ever asked for a body byte."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from control_plane.api.app import create_app
from control_plane.settings import ControlPlaneSettings
from tests.asgi_exchange import Exchange
from tests.openapi_support import assert_docs_served_locally

from .fakes import FakeProvider

TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MIB = 1 << 20


@pytest.fixture
def client(fresh_database: str, tmp_path: Path) -> Iterator[TestClient]:
    provider = FakeProvider()
    settings = ControlPlaneSettings(
        database_url=fresh_database, state_dir=tmp_path,
        admin_token_sha256=hashlib.sha256(TOKEN.encode()).hexdigest())
    app = create_app(settings, providers=lambda _s: {"local": provider},
                     data_plane_transport=provider.transport)
    with TestClient(app) as test_client:
        yield test_client


def call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Exchange:
    # an endless body: 64 KiB of a JSON string each time it is asked for
    exchange = Exchange(itertools.chain([b'{"slug": "'], itertools.repeat(b"a" * 65536)))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "root_path": "", "query_string": b"", "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 8000), "state": {},
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}

    async def run() -> None:
        import anyio

        with anyio.fail_after(20):
            await client.app(scope, exchange.receive, exchange.send)

    assert client.portal is not None
    client.portal.call(run)  # in the app's own event loop (its database pool lives there)
    return exchange


def test_an_unauthenticated_endless_body_is_refused_before_it_is_read(
        client: TestClient) -> None:
    for headers in ({"content-type": "application/json", "content-length": str(50 * MIB)},
                    {"content-type": "application/json", "transfer-encoding": "chunked",
                     "authorization": "Bearer not-a-token"}):
        answer = call(client, "POST", "/v1/tenants", headers)
        assert (answer.status, answer.code) == (401, "UNAUTHENTICATED"), answer.body
        assert answer.receives == 0, "the body was read before the token was checked"
        assert answer.headers["connection"] == "close"


def test_a_viewer_may_not_send_a_body_and_none_is_read(client: TestClient) -> None:
    viewer = client.post("/v1/admin/tokens", json={"name": "ro", "role": "viewer"},
                         headers=AUTH).json()["token"]
    answer = call(client, "PATCH", "/v1/tenants/acme/config",
                  {"authorization": f"Bearer {viewer}", "content-type": "application/json",
                   "transfer-encoding": "chunked"})
    assert (answer.status, answer.code, answer.receives) == (403, "INSUFFICIENT_ROLE", 0)


def test_a_body_over_64_kib_is_refused_with_413(client: TestClient) -> None:
    declared = call(client, "POST", "/v1/tenants",
                    {**{k.lower(): v for k, v in AUTH.items()},
                     "content-type": "application/json", "content-length": str(100 * 1024)})
    assert (declared.status, declared.code, declared.receives) == (413, "BODY_TOO_LARGE", 0)
    streamed = call(client, "POST", "/v1/tenants",
                    {**{k.lower(): v for k, v in AUTH.items()},
                     "content-type": "application/json", "transfer-encoding": "chunked"})
    assert (streamed.status, streamed.code) == (413, "BODY_TOO_LARGE"), streamed.body
    assert streamed.receives <= 3  # 64 KiB and a little: never the rest
    # within the cap, the body reaches the route whole
    created = client.post("/v1/tenants", json={"slug": "acme", "display_name": "A" * 200},
                          headers=AUTH)
    assert created.status_code == 202, created.text


def test_openapi_wants_a_token_and_docs_are_served_without_a_cdn(client: TestClient) -> None:
    # /docs: Swagger UI from the app's own files, open (the document it loads is not)
    assert_docs_served_locally(client)
    for path in ("/openapi.json", "/redoc", "/metrics"):
        refused = client.get(path)
        assert refused.status_code == 401, (path, refused.text)
        assert refused.json()["error"]["code"] == "UNAUTHENTICATED"
    viewer = client.post("/v1/admin/tokens", json={"name": "reader", "role": "viewer"},
                         headers=AUTH).json()["token"]
    document = client.get("/openapi.json", headers={"Authorization": f"Bearer {viewer}"})
    assert document.status_code == 200
    assert "/v1/tenants" in document.json()["paths"]
    assert client.get("/redoc", headers=AUTH).status_code == 404
    # /metrics: Prometheus scrapes with a token (a viewer's will do)
    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {viewer}"})
    assert scraped.status_code == 200 and "frostbyte_cp_tenants{" in scraped.text
    # the probes and the CA certificate stay open
    assert client.get("/healthz").status_code == 200
    assert client.get("/v1/tls/ca").status_code == 200
