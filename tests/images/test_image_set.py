"""The image set `make images` built, started from images/compose.yaml with podman-compose and
used the way a vendor uses it: through the gateway's HTTPS only (certificate verification on,
a throwaway self-signed certificate), with a vendor key the data plane installed.

Checks: /healthz and /readyz answer; samples go in and a cited search comes out; the tenant's
config and audit signing key reach the data plane; the api's own port is published nowhere on
the host, the gateway's control listener only on loopback and for /control/ routes; the
stores' network is internal (a container on it cannot open a connection to the host, while
one on the gateway's network can).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from frostbyte_common.audit_checkpoint import load_signing_key, public_key_text
from frostbyte_common.data_keys import DataKeyring
from frostbyte_common.vendor_keys import generate_key
from tests.e2e.harness import manifest_for, search_hits, submit, wait_batch

pytestmark = pytest.mark.images

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "images" / "compose.yaml"
CONTAINERS_CONF = ROOT / "images" / "containers.conf"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
IMAGES = ("dataplane", "postgres", "s3", "clamd", "gateway")
SAMPLES = ("parking-permit-faq.txt", "supplier-onboarding-policy.docx",
           "scanned-fume-hood-certificate.pdf")
READY_TIMEOUT_S = 600


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    return env


def podman(*args: str, check: bool = True,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(["podman", *args], env=_env(), capture_output=True, text=True,
                         timeout=timeout, check=False)
    if check and out.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: {out.stderr[-3000:]}")
    return out


def podman_compose() -> str:
    beside = Path(sys.executable).parent / "podman-compose"
    found = str(beside) if beside.exists() else shutil.which("podman-compose")
    if found is None:
        pytest.skip("podman-compose is not installed (it is a dev dependency)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def self_signed(directory: Path) -> Path:
    """A throwaway certificate for 127.0.0.1 and localhost (key beside it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "frostbyte image test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (directory / "tls_cert").write_bytes(pem)
    (directory / "tls_key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return directory / "tls_cert"


@dataclass
class ImageSet:
    tenant: str
    project: str
    port: int
    ca: Path
    env: dict[str, str]
    compose: list[str]
    signing_key: str
    key: str = ""

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key or self.key}"} if (key or self.key) else {}
        return httpx.Client(base_url=self.url, verify=str(self.ca), timeout=60, headers=headers)

    def container(self, service: str) -> str:
        out = podman("ps", "-a", "--filter", f"label=com.docker.compose.project={self.project}",
                     "--filter", f"label=com.docker.compose.service={service}",
                     "--format", "{{.Names}}").stdout.split()
        assert out, f"no container of service {service}"
        return out[0]

    def logs(self) -> str:
        parts = []
        for service in ("postgres", "s3", "clamd", "migrate", "api", "worker", "gateway"):
            try:
                name = self.container(service)
            except AssertionError:
                continue
            out = podman("logs", "--tail", "30", name, check=False)
            parts.append(f"--- {service}\n{out.stdout[-2500:]}{out.stderr[-2500:]}")
        return "\n".join(parts)


def fill_signatures(volume: str) -> None:
    """The clamav-db volume with the data plane's shipped test signatures (the offline bundle
    puts real ones there)."""
    podman("volume", "create", volume)
    podman("run", "--rm", "--user", "0", "--network", "none", "--entrypoint", "/bin/sh",
           "-v", f"{volume}:/signatures", f"localhost/frostbyte/dataplane:{VERSION}", "-ec",
           "src=$(/opt/frostbyte/bin/python -m data_plane clamd-info | "
           "/opt/frostbyte/bin/python -c 'import json,sys; print(json.load(sys.stdin)"
           "[\"signatures\"])'); cp \"$src\"/* /signatures/ && chmod 0644 /signatures/*")


@pytest.fixture(scope="module")
def image_set() -> Iterator[ImageSet]:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    missing = [n for n in IMAGES
               if podman("image", "exists", f"localhost/frostbyte/{n}:{VERSION}",
                         check=False).returncode != 0]
    if missing:
        pytest.skip(f"images not built: {', '.join(missing)} (run `make images`)")
    tenant = f"imgtest{secrets.token_hex(3)}"
    secrets_dir = Path(tempfile.mkdtemp(prefix="fb-imgtest-secrets-"))
    ca = self_signed(secrets_dir)
    values = {
        "db_password": secrets.token_urlsafe(24) + "%@:/",  # characters a URL must escape
        "object_store_access_key": secrets.token_hex(10),
        "object_store_secret_key": secrets.token_urlsafe(30),
        "object_data_keys": DataKeyring.generate().serialize(),
        "signing_key": secrets.token_hex(32),
    }
    for name, value in values.items():
        (secrets_dir / name).write_text(value + "\n")
    for path in secrets_dir.iterdir():
        path.chmod(0o644)  # read by the containers' own users; the folder stays 0700
    port = free_port()
    env = _env() | {"FROSTBYTE_TENANT": tenant, "FROSTBYTE_SECRETS_DIR": str(secrets_dir),
                    "FROSTBYTE_GATEWAY_PUBLISH": f"127.0.0.1:{port}",
                    "FROSTBYTE_VERSION": VERSION,
                    "FROSTBYTE_TENANT_CONFIG": json.dumps(
                        {"intake": {"max_batch_files": len(SAMPLES)}})}
    project = f"frostbyte-{tenant}"
    compose = [podman_compose(), "-f", str(COMPOSE)]
    plane = ImageSet(tenant=tenant, project=project, port=port, ca=ca, env=env,
                     compose=compose, signing_key=values["signing_key"])
    try:
        fill_signatures(f"{project}_clamav-db")
        started = time.monotonic()
        up = subprocess.run([*compose, "up", "-d"], env=env, capture_output=True, text=True,
                            timeout=READY_TIMEOUT_S, check=False)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        deadline = time.monotonic() + READY_TIMEOUT_S
        ready = False
        while time.monotonic() < deadline and not ready:
            try:
                with plane.client() as client:
                    ready = client.get("/readyz").status_code == 200
            except httpx.HTTPError:
                pass
            if not ready:
                time.sleep(2)
        assert ready, f"the set did not get ready through the gateway:\n{plane.logs()}"
        print(f"\nimage set ready through the gateway in {time.monotonic() - started:.0f} s")
        issued = generate_key()
        podman("exec", plane.container("api"), "/opt/frostbyte/bin/python",
               "/usr/local/lib/frostbyte/entrypoint.py", "add-vendor-key",
               "--key-id", issued.key_id, "--sha256", issued.sha256,
               "--scopes", "ingest,read,audit", "--label", "image-test")
        plane.key = issued.key
        yield plane
    finally:
        down = subprocess.run([*compose, "down", "-v", "-t", "5"], env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        leftovers = podman("volume", "ls", "-q", "--filter",
                           f"label=com.docker.compose.project={project}", check=False)
        for volume in {*leftovers.stdout.split(), f"{project}_clamav-db"}:
            podman("volume", "rm", "-f", volume, check=False)
        shutil.rmtree(secrets_dir, ignore_errors=True)
        assert down.returncode == 0, down.stderr[-2000:]


def test_healthz_and_readyz_through_the_gateway(image_set: ImageSet) -> None:
    with image_set.client() as client:
        health = client.get("/healthz")
        ready = client.get("/readyz")
    assert health.status_code == 200 and health.json().get("status") == "ok", health.text
    assert ready.status_code == 200, ready.text


def test_plain_http_and_an_untrusted_certificate_are_refused(image_set: ImageSet) -> None:
    with pytest.raises(httpx.HTTPError):  # verification on: the default trust store
        httpx.get(f"{image_set.url}/healthz", timeout=10)
    plain = httpx.get(f"http://127.0.0.1:{image_set.port}/healthz", timeout=10)
    assert plain.status_code == 400  # nginx: "plain HTTP request sent to HTTPS port"


def test_documents_go_in_and_a_cited_search_comes_out(image_set: ImageSet) -> None:
    paths = [ROOT / "samples" / name for name in SAMPLES]
    with image_set.client() as client:
        receipt = submit(client, paths, client_ref="image-set")
        final = wait_batch(client, receipt["batch_id"], timeout=900)
        statuses = {d["name"]: d["status"] for d in final["documents"]}
        assert statuses == dict.fromkeys(SAMPLES, "INDEXED"), final
        hits = search_hits(client, "how many electric-vehicle charging bays are there")
        scanned = search_hits(client, "fume hood certificate inspection airflow")
    assert hits and hits[0]["document_name"] == "parking-permit-faq.txt", hits[:2]
    assert "charging" in hits[0]["text"].lower()
    # OCR (Debian's tesseract in the image) read the scanned PDF
    assert any(h["document_name"] == "scanned-fume-hood-certificate.pdf" for h in scanned)
    with image_set.client(key="fbk_000000000000_not-a-key") as stranger:
        assert stranger.post("/v1/search", json={"query": "parking"}).status_code == 401


def test_only_the_gateway_is_published(image_set: ImageSet) -> None:
    published: dict[str, list[str]] = {}
    for service in ("postgres", "s3", "clamd", "api", "worker", "gateway"):
        info: list[dict[str, Any]] = json.loads(
            podman("inspect", image_set.container(service)).stdout)
        ports = info[0]["NetworkSettings"].get("Ports") or {}
        published[service] = [f"{b['HostIp']}:{b['HostPort']}"
                              for bindings in ports.values() if bindings for b in bindings]
    gateway = published.pop("gateway")
    assert f"127.0.0.1:{image_set.port}" in gateway and len(gateway) == 2, gateway
    assert published == {s: [] for s in published}, published
    (control,) = [b for b in gateway if b != f"127.0.0.1:{image_set.port}"]
    assert control.startswith("127.0.0.1:"), "the control listener is on loopback only"


def test_the_control_listener_passes_control_routes_alone(image_set: ImageSet) -> None:
    info: list[dict[str, Any]] = json.loads(
        podman("inspect", image_set.container("gateway")).stdout)
    (binding,) = info[0]["NetworkSettings"]["Ports"]["8080/tcp"]
    control = f"http://127.0.0.1:{binding['HostPort']}"
    # a control route reaches the api, which still wants the control key
    unauthorized = httpx.get(f"{control}/control/v1/suspension", timeout=10)
    assert unauthorized.status_code == 401, unauthorized.text
    # nothing a vendor uses is served there
    for path in ("/healthz", "/v1/documents", "/docs"):
        assert httpx.get(f"{control}{path}", timeout=10).status_code == 404, path
    # the metrics are served there (the api wants the control key), never to vendors
    assert httpx.get(f"{control}/metrics", timeout=10).status_code == 401
    with image_set.client() as vendor:
        for path in ("/control/v1/suspension", "/metrics"):
            assert vendor.get(path).status_code == 404, path


def test_the_tenant_config_and_audit_key_reach_the_data_plane(image_set: ImageSet) -> None:
    paths = [ROOT / "samples" / name for name in SAMPLES]
    with image_set.client() as client:
        # the tenant's limit (FROSTBYTE_TENANT_CONFIG): one file more than it allows
        over = [*paths, ROOT / "samples" / "parking-permit-faq.txt"]
        manifest = manifest_for(over, client_ref="over-the-limit")
        manifest["files"][-1]["name"] = "copy.txt"
        refused = client.post("/v1/batches", data={"manifest": json.dumps(manifest)},
                              files=[("files", (f["name"], p.read_bytes()))
                                     for f, p in zip(manifest["files"], over, strict=True)])
        # the export's checkpoint is signed with the tenant's key (the signing_key file)
        export = client.post("/v1/audit/export")
    assert refused.status_code == 413, refused.text
    assert f"the limit is {len(SAMPLES)}" in refused.text
    assert export.status_code == 200, export.text
    head = json.loads(export.text.splitlines()[0])["manifest"]
    expected = public_key_text(load_signing_key(image_set.signing_key.encode()))
    assert head["public_key"] == expected, head


def _host_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # no packet is sent: picks the outbound interface
        address: str = s.getsockname()[0]
        return address


def _probe(image_set: ImageSet, network: str, host: str, port: int) -> bool:
    """Whether a container on ``network`` opens a TCP connection to ``host:port``."""
    out = podman("run", "--rm", "--network", network, "--entrypoint",
                 "/opt/frostbyte/bin/python", f"localhost/frostbyte/dataplane:{VERSION}", "-c",
                 "import socket,sys\n"
                 "try:\n"
                 f"    socket.create_connection(({host!r}, {port}), timeout=5).close()\n"
                 "except OSError as e:\n"
                 "    print(e); sys.exit(3)\n", check=False, timeout=120)
    assert out.returncode in (0, 3), out.stderr
    return out.returncode == 0


def test_the_stores_network_is_internal(image_set: ImageSet) -> None:
    listener = socket.create_server(("0.0.0.0", 0))  # reachable from containers
    port = listener.getsockname()[1]
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.5)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        host = _host_address()
        edge = json.loads(podman("network", "inspect", f"{image_set.project}_edge").stdout)[0]
        edge_gateway = edge["subnets"][0]["gateway"]
        backend = f"{image_set.project}_backend"
        internal = json.loads(podman("network", "inspect", backend).stdout)[0]
        assert internal.get("internal") is True
        # the probe can succeed: from the gateway's (published) network the host answers
        assert _probe(image_set, f"{image_set.project}_edge", edge_gateway, port)
        for address in (host, edge_gateway, "127.0.0.1"):
            assert not _probe(image_set, backend, address, port), address
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_volumes_hold_the_stores_and_roots_are_read_only(image_set: ImageSet) -> None:
    for service in ("postgres", "s3", "clamd", "api", "worker", "gateway"):
        info = json.loads(podman("inspect", image_set.container(service)).stdout)[0]
        assert info["HostConfig"]["ReadonlyRootfs"] is True, service
        assert info["Config"]["User"] not in ("", "root", "0"), service
    names = set(podman("volume", "ls", "--format", "{{.Name}}").stdout.split())
    for volume in ("pg-data", "s3-data", "clamav-db", "api-data", "worker-data"):
        assert f"{image_set.project}_{volume}" in names
