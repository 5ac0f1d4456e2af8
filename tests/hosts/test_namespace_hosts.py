"""``make test-hosts``: two tenant hosts as network namespaces, the real playbooks applied
over SSH (connection sharing off) from a control namespace, and on each host the product's
real image set (``make images``: dist/images/<version>) deployed by the roles' ``podman``
engine — archives copied to the host and loaded into its own podman, secrets as files, the
gateway's certificate issued by a control-plane CA for the host's address, podman-compose
started, readiness waited for through the gateway's HTTPS. Then, from the control namespace
with certificate verification on: readiness, a real ingest and search with the ``frostbyte``
CLI; what the firewall from the tenants' policies lets through (the stores are on the set's
internal network and published nowhere); an update rolled forward and one rolled back to
the previous images; a wipe that leaves no container, volume, image, data or secret. The
objects in each tenant's S3 volume are read back with the tenant's key: ciphertext only.

The other modules here (``test_namespace_hosts_process.py``, the provider's own run) use the
roles' ``process`` engine — its data plane as processes behind an nginx gateway:
``make_tenants(..., engine="process")``."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from control_plane.adapters.certificate_authority import FileCertificateAuthority
from control_plane.domain.tenant_secrets import generate_tenant_secrets
from control_plane.providers.hetzner.ansible import (
    AnsibleRunnerPlaybooks,
    PlaybookFailed,
    build_inventory,
)
from frostbyte_common.firewall import build_policy, nftables_ruleset
from frostbyte_common.vendor_keys import IssuedKey, generate_key
from frostbyte_common.version import __version__
from tests.hosts.control_channel_probe import probe
from tests.hosts.harness import CONTROL_ADDRESS, Host, Lab

# the image set on two hosts (about 19 min, needs make images): run by make test-hosts
pytestmark = [pytest.mark.slow, pytest.mark.hosts_long]

ROOT = Path(__file__).resolve().parents[2]
VENDOR_PORT = 443
STORE_PORT = 5433  # the process engine's PostgreSQL (never 5432 on this machine)
# the process engine's data plane, on each host's loopback: the gateway's upstream and the
# control channel's target
DATA_PLANE_PORT = 8080
# the image set to deploy: `make images`' output, or another folder of the same shape
IMAGES = Path(os.environ.get("FROSTBYTE_HOSTS_IMAGES", ROOT / "dist" / "images" / __version__))
PODMAN_COMPOSE = str(Path(sys.executable).with_name("podman-compose"))
CONTAINERS_CONF = ROOT / "images" / "containers.conf"
# ports of the set's own services: published nowhere, so closed on the host's address
SET_PORTS = (5432, 8333, 8080, 8443)
SIGNATURES = "data_plane/adapters/clamav/signatures"
SAMPLE = ROOT / "samples" / "incident-response-runbook.md"
# phrases of SAMPLE: none may appear in what the object store holds
PLAINTEXT = (b"Ransomware on a production host", b"Confirm the alert is real",
             b"blameless post-mortem")
SEAWEEDFS_KINDS = ("master", "volume", "filer", "s3")


def seaweedfs_ports(host: Host) -> dict[str, int]:
    """The host's SeaweedFS ports. The hosts share this machine's /tmp, where weed makes a
    socket per gRPC port (a fixed path): each host gets ports of its own, below the
    ephemeral range."""
    base = 24000 + 20 * int(host.address.split(".")[2])
    return {name: base + offset for offset, name in enumerate(
        kind + suffix for kind in SEAWEEDFS_KINDS for suffix in ("", "_grpc"))}


def host_vars(host: Host, wheel: Path) -> dict[str, Any]:
    base = str(host.base_dir)
    return {
        "ansible_become": False,  # we log in as root; these hosts have no sudo
        "ansible_python_interpreter": sys.executable,
        "dataplane_host_install_packages": False,
        "dataplane_host_manage_user": False,  # the hosts share this machine's accounts
        "dataplane_host_user": "root",
        "dataplane_host_group": "root",
        "dataplane_host_base_dir": base,
        "dataplane_host_sshd_config_dir": str(host.sshd_dropins),
        "dataplane_host_nftables_file": str(host.nftables_file),
        "dataplane_host_service_manager": "none",
        "dataplane_deploy_user": "root",
        "dataplane_deploy_group": "root",
        "dataplane_deploy_base_dir": base,
        "dataplane_deploy_version": __version__,
        # the release is this checkout's wheel; its dependencies are this interpreter's
        "dataplane_deploy_process_python": sys.executable,
        "dataplane_deploy_process_release_src": str(wheel),
        "dataplane_deploy_database_port": STORE_PORT,
        # every address, so that only the host firewall keeps the store from the network
        "dataplane_deploy_postgres_listen": "*",
        "dataplane_deploy_clamd_database_dir": f"{base}/release/current/{SIGNATURES}",
        "dataplane_deploy_clamd_allow_test_signatures": True,  # the shipped test ones
        # SeaweedFS as an account of its own that is neither root nor the data plane's
        # (the hosts share this machine's accounts: none is made)
        "dataplane_deploy_seaweedfs_manage_user": False,
        "dataplane_deploy_seaweedfs_user": "nobody",
        "dataplane_deploy_seaweedfs_group": "nogroup",
        "dataplane_deploy_seaweedfs_ports": seaweedfs_ports(host),
        "dataplane_deploy_seaweedfs_volume_size_limit_mb": 64,
        # readiness through the gateway's HTTPS on the vendor port (the role's default URL);
        # the data plane itself listens on the host's loopback only (the role's default)
        "dataplane_deploy_ready_retries": 180,
        "dataplane_deploy_ready_delay": 1,
        "dataplane_deploy_env": {
            "FROSTBYTE_DP_TENANT": host.name,
            "FROSTBYTE_DP_HOST": "127.0.0.1",
            "FROSTBYTE_DP_PORT": str(DATA_PLANE_PORT),
            "FROSTBYTE_DP_AUDIT_CHECKPOINT_EVERY_S": "5",
            "PYTHONUNBUFFERED": "1",
            "HF_HUB_OFFLINE": "1",
            "DO_NOT_TRACK": "1",
        },
        "dataplane_update_base_dir": base,
        "dataplane_wipe_base_dir": base,
    }


def podman_host_vars(host: Host) -> dict[str, Any]:
    """The podman engine on a namespace host: the image set from dist/images, this
    machine's podman-compose (the hosts share its filesystem), the host's own engine
    folders (the harness's mount namespace)."""
    base = str(host.base_dir)
    return {
        "ansible_become": False,
        "ansible_python_interpreter": sys.executable,
        "dataplane_host_install_packages": False,
        "dataplane_host_manage_user": False,
        "dataplane_host_user": "root",
        "dataplane_host_group": "root",
        "dataplane_host_base_dir": base,
        "dataplane_host_sshd_config_dir": str(host.sshd_dropins),
        "dataplane_host_nftables_file": str(host.nftables_file),
        "dataplane_host_service_manager": "none",
        "dataplane_deploy_user": "root",
        "dataplane_deploy_group": "root",
        "dataplane_deploy_base_dir": base,
        "dataplane_deploy_version": __version__,
        "dataplane_deploy_podman_compose": PODMAN_COMPOSE,
        "dataplane_deploy_images_src": str(IMAGES),
        "dataplane_deploy_clamd_allow_test_signatures": True,  # the role's default ones
        "dataplane_deploy_ready_retries": 300,
        "dataplane_deploy_ready_delay": 1,
        "dataplane_update_base_dir": base,
        "dataplane_wipe_base_dir": base,
        "dataplane_wipe_podman_compose": PODMAN_COMPOSE,
    }


class Tenants:
    """Plays the playbooks against the lab's hosts, as the hetzner provider does."""

    def __init__(self, lab: Lab, key: Path, wheel: Path, engine: str = "process") -> None:
        self.lab = lab
        self.key = key
        self.wheel = wheel
        self.engine = engine
        self.output: list[str] = []
        self.secrets: dict[str, dict[str, str]] = {}
        # the control plane's CA: it issues each host's gateway certificate
        self.ca = FileCertificateAuthority(lab.root / "ca")
        self.runner = AnsibleRunnerPlaybooks(
            lab.root / "runs", argv_prefix=["ip", "netns", "exec", lab.control])

    def vars_of(self, host: Host) -> dict[str, Any]:
        if self.engine == "podman":
            return podman_host_vars(host)
        return host_vars(host, self.wheel)

    def play(self, host: Host, playbook: str, *, secrets: bool = False,
             extravars: dict[str, Any] | None = None,
             data: dict[str, Any] | None = None) -> None:
        assert host.policy is not None
        inventory = build_inventory(
            host.name, {"public_ipv4": host.address}, user="root", key_file=self.key,
            known_hosts=self.lab.root / f"known_hosts-{host.name}",
            host_vars=self.vars_of(host))
        self.runner.run(playbook, inventory=inventory, extravars={
            "dataplane_engine": self.engine,
            "dataplane_host_nftables_ruleset": nftables_ruleset(host.policy),
            "dataplane_tls_ca_pem": self.ca.certificate_pem(),
            **(extravars or {})},
            secrets=self.secrets_of(host) if secrets else None,
            on_output=self._record, timeout_s=1200,
            # what the tenant wrote goes as data, never as a (templated) extra var
            data={"tenant_config": {"embedding": {"mode": "offline"}}, **(data or {})})

    def _record(self, line: str) -> None:
        """Keep the playbooks' output (checked for secrets) and print it: pytest shows what a
        failed test printed."""
        self.output.append(line)
        print(line)

    def secrets_of(self, host: Host) -> dict[str, str]:
        """The tenant's secrets as the control plane generates them (SOPS-held there), with
        the gateway's key and certificate its CA issued for the host's address."""
        if host.name not in self.secrets:
            issued = self.ca.issue([host.address], common_name=host.name)
            self.secrets[host.name] = {**generate_tenant_secrets(),
                                       "tls_cert": issued.cert_pem, "tls_key": issued.key_pem}
        return self.secrets[host.name]

    def install_key(self, host: Host, scopes: list[str]) -> IssuedKey:
        issued = generate_key()
        self.play(host, "vendor_key.yml", data={"vendor_key": {
            "action": "add", "key_id": issued.key_id, "sha256": issued.sha256,
            "scopes": scopes, "label": "hosts-test"}})
        return issued


def make_tenants(lab: Lab, wheel: Path, hosts: list[tuple[int, str, list[str]]],
                 extravars: dict[str, Any] | None = None, *,
                 engine: str = "process") -> Tenants:
    """Build the hosts (index, name, vendor allow-list) and apply site.yml to each."""
    key = lab.root / "cp_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True)
    public = key.with_name("cp_ed25519.pub").read_text("utf-8").strip()
    made = Tenants(lab, key, wheel, engine)
    built = []
    for index, name, allowed in hosts:
        policy = build_policy(name, allowed_cidrs=allowed,
                              control_plane_addresses=[CONTROL_ADDRESS],
                              embedding_mode="offline", vendor_port=VENDOR_PORT)
        built.append(lab.add_host(name, index, policy, public))

    def deploy(host: Host) -> None:
        started = time.monotonic()
        made.play(host, "site.yml", secrets=True, extravars=extravars)
        print(f"\n{host.name}: site.yml ({engine} engine) deployed in "
              f"{time.monotonic() - started:.0f} s", file=sys.stderr)

    made.ca.certificate_pem()  # the CA is made once, before the threads ask it for certificates
    # the hosts are separate servers: deployed side by side, as the control plane's jobs do
    with ThreadPoolExecutor(max_workers=len(built)) as pool:
        for done in [pool.submit(deploy, host) for host in built]:
            done.result()
    return made


def stop_all(lab: Lab, tenants: Tenants) -> None:
    """Stop what still runs through stop.yml (PostgreSQL with a fast shutdown) before the lab
    kills what is left in its namespaces."""
    for host in lab.hosts.values():
        if list(host.base_dir.glob("*.pid")):
            tenants.play(host, "stop.yml")


_BUCKET_READER = """
import base64, json, sys
from minio import Minio
from minio.error import S3Error
a = json.load(sys.stdin)
s3 = Minio(a["endpoint"], access_key=a["access_key"], secret_key=a["secret_key"],
           secure=False, region="us-east-1")
out = {"objects": {}}
try:
    for o in s3.list_objects(a["bucket"], recursive=True):
        data = s3.get_object(a["bucket"], o.object_name).read()
        out["objects"][o.object_name] = base64.b64encode(data).decode()
    s3.make_bucket(a["bucket"] + "-2")
    out["make_bucket"] = "made"
except S3Error as exc:
    out["error"] = exc.code
print(json.dumps(out))
"""


def read_bucket(lab: Lab, host: Host, access_key: str, secret_key: str) -> dict[str, Any]:
    """What ``access_key`` reads from the tenant's bucket over the host's own loopback (every
    object, by name) and whether it may make another bucket; ``error``: the S3 refusal.
    (The process engine's SeaweedFS.)"""
    request = {"endpoint": f"127.0.0.1:{seaweedfs_ports(host)['s3']}",
               "bucket": f"fb-{host.name}", "access_key": access_key,
               "secret_key": secret_key}
    done = subprocess.run(["ip", "netns", "exec", host.netns, sys.executable, "-c",
                           _BUCKET_READER], input=json.dumps(request), capture_output=True,
                          text=True, timeout=60, check=True)
    return _decoded(done.stdout)


def _decoded(stdout: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(stdout)
    result["objects"] = {name: base64.b64decode(data)
                         for name, data in result.get("objects", {}).items()}
    return result


def assert_ciphertext_only(lab: Lab, host: Host, secrets: dict[str, str]) -> None:
    """The tenant's bucket holds the raw file and its canonical JSON, encrypted: no phrase of
    the sample in any object (nor anywhere in SeaweedFS's files); its key may not make a
    bucket. (The process engine's SeaweedFS.)"""
    read = read_bucket(lab, host, secrets["object_store_access_key"],
                       secrets["object_store_secret_key"])
    on_disk = b"".join(p.read_bytes() for p in (host.base_dir / "data" / "seaweedfs").rglob("*")
                       if p.is_file())
    _assert_ciphertext(read, on_disk)


def _assert_ciphertext(read: dict[str, Any], on_disk: bytes) -> None:
    assert read.get("error") == "AccessDenied", "the tenant's key made a bucket"
    objects = read["objects"]
    assert len(objects) >= 2, sorted(objects)
    assert SAMPLE.read_bytes() not in b"".join(objects.values())
    for phrase in PLAINTEXT:
        assert not any(phrase in data for data in objects.values()), phrase
        assert phrase not in on_disk, phrase


def cli(lab: Lab, host: Host, key: IssuedKey, *args: str,
        ca: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The frostbyte CLI, run as a vendor would: from the control namespace, over the
    network, to the host's vendor port (HTTPS verified against ``ca`` where given)."""
    scheme = "https" if ca else "http"
    env = {**os.environ, "FROSTBYTE_ENDPOINT": f"{scheme}://{host.address}:{VENDOR_PORT}",
           "FROSTBYTE_KEY": key.key, "NO_COLOR": "1"}
    if ca:
        env["FROSTBYTE_CA_CERT"] = str(ca)
    return subprocess.run(["ip", "netns", "exec", lab.control, sys.executable, "-m",
                           "frostbyte_cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)


# -- the podman engine ------------------------------------------------------------------------
def host_podman(host: Host, *args: str, stdin: str | None = None,
                check: bool = True) -> subprocess.CompletedProcess[str]:
    """podman as the host's own (its network and mount namespace: its own engine)."""
    done = subprocess.run([*host.enter(), "podman", *args], input=stdin, capture_output=True,
                          text=True, timeout=300, check=False,
                          env={**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)})
    if check:
        assert done.returncode == 0, f"podman {' '.join(args)}: {done.stderr[-2000:]}"
    return done


def container_of(host: Host, service: str) -> str:
    names = host_podman(host, "ps", "--filter", f"label=com.docker.compose.service={service}",
                        "--format", "{{.Names}}").stdout.split()
    assert len(names) == 1, f"{host.name}: containers of {service}: {names}"
    return names[0]


def https_get(lab: Lab, netns: str, url: str, ca: Path | None) -> tuple[int, str]:
    """GET from ``netns``, verifying the server against ``ca`` (None: plain HTTP). Status 0
    and the error's text when no HTTP answer came (refused, or TLS verification failed)."""
    code = ("import ssl, sys, urllib.request, urllib.error\n"
            "ca = sys.argv[2] or None\n"
            "ctx = ssl.create_default_context(cafile=ca) if ca else None\n"
            "try:\n r = urllib.request.urlopen(sys.argv[1], timeout=5, context=ctx)\n"
            " print(r.status); print(r.read().decode())\n"
            "except urllib.error.HTTPError as e:\n print(e.code); print(e.read().decode())\n"
            "except OSError as e:\n print(0); print(e)\n")
    out = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", code, url,
                          str(ca or "")], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    status, _, body = out.partition("\n")
    return int(status), body.strip()


@pytest.fixture(scope="module")
def ca_file(lab: Lab, tenants: Tenants) -> Path:
    """The control plane's CA certificate, as a vendor's client gets it."""
    path = lab.root / "ca-for-clients.pem"
    path.write_text(tenants.ca.certificate_pem(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tenants(lab: Lab, release_wheel: Path) -> Iterator[Tenants]:
    if not (IMAGES / "images.json").exists():
        pytest.skip(f"no image set in {IMAGES}: run `make images` first")
    if not Path(PODMAN_COMPOSE).exists() or shutil.which("podman") is None:
        pytest.skip("needs podman and the dev environment's podman-compose")
    # each tenant's vendor allow-list holds only the control namespace (standing in for the
    # vendor); SSH only from the control plane's address
    vendor = [f"{CONTROL_ADDRESS}/32"]
    made = make_tenants(lab, release_wheel, [(1, "tenant-a", vendor), (2, "tenant-b", vendor)],
                        engine="podman")
    yield made
    for host in lab.hosts.values():
        if host.name in ("tenant-a", "tenant-b"):
            lab.remove_containers(host)


@pytest.fixture(scope="module")
def keys(tenants: Tenants, lab: Lab) -> dict[str, IssuedKey]:
    return {name: tenants.install_key(lab.hosts[name], ["ingest", "read", "audit"])
            for name in ("tenant-a", "tenant-b")}


def read_set_bucket(host: Host, secrets: dict[str, str]) -> dict[str, Any]:
    """What the tenant's key reads from its bucket on the set's own S3 service, asked from
    inside the api container (the store is on the set's internal network only)."""
    request = {"endpoint": "s3:8333", "bucket": f"fb-{host.name}",
               "access_key": secrets["object_store_access_key"],
               "secret_key": secrets["object_store_secret_key"]}
    done = host_podman(host, "exec", "-i", container_of(host, "api"),
                       "/opt/frostbyte/bin/python", "-c", _BUCKET_READER,
                       stdin=json.dumps(request))
    return _decoded(done.stdout)


def test_each_set_is_ready_through_its_gateway_with_a_verified_certificate(
        lab: Lab, tenants: Tenants, ca_file: Path) -> None:
    for name in ("tenant-a", "tenant-b"):
        host = lab.hosts[name]
        status, body = https_get(lab, lab.control, f"https://{host.address}/readyz", ca_file)
        assert status == 200, body
        ready = json.loads(body)
        assert ready["tenant"] == host.name and ready["scanner"] == "clamd"
        # signatures: the hosts run the shipped test signatures, allowed and flagged so
        assert ready["checks"] == {"model": True, "database": True, "object_store": True,
                                   "scanner": True, "signatures": True}
        assert ready["signatures"]["test_only"] is True and ready["signatures"]["warning"]
        # the certificate is the one the CA issued for this host: no other CA is trusted
        untrusted, message = https_get(lab, lab.control, f"https://{host.address}/healthz",
                                       Path("/etc/ssl/certs/ca-certificates.crt"))
        assert untrusted == 0 and "CERTIFICATE_VERIFY_FAILED" in message, message
        # plain HTTP reaches only nginx's refusal; the app's own port answers nowhere
        plain, _ = https_get(lab, lab.control, f"http://{host.address}:{VENDOR_PORT}/readyz",
                             None)
        assert plain == 400
        for port in SET_PORTS:
            assert not lab.can_connect(lab.control, host.address, port), port


def test_a_vendor_ingests_and_searches_over_https(
        lab: Lab, tenants: Tenants, keys: dict[str, IssuedKey], ca_file: Path) -> None:
    host = lab.hosts["tenant-a"]
    done = cli(lab, host, keys["tenant-a"], "batch", "submit", str(SAMPLE), "--json",
               "--timeout", "600", ca=ca_file)
    assert done.returncode == 0, done.stdout + done.stderr
    (document,) = json.loads(done.stdout)["documents"]
    assert document["status"] == "INDEXED", document
    found = cli(lab, host, keys["tenant-a"], "search", "who declares a security incident",
                "--json", ca=ca_file)
    assert found.returncode == 0, found.stderr
    result = json.loads(found.stdout)
    assert result["hits"] and result["hits"][0]["document_id"] == document["document_id"]
    # the tenant's bucket on its set's S3 service: ciphertext only, and the key may not
    # make a bucket; nor is any phrase in the S3 volume's files
    volume = json.loads(host_podman(host, "volume", "inspect",
                                    "frostbyte-tenant-a_s3-data").stdout)[0]["Mountpoint"]
    on_disk = b"".join(p.read_bytes() for p in Path(volume).rglob("*") if p.is_file())
    _assert_ciphertext(read_set_bucket(host, tenants.secrets_of(host)), on_disk)
    other = lab.hosts["tenant-b"]
    assert read_set_bucket(other, tenants.secrets_of(other))["objects"] == {}
    verified = cli(lab, host, keys["tenant-a"], "audit", "verify", "--json", ca=ca_file)
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"] is True
    # tenant B's data plane knows neither the document nor tenant A's key
    refused = cli(lab, other, keys["tenant-a"], "search", "security incident", "--json",
                  ca=ca_file)
    assert refused.returncode != 0 and "UNAUTHENTICATED" in refused.stdout + refused.stderr
    empty = cli(lab, other, keys["tenant-b"], "search", "who declares a security incident",
                "--json", ca=ca_file)
    assert empty.returncode == 0 and json.loads(empty.stdout)["hits"] == [], empty.stderr


def test_the_roles_left_hardening_firewall_and_private_secret_files(
        lab: Lab, tenants: Tenants) -> None:
    for name in ("tenant-a", "tenant-b"):
        host = lab.hosts[name]
        dropin = (host.sshd_dropins / "10-frostbyte.conf").read_text("utf-8")
        assert "PasswordAuthentication no" in dropin
        live = subprocess.run(["ip", "netns", "exec", host.netns, "nft", "list", "ruleset"],
                              capture_output=True, text=True, check=True).stdout
        assert "policy drop" in live and f"{CONTROL_ADDRESS} tcp dport 22 accept" in live
        folder = host.base_dir / "secrets" / "files"
        assert folder.stat().st_mode & 0o777 == 0o700
        assert (folder / "tls_key").read_text("utf-8").strip() == \
            tenants.secrets_of(host)["tls_key"].strip()
        assert not (host.base_dir / "secrets" / "dataplane.env").exists()
        # the stores' network has no way out; only the gateway publishes ports: HTTPS for
        # vendors, its control listener on the host's loopback for the SSH channel
        backend = json.loads(host_podman(host, "network", "inspect",
                                         f"frostbyte-{name}_backend").stdout)[0]
        assert backend["internal"] is True
        published = host_podman(host, "ps", "--format", "{{.Names}} {{.Ports}}").stdout
        ports = {line.split(" ", 1)[0]: sorted(line.split(" ", 1)[1].split(", "))
                 for line in published.splitlines() if "->" in line}
        assert ports == {f"frostbyte-{name}_gateway_1": [
            f"0.0.0.0:{VENDOR_PORT}->8443/tcp", "127.0.0.1:8080->8080/tcp"]}, published
    artifacts = b"".join(p.read_bytes() for p in (lab.root / "runs").rglob("*")
                         if p.is_file())
    for name in ("tenant-a", "tenant-b"):
        host = lab.hosts[name]
        logs = "".join(host_podman(host, "logs", container_of(host, service), check=False
                                   ).stdout for service in ("api", "worker", "gateway"))
        for secret, value in tenants.secrets_of(host).items():
            if secret == "tls_cert":
                continue  # a certificate is public (its issuer's name is in the CA's)
            for line in value.strip().splitlines():
                if "-----" in line:
                    continue  # PEM armour lines are public
                assert line.encode() not in artifacts, secret
                assert not any(line in out for out in tenants.output), secret
                assert line not in logs, secret


@pytest.mark.parametrize(("source", "target"), [("tenant-b", "tenant-a"),
                                                ("tenant-a", "tenant-b")])
def test_a_tenant_cannot_reach_another_tenant(lab: Lab, tenants: Tenants, source: str,
                                              target: str) -> None:
    src, dst = lab.hosts[source], lab.hosts[target]
    # the network itself routes between them (the router forwards): only the policy stops it
    assert lab.can_connect(lab.control, dst.address, VENDOR_PORT)
    for port in (VENDOR_PORT, 22, *SET_PORTS):
        assert not lab.can_connect(src.netns, dst.address, port), f"{source} reached {port}"
    # nor from inside its set: the other host's gateway is out of reach of its containers
    done = host_podman(src, "exec", container_of(src, "gateway"), "timeout", "5", "bash",
                       "-c", f"exec 3<>/dev/tcp/{dst.address}/{VENDOR_PORT}", check=False)
    assert done.returncode != 0, "the gateway container reached the other tenant"
    # the probe itself works: it reaches the gateway's own port
    own = host_podman(src, "exec", container_of(src, "gateway"), "timeout", "5", "bash",
                      "-c", "exec 3<>/dev/tcp/127.0.0.1/8443", check=False)
    assert own.returncode == 0, own.stderr


def test_no_connection_sharing_socket_is_left(lab: Lab, tenants: Tenants) -> None:
    assert not list(Path.home().glob(".ansible/cp/*"))
    assert "ControlPersist=no" in (ROOT / "playbooks" / "ansible.cfg").read_text("utf-8")


def test_the_control_plane_reaches_the_set_through_its_ssh_channel(
        lab: Lab, tenants: Tenants) -> None:
    """The control channel (the provider's SSH forward to the host's 127.0.0.1:8080) ends at
    the gateway's control listener; the app itself is published nowhere."""
    host = lab.hosts["tenant-a"]
    control_key = tenants.install_key(host, ["control"])
    result = probe(lab, host, tenants.key, control_key, data_plane_port=8080,
                   vendor_port=VENDOR_PORT)
    assert result["url"].startswith("http://127.0.0.1:")
    assert result["suspended"] is False, "GET /control/v1/suspension answered"
    assert result["alive_during"] is True and result["any_alive"] is False
    # the control listener is on the host's loopback only
    assert not lab.can_connect(lab.control, host.address, 8080)


def _version_folder(host: Host, root: Path, version: str,
                    replace: dict[str, dict[str, str]]) -> Path:
    """dist/images/<version> as `make images` would write it for ``version``: the same
    images (archives linked; their ids those the host's podman gave them when it loaded
    them) tagged ``version``, except those in ``replace``."""
    folder = root / version
    folder.mkdir(parents=True)
    index = json.loads((IMAGES / "images.json").read_text("utf-8"))
    for entry in index["images"]:
        entry["id"] = host_podman(host, "image", "inspect", "--format", "{{.Id}}",
                                  entry["ref"]).stdout.strip()
        entry["ref"] = entry["ref"].rsplit(":", 1)[0] + f":{version}"
        entry.update(replace.get(entry["name"], {}))
        archive = Path(entry["archive"])
        entry["archive"] = archive.name
        (folder / archive.name).symlink_to(archive if archive.is_absolute()
                                           else IMAGES / archive.name)
    (folder / "images.json").write_text(json.dumps(index), encoding="utf-8")
    return folder


def _broken_gateway(folder: Path) -> dict[str, str]:
    """A gateway image that exits at once (as a release whose gateway breaks would), saved
    as an archive in ``folder``."""
    env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    ref = "localhost/frostbyte-test/gateway-broken:latest"
    work = subprocess.run(["buildah", "from", f"oci-archive:{IMAGES / 'gateway.tar'}"],
                          capture_output=True, text=True, check=True, env=env).stdout.strip()
    try:
        subprocess.run(["buildah", "config", "--entrypoint", '["/bin/false"]', "--cmd", "",
                        work], check=True, capture_output=True, env=env)
        image_id = subprocess.run(["buildah", "commit", "-q", work, ref], capture_output=True,
                                  text=True, check=True, env=env).stdout.strip()
    finally:
        subprocess.run(["buildah", "rm", work], capture_output=True, env=env, check=False)
    (folder / "gateway-broken.tar").unlink(missing_ok=True)
    subprocess.run(["podman", "save", "--format", "oci-archive", "-o",
                    str(folder / "gateway-broken.tar"), ref], check=True, capture_output=True,
                   env=env, timeout=300)
    subprocess.run(["podman", "rmi", ref], capture_output=True, env=env, check=False)
    return {"id": image_id, "archive": "gateway-broken.tar"}


def test_update_rolls_forward_and_back_to_the_previous_images(
        lab: Lab, tenants: Tenants, keys: dict[str, IssuedKey], ca_file: Path,
        tmp_path: Path) -> None:
    host = lab.hosts["tenant-b"]
    version = host.base_dir / "compose" / "VERSION"
    done = cli(lab, host, keys["tenant-b"], "batch", "submit", str(SAMPLE), "--json",
               "--timeout", "600", ca=ca_file)
    assert done.returncode == 0, done.stdout + done.stderr

    forward = _version_folder(host, tmp_path, "0.2.0", {})
    tenants.play(host, "update.yml", extravars={
        "dataplane_update_version": "0.2.0", "dataplane_update_images_src": str(forward)})
    assert version.read_text("utf-8").strip() == "0.2.0"
    assert container_of(host, "api")  # running again
    images = host_podman(host, "ps", "--format", "{{.Image}}").stdout.split()
    assert images and all(image.endswith(":0.2.0") for image in images), images

    gateway = _broken_gateway(tmp_path)
    back = _version_folder(host, tmp_path, "0.3.0", {"gateway": {
        "id": gateway["id"], "archive": str(tmp_path / gateway["archive"])}})
    with pytest.raises(PlaybookFailed, match=r"update\.yml"):
        tenants.play(host, "update.yml", extravars={
            "dataplane_update_version": "0.3.0", "dataplane_update_images_src": str(back),
            "dataplane_deploy_ready_retries": 60})
    assert any("rolled back to 0.2.0" in line for line in tenants.output)
    assert version.read_text("utf-8").strip() == "0.2.0"
    images = host_podman(host, "ps", "--format", "{{.Image}}").stdout.split()
    assert images and all(image.endswith(":0.2.0") for image in images), images
    status, body = https_get(lab, lab.control, f"https://{host.address}/readyz", ca_file)
    assert status == 200, body
    # the data survived both restarts
    found = cli(lab, host, keys["tenant-b"], "search", "who declares a security incident",
                "--json", ca=ca_file)
    assert found.returncode == 0 and json.loads(found.stdout)["hits"], found.stderr


def test_wipe_leaves_no_container_volume_image_data_or_secret(
        lab: Lab, tenants: Tenants, ca_file: Path) -> None:
    host = lab.hosts["tenant-a"]
    assert len(host_podman(host, "ps", "--quiet").stdout.split()) == 6, \
        "postgres, s3, clamd, api, worker and gateway ran"
    tenants.play(host, "wipe.yml")
    for what in (("ps", "--all", "--quiet"), ("volume", "ls", "--quiet"),
                 ("images", "--quiet"), ("network", "ls", "--quiet", "--filter",
                                         "name=^frostbyte-")):
        assert host_podman(host, *what).stdout.split() == [], what
    for folder in ("data", "secrets", "compose", "images"):
        assert not (host.base_dir / folder).exists(), folder
    stored = b"".join(p.read_bytes() for p in host.base_dir.rglob("*")
                      if p.is_file() and not p.is_symlink())
    for value in tenants.secrets_of(host).values():
        assert value.encode() not in stored
    status, _ = https_get(lab, lab.control, f"https://{host.address}/readyz", ca_file)
    assert status == 0, "the data plane is gone"
    # tenant B is untouched
    other = lab.hosts["tenant-b"]
    assert https_get(lab, lab.control, f"https://{other.address}/readyz", ca_file)[0] == 200
