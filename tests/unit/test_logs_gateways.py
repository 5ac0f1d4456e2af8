"""The gateways' access lines are JSON log lines with the request id the API gets (issue 18):
the local provider's nginx config, the image's and the roles' process engine's, each run by a
real nginx in front of a stand-in API that records the ``X-Request-ID`` it was sent."""

from __future__ import annotations

import json
import os
import shutil
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jinja2
import pytest

from control_plane.providers.gateway import GatewayFiles, render_config
from tests.unit.images.test_gateway_nginx import (
    IMAGE_GATEWAY,
    NGINX,
    ROLE_TEMPLATE,
    certificate,
    free_port,
    run_nginx,
)

pytestmark = pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed")


class _Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]]

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("X-Request-ID")))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass

    def address_string(self) -> str:  # a Unix socket's peer has no address
        return "local"


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def _serve(server: socketserver.BaseServer) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()


def _local(tmp: Path, seen: list[tuple[str, str | None]]) -> tuple[str, int, Any]:
    """The local provider's config (upstream: the API's Unix socket)."""
    handler = type("H", (_Recorder,), {"seen": seen})
    server = _UnixHTTPServer(str(tmp / "api.sock"), handler)
    files = GatewayFiles(tmp / "gateway")
    files.make()
    cert, key = certificate(tmp)
    shutil.copy(cert, files.certificate)
    shutil.copy(key, files.key)
    port = free_port()
    config = render_config(files, slug="acme", host="127.0.0.1", port=port,
                           socket=tmp / "api.sock", error_log=tmp / "error.log",
                           # as root, nginx's workers would be nobody, who cannot reach the
                           # socket: they run as we do, as the provider's shared account does
                           user="root" if os.geteuid() == 0 else None)
    assert f"access_log {tmp / 'access.log'} frostbyte_json;" in config
    return config, port, server


def _image(tmp: Path, seen: list[tuple[str, str | None]]) -> tuple[str, int, Any]:
    handler = type("H", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    cert, key = certificate(tmp)
    port, control = free_port(), free_port()
    config = (IMAGE_GATEWAY / "nginx.conf").read_text(encoding="utf-8")
    assert "access_log /dev/stdout frostbyte_json;" in config
    config = (config.replace("/tmp/", f"{tmp}/")
              .replace("listen 8443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;")
              .replace("listen 8080;", f"listen 127.0.0.1:{control};")
              .replace("/run/secrets/tls_cert", str(cert))
              .replace("/run/secrets/tls_key", str(key))
              .replace(f"include {tmp}/resolver.conf;", "")
              .replace("/etc/frostbyte/proxy.conf", str(IMAGE_GATEWAY / "proxy.conf"))
              .replace("http://api:8080", f"http://127.0.0.1:{server.server_address[1]}")
              .replace("access_log /dev/stdout frostbyte_json;",
                       f"access_log {tmp}/access.log frostbyte_json;"))
    return config, port, server


def _role(tmp: Path, seen: list[tuple[str, str | None]]) -> tuple[str, int, Any]:
    handler = type("H", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    certificate(tmp)
    (tmp / "tmp").mkdir()
    port = free_port()
    template = jinja2.Template(ROLE_TEMPLATE.read_text(encoding="utf-8"),
                               undefined=jinja2.StrictUndefined)
    config = template.render(
        ansible_managed="test", dataplane_deploy_tenant="acme",
        dataplane_deploy_user="root", dataplane_deploy_group="root",
        dataplane_deploy_gateway_dir=str(tmp),
        dataplane_deploy_gateway_temp_dir=str(tmp / "tmp"),
        dataplane_deploy_gateway_upstream=f"127.0.0.1:{server.server_address[1]}",
        dataplane_deploy_gateway_listen=f"127.0.0.1:{port}")
    assert "access_log /dev/stderr frostbyte_json;" in config
    config = config.replace("access_log /dev/stderr frostbyte_json;",
                            f"access_log {tmp}/access.log frostbyte_json;")
    return config, port, server


Gateway = Callable[[Path, list[tuple[str, str | None]]], tuple[str, int, Any]]


@pytest.fixture(params=[_local, _image, _role], ids=["local", "image", "role"])
def gateway(request: pytest.FixtureRequest, tmp_path: Path
            ) -> Iterator[tuple[int, list[tuple[str, str | None]]]]:
    seen: list[tuple[str, str | None]] = []
    build: Gateway = request.param
    config, port, server = build(tmp_path, seen)
    _serve(server)
    proc = run_nginx(config, tmp_path if build is not _local else tmp_path / "gateway", [port])
    try:
        yield port, seen
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        server.shutdown()
        server.server_close()


def test_access_lines_are_json_with_the_request_id_the_api_gets(
        gateway: tuple[int, list[tuple[str, str | None]]], tmp_path: Path) -> None:
    port, seen = gateway
    with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=False, timeout=10) as c:
        assert c.get("/v1/documents?key=s3cret-in-query",
                     headers={"X-Request-ID": "vendor-1"}).status_code == 200
        assert c.get("/v1/search", headers={"X-Request-ID": 'bad "id" \\ with spaces'}
                     ).status_code == 200
        assert c.get("/v1/batches").status_code == 200
        assert c.get("/metrics").status_code == 404  # answered by the gateway itself
    # the API got the caller's safe id; nginx's own for an unsafe one and for none
    assert [path for path, _ in seen] == ["/v1/documents?key=s3cret-in-query", "/v1/search",
                                         "/v1/batches"]
    ids = [rid for _, rid in seen]
    assert ids[0] == "vendor-1"
    assert all(rid and len(rid) == 32 and rid.isalnum() for rid in ids[1:])
    # nginx writes a request's access line after its answer has gone: wait for the fourth
    deadline = time.monotonic() + 10
    while True:
        text = (tmp_path / "access.log").read_text(encoding="utf-8")
        if text.count("\n") >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    lines = [json.loads(line) for line in text.splitlines()]
    assert [(x["method"], x["path"], x["status"]) for x in lines] == [
        ("GET", "/v1/documents", 200), ("GET", "/v1/search", 200), ("GET", "/v1/batches", 200),
        ("GET", "/metrics", 404)]
    assert [x["request_id"] for x in lines[:3]] == ids  # the same id as the API's lines
    for line in lines:
        assert line["logger"] == "nginx.access" and line["level"] == "info"
        assert line["time"][:4].isdigit() and "T" in line["time"]
        assert line["event"] == f"GET {line['path']} {line['status']}"
    assert "s3cret-in-query" not in text
