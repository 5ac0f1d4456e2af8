"""The tenant API reads no body before the caller is authorised, and no more of it than its
route allows (security review, issue 16 findings 2 and 10): driven at the ASGI level, so
that the test sees whether the app ever asked the server for a body byte (``receive``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from data_plane.api.app import create_app
from data_plane.services.access import AccessService
from data_plane.services.health import HealthService
from data_plane.services.suspension import SuspensionService
from data_plane.settings import DataPlaneSettings
from frostbyte_common import vendor_keys
from tests.asgi_exchange import Exchange
from tests.doubles.persistence import InMemoryTenantDatabase
from tests.openapi_support import assert_docs_served_locally

MIB = 1 << 20


class _Database:
    def ping(self) -> bool:
        return True


@pytest.fixture
def plane(tmp_path: Path) -> tuple[FastAPI, dict[str, str]]:
    db = InMemoryTenantDatabase()
    settings = DataPlaneSettings(tenant="acme", database_url=SecretStr("postgresql://x@h/x"),
                                 object_store_root=tmp_path / "objects",
                                 body_timeout_s=0.5)
    app = create_app(settings)
    app.state.services = SimpleNamespace(
        access=AccessService(db), suspension=SuspensionService(db, ttl_s=0.0),
        health=HealthService(_Database(), None))
    keys = {}
    for name, scopes in {"reader": ["read"], "control": ["control"]}.items():
        key = vendor_keys.generate_key()
        AccessService(db).install(key.key_id, key.sha256, scopes, name)
        keys[name] = f"Bearer {key.key}"
    return app, keys


def call(app: FastAPI, method: str, path: str, headers: dict[str, str],
         chunks: Iterator[bytes], timeout: float = 20) -> Exchange:
    exchange = Exchange(chunks)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "root_path": "", "query_string": b"", "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 8100),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}

    async def run() -> None:
        await asyncio.wait_for(app(scope, exchange.receive, exchange.send), timeout)

    asyncio.run(run())
    return exchange


def endless_json() -> Iterator[bytes]:
    """A JSON document that never ends: ``{"query": "aaaa…``."""
    yield b'{"query": "'
    while True:
        yield b"a" * 65536


def chunks_of(body: bytes, size: int = 65536) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start:start + size]


def search_body(size: int) -> bytes:
    """A valid search request of about ``size`` bytes (many document-id filters)."""
    ids = [f"{i:032x}" for i in range(size // 35)]
    return json.dumps({"query": "parking", "filters": {"document_ids": ids}}).encode()


def test_an_unauthenticated_endless_search_is_refused_before_a_body_byte_is_read(
        plane: tuple[FastAPI, dict[str, str]]) -> None:
    app, _ = plane
    for headers in ({"content-type": "application/json", "content-length": str(50 * MIB)},
                    {"content-type": "application/json", "transfer-encoding": "chunked"},
                    {"content-type": "application/json", "transfer-encoding": "chunked",
                     "authorization": "Bearer fbk_nope_nothing"}):
        answer = call(app, "POST", "/v1/search", headers, endless_json())
        assert (answer.status, answer.code) == (401, "UNAUTHENTICATED"), answer.body
        assert answer.receives == 0, "the body was read before the key was checked"
        # the rest of the body is not wanted: the connection closes after the answer
        assert answer.headers["connection"] == "close"
        assert answer.headers["www-authenticate"] == "Bearer"
        assert json.loads(answer.body)["error"]["request_id"] == answer.headers["x-request-id"]


def test_an_unauthenticated_upload_is_refused_before_its_body_is_read(
        plane: tuple[FastAPI, dict[str, str]]) -> None:
    app, _ = plane
    answer = call(app, "POST", "/v1/batches",
                  {"content-type": "multipart/form-data; boundary=x",
                   "content-length": str(50 * MIB)}, endless_json())
    assert (answer.status, answer.code, answer.receives) == (401, "UNAUTHENTICATED", 0)


def test_a_search_body_over_its_cap_is_refused_with_413(
        plane: tuple[FastAPI, dict[str, str]]) -> None:
    app, keys = plane
    body = search_body(100 * 1024)
    assert len(body) >= 100 * 1024
    declared = call(app, "POST", "/v1/search",
                    {"authorization": keys["reader"], "content-type": "application/json",
                     "content-length": str(len(body))}, chunks_of(body))
    assert (declared.status, declared.code) == (413, "BODY_TOO_LARGE"), declared.body
    assert declared.receives == 0, "a declared length over the cap needs no body byte"
    assert declared.headers["connection"] == "close"
    # chunked: read only until the cap is passed, never the whole body
    streamed = call(app, "POST", "/v1/search",
                    {"authorization": keys["reader"], "content-type": "application/json",
                     "transfer-encoding": "chunked"}, endless_json())
    assert (streamed.status, streamed.code) == (413, "BODY_TOO_LARGE"), streamed.body
    assert streamed.received <= 64 * 1024 + 65536


def test_a_body_within_its_cap_reaches_the_route_whole(
        plane: tuple[FastAPI, dict[str, str]]) -> None:
    app, keys = plane
    headers = {"authorization": keys["control"], "x-frostbyte-actor": "ops",
               "content-type": "application/json", "transfer-encoding": "chunked"}
    done = call(app, "PUT", "/control/v1/suspension", headers,
                iter([b'{"suspen', b'ded": true}', b""]))
    assert done.status == 200, done.body
    assert json.loads(done.body)["suspended"] is True


def test_a_body_that_stops_arriving_is_answered_408(
        plane: tuple[FastAPI, dict[str, str]]) -> None:
    app, keys = plane
    headers = {"authorization": keys["control"], "x-frostbyte-actor": "ops",
               "content-type": "application/json", "content-length": "30"}
    stalled = call(app, "PUT", "/control/v1/suspension", headers, iter([b'{"susp']))
    assert (stalled.status, stalled.code) == (408, "REQUEST_TIMEOUT"), stalled.body


def test_metrics_docs_and_openapi_are_not_open_to_the_vendor_network(
        plane: tuple[FastAPI, dict[str, str]]) -> None:
    app, keys = plane
    client = TestClient(app)
    for path in ("/metrics", "/openapi.json"):
        refused = client.get(path)
        assert refused.status_code == 401, (path, refused.text)
        assert refused.json()["error"]["code"] == "UNAUTHENTICATED"
    # /docs is Swagger UI from the app's own files (SPEC §5.8: no CDN), open (it reveals
    # nothing: the page fetches /openapi.json with a credential); ReDoc is not served, and
    # a caller without a key learns nothing of what else exists
    assert_docs_served_locally(client)
    for path in ("/redoc", "/docs/oauth2-redirect"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers={"Authorization": keys["reader"]}).status_code == 404
    # metrics: the control credential only (what the control plane and its scraper hold)
    vendor = client.get("/metrics", headers={"Authorization": keys["reader"]})
    assert (vendor.status_code, vendor.json()["error"]["code"]) == (403, "INSUFFICIENT_SCOPE")
    scraped = client.get("/metrics", headers={"Authorization": keys["control"]})
    assert scraped.status_code == 200 and "frostbyte_intake_documents" in scraped.text
    # the OpenAPI document: any valid key
    document = client.get("/openapi.json", headers={"Authorization": keys["reader"]})
    assert document.status_code == 200
    assert "/v1/search" in document.json()["paths"]
    # liveness and readiness stay open (the gateway's and the orchestrator's probes)
    assert client.get("/healthz").status_code == 200

