"""The TLS gateways' nginx configs, run by a real nginx (issue 16, findings 2 and 10): the
image's (images/files/gateway/nginx.conf) and the roles' process engine's
(playbooks/roles/dataplane_deploy/templates/gateway-nginx.conf.j2) bound slow clients
(header, body, send and keep-alive timeouts, connections per client; the local provider's
too) and their vendor listeners answer 404 for ``/control/`` and ``/metrics`` without
reaching the data plane; the image's control listener passes both and nothing a vendor
uses."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import jinja2
import pytest

from control_plane.providers.gateway import GatewayFiles, render_config

ROOT = Path(__file__).resolve().parents[3]
IMAGE_GATEWAY = ROOT / "images" / "files" / "gateway"
ROLE_TEMPLATE = ROOT / "playbooks/roles/dataplane_deploy/templates/gateway-nginx.conf.j2"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TIMEOUTS = ("client_header_timeout 10s;", "client_body_timeout 30s;", "send_timeout 60s;",
            "keepalive_timeout 30s;", "limit_conn per_client 64;")

pytestmark = pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Upstream:
    """A stand-in data plane: answers 200 to everything and records the paths it saw."""

    port: int = field(default_factory=free_port)
    seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)
                body = b"upstream"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    yield up
    up.server.shutdown()


def certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "server.crt", folder / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost", "-days", "1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def run_nginx(config: str, prefix: Path, ports: list[int]) -> subprocess.Popen[bytes]:
    conf = prefix / "nginx.conf"
    conf.write_text(config, encoding="utf-8")
    checked = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c", str(conf)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    for port in ports:
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.05)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=10)


def test_the_image_gateway_hides_control_and_metrics_from_vendors(
        tmp_path: Path, upstream: Upstream) -> None:
    cert, key = certificate(tmp_path)
    vendor, control = free_port(), free_port()
    config = (IMAGE_GATEWAY / "nginx.conf").read_text(encoding="utf-8")
    for directive in TIMEOUTS:
        assert directive in config, directive
    config = (config
              .replace("/tmp/", f"{tmp_path}/")  # first: tmp_path may be under /tmp too
              .replace("listen 8443 ssl http2;", f"listen 127.0.0.1:{vendor} ssl http2;")
              .replace("listen 8080;", f"listen 127.0.0.1:{control};")
              .replace("/run/secrets/tls_cert", str(cert))
              .replace("/run/secrets/tls_key", str(key))
              .replace(f"include {tmp_path}/resolver.conf;", "")
              .replace("/etc/frostbyte/proxy.conf", str(IMAGE_GATEWAY / "proxy.conf"))
              .replace("http://api:8080", f"http://127.0.0.1:{upstream.port}")
              .replace("access_log /dev/stdout frostbyte_json;", "access_log off;"))
    proc = run_nginx(config, tmp_path, [vendor, control])
    try:
        with httpx.Client(base_url=f"https://127.0.0.1:{vendor}", verify=False,
                          timeout=10) as vendors:
            for path in ("/control/v1/suspension", "/metrics", "/%6detrics"):
                assert vendors.get(path).status_code == 404, path
            assert upstream.seen == []  # never reached the data plane
            assert vendors.get("/healthz").text == "upstream"
        with httpx.Client(base_url=f"http://127.0.0.1:{control}", timeout=10) as plane:
            assert plane.get("/metrics").text == "upstream"
            assert plane.get("/control/v1/suspension").text == "upstream"
            for path in ("/healthz", "/v1/documents", "/docs", "/openapi.json"):
                assert plane.get(path).status_code == 404, path
        assert upstream.seen == ["/healthz", "/metrics", "/control/v1/suspension"]
    finally:
        stop(proc)


def test_the_roles_gateway_hides_control_and_metrics_from_vendors(
        tmp_path: Path, upstream: Upstream) -> None:
    cert, key = certificate(tmp_path)
    (tmp_path / "tmp").mkdir()
    vendor = free_port()
    template = jinja2.Template(ROLE_TEMPLATE.read_text(encoding="utf-8"),
                               undefined=jinja2.StrictUndefined)
    config = template.render(
        ansible_managed="test", dataplane_deploy_tenant="acme",
        dataplane_deploy_user="root", dataplane_deploy_group="root",
        dataplane_deploy_gateway_dir=str(tmp_path),
        dataplane_deploy_gateway_temp_dir=str(tmp_path / "tmp"),
        dataplane_deploy_gateway_upstream=f"127.0.0.1:{upstream.port}",
        dataplane_deploy_gateway_listen=f"127.0.0.1:{vendor}")
    for directive in TIMEOUTS:
        assert directive in config, directive
    assert cert == tmp_path / "server.crt" and key == tmp_path / "server.key"
    proc = run_nginx(config, tmp_path, [vendor])
    try:
        with httpx.Client(base_url=f"https://127.0.0.1:{vendor}", verify=False,
                          timeout=10) as vendors:
            for path in ("/control/v1/suspension", "/metrics"):
                assert vendors.get(path).status_code == 404, path
            assert vendors.get("/readyz").text == "upstream"
        assert upstream.seen == ["/readyz"]
    finally:
        stop(proc)


def test_the_local_gateway_bounds_slow_clients(tmp_path: Path) -> None:
    files = GatewayFiles(tmp_path / "gateway")
    files.make()
    cert, key = certificate(tmp_path)
    shutil.copy(cert, files.certificate)
    shutil.copy(key, files.key)
    config = render_config(files, slug="acme", host="127.0.0.1", port=free_port(),
                           socket=tmp_path / "api.sock", error_log=tmp_path / "error.log",
                           user=None)
    for directive in TIMEOUTS:
        assert directive in config, directive
    files.config.write_text(config, encoding="utf-8")
    checked = subprocess.run([NGINX, "-t", "-e", str(tmp_path / "error.log"), "-p",
                              str(files.root), "-c", str(files.config)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
