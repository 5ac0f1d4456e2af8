"""``make test-hosts``: two tenant hosts as network namespaces, the real playbooks applied
over SSH (connection sharing off) from a control namespace, and the product's data plane
running on each host — its own PostgreSQL, clamd, API and worker, started by the roles'
``process`` engine from a wheel of this checkout (no container engine runs on these
machines). Then: readiness and a real ingest and search through the vendor port from the
control namespace, what the firewall from the tenants' policies lets through, an update
rolled forward and one rolled back, and a wipe that leaves nothing behind. Each host's
objects are in its own SeaweedFS, run by the same engine, read back here with the tenant's
key: ciphertext only."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from control_plane.domain.tenant_secrets import generate_tenant_secrets
from control_plane.providers.hetzner.ansible import (
    AnsibleRunnerPlaybooks,
    PlaybookFailed,
    build_inventory,
)
from frostbyte_common.firewall import build_policy, nftables_ruleset
from frostbyte_common.vendor_keys import IssuedKey, generate_key
from frostbyte_common.version import __version__
from tests.hosts.harness import CONTROL_ADDRESS, Host, Lab

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
VENDOR_PORT = 443
STORE_PORT = 5433  # the host's own PostgreSQL (never 5432 on this machine)
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
        # SeaweedFS as an account of its own that is neither root nor the data plane's
        # (the hosts share this machine's accounts: none is made)
        "dataplane_deploy_seaweedfs_manage_user": False,
        "dataplane_deploy_seaweedfs_user": "nobody",
        "dataplane_deploy_seaweedfs_group": "nogroup",
        "dataplane_deploy_seaweedfs_ports": seaweedfs_ports(host),
        "dataplane_deploy_seaweedfs_volume_size_limit_mb": 64,
        "dataplane_deploy_ready_url": f"http://127.0.0.1:{VENDOR_PORT}/readyz",
        "dataplane_deploy_ready_retries": 180,
        "dataplane_deploy_ready_delay": 1,
        "dataplane_deploy_env": {
            "FROSTBYTE_DP_TENANT": host.name,
            "FROSTBYTE_DP_HOST": "0.0.0.0",
            "FROSTBYTE_DP_PORT": str(VENDOR_PORT),
            "FROSTBYTE_DP_AUDIT_CHECKPOINT_EVERY_S": "5",
            "PYTHONUNBUFFERED": "1",
            "HF_HUB_OFFLINE": "1",
            "DO_NOT_TRACK": "1",
        },
        "dataplane_update_base_dir": base,
        "dataplane_wipe_base_dir": base,
    }


class Tenants:
    """Plays the playbooks against the lab's hosts, as the hetzner provider does."""

    def __init__(self, lab: Lab, key: Path, wheel: Path) -> None:
        self.lab = lab
        self.key = key
        self.wheel = wheel
        self.output: list[str] = []
        self.secrets: dict[str, dict[str, str]] = {}
        self.runner = AnsibleRunnerPlaybooks(
            lab.root / "runs", argv_prefix=["ip", "netns", "exec", lab.control])

    def play(self, host: Host, playbook: str, *, secrets: bool = False,
             extravars: dict[str, Any] | None = None) -> None:
        assert host.policy is not None
        inventory = build_inventory(
            host.name, {"public_ipv4": host.address}, user="root", key_file=self.key,
            known_hosts=self.lab.root / f"known_hosts-{host.name}",
            host_vars=host_vars(host, self.wheel))
        self.runner.run(playbook, inventory=inventory, extravars={
            "dataplane_engine": "process",
            "dataplane_tenant_config": {"embedding": {"mode": "offline"}},
            "dataplane_host_nftables_ruleset": nftables_ruleset(host.policy),
            **(extravars or {})},
            secrets=self.secrets_of(host) if secrets else None,
            on_output=self._record, timeout_s=900)

    def _record(self, line: str) -> None:
        """Keep the playbooks' output (checked for secrets) and print it: pytest shows what a
        failed test printed."""
        self.output.append(line)
        print(line)

    def secrets_of(self, host: Host) -> dict[str, str]:
        """The tenant's secrets as the control plane generates them (SOPS-held there)."""
        return self.secrets.setdefault(host.name, generate_tenant_secrets())

    def install_key(self, host: Host, scopes: list[str]) -> IssuedKey:
        issued = generate_key()
        self.play(host, "vendor_key.yml", extravars={"dataplane_vendor_key": {
            "action": "add", "key_id": issued.key_id, "sha256": issued.sha256,
            "scopes": scopes, "label": "hosts-test"}})
        return issued


def make_tenants(lab: Lab, wheel: Path, hosts: list[tuple[int, str, list[str]]],
                 extravars: dict[str, Any] | None = None) -> Tenants:
    """Build the hosts (index, name, vendor allow-list) and apply site.yml to each."""
    key = lab.root / "cp_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True)
    public = key.with_name("cp_ed25519.pub").read_text("utf-8").strip()
    made = Tenants(lab, key, wheel)
    for index, name, allowed in hosts:
        policy = build_policy(name, allowed_cidrs=allowed,
                              control_plane_addresses=[CONTROL_ADDRESS],
                              embedding_mode="offline", vendor_port=VENDOR_PORT)
        made.play(lab.add_host(name, index, policy, public), "site.yml", secrets=True,
                  extravars=extravars)
    return made


def stop_all(lab: Lab, tenants: Tenants) -> None:
    """Stop what still runs through stop.yml (PostgreSQL with a fast shutdown) before the lab
    kills what is left in its namespaces."""
    for host in lab.hosts.values():
        if list(host.base_dir.glob("*.pid")):
            tenants.play(host, "stop.yml")


@pytest.fixture(scope="module")
def tenants(lab: Lab, release_wheel: Path) -> Iterator[Tenants]:
    # each tenant's vendor allow-list holds only the control namespace (standing in for the
    # vendor); SSH only from the control plane's address
    vendor = [f"{CONTROL_ADDRESS}/32"]
    made = make_tenants(lab, release_wheel, [(1, "tenant-a", vendor), (2, "tenant-b", vendor)])
    yield made
    stop_all(lab, made)


@pytest.fixture(scope="module")
def keys(tenants: Tenants, lab: Lab) -> dict[str, IssuedKey]:
    return {name: tenants.install_key(host, ["ingest", "read", "audit"])
            for name, host in lab.hosts.items()}


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
    object, by name) and whether it may make another bucket; ``error``: the S3 refusal."""
    request = {"endpoint": f"127.0.0.1:{seaweedfs_ports(host)['s3']}",
               "bucket": f"fb-{host.name}", "access_key": access_key,
               "secret_key": secret_key}
    done = subprocess.run(["ip", "netns", "exec", host.netns, sys.executable, "-c",
                           _BUCKET_READER], input=json.dumps(request), capture_output=True,
                          text=True, timeout=60, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    result["objects"] = {name: base64.b64decode(data)
                         for name, data in result.get("objects", {}).items()}
    return result


def assert_ciphertext_only(lab: Lab, host: Host, secrets: dict[str, str]) -> None:
    """The tenant's bucket holds the raw file and its canonical JSON, encrypted: no phrase of
    the sample in any object (nor anywhere in SeaweedFS's files); its key may not make a
    bucket."""
    read = read_bucket(lab, host, secrets["object_store_access_key"],
                       secrets["object_store_secret_key"])
    assert read.get("error") == "AccessDenied", "the tenant's key made a bucket"
    objects = read["objects"]
    assert len(objects) >= 2, sorted(objects)
    assert SAMPLE.read_bytes() not in b"".join(objects.values())
    on_disk = b"".join(p.read_bytes() for p in (host.base_dir / "data" / "seaweedfs").rglob("*")
                       if p.is_file())
    for phrase in PLAINTEXT:
        assert not any(phrase in data for data in objects.values()), phrase
        assert phrase not in on_disk, phrase


def cli(lab: Lab, host: Host, key: IssuedKey, *args: str) -> subprocess.CompletedProcess[str]:
    """The frostbyte CLI, run as a vendor would: from the control namespace, over the
    network, to the host's vendor port."""
    env = {**os.environ, "FROSTBYTE_ENDPOINT": f"http://{host.address}:{VENDOR_PORT}",
           "FROSTBYTE_KEY": key.key, "NO_COLOR": "1"}
    return subprocess.run(["ip", "netns", "exec", lab.control, sys.executable, "-m",
                           "frostbyte_cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)


def test_each_data_plane_is_ready_with_its_own_database_and_scanner(
        lab: Lab, tenants: Tenants) -> None:
    for host in lab.hosts.values():
        status, body = lab.http_get(lab.control, f"http://{host.address}:{VENDOR_PORT}/readyz")
        assert status == 200, body
        ready = json.loads(body)
        assert ready["tenant"] == host.name and ready["scanner"] == "clamd"
        assert ready["checks"] == {"model": True, "database": True, "object_store": True,
                                   "scanner": True}


def test_a_vendor_ingests_and_searches_through_the_vendor_port(
        lab: Lab, tenants: Tenants, keys: dict[str, IssuedKey]) -> None:
    host = lab.hosts["tenant-a"]
    done = cli(lab, host, keys["tenant-a"], "batch", "submit", str(SAMPLE), "--json",
               "--timeout", "600")
    assert done.returncode == 0, done.stdout + done.stderr
    (document,) = json.loads(done.stdout)["documents"]
    assert document["status"] == "INDEXED", document
    found = cli(lab, host, keys["tenant-a"], "search", "who declares a security incident",
                "--json")
    assert found.returncode == 0, found.stderr
    result = json.loads(found.stdout)
    assert result["hits"] and result["hits"][0]["document_id"] == document["document_id"]
    assert_ciphertext_only(lab, host, tenants.secrets_of(host))
    # tenant B's bucket, on its own server, stays empty
    other_read = read_bucket(lab, lab.hosts["tenant-b"],
                             *(tenants.secrets_of(lab.hosts["tenant-b"])[name]
                               for name in ("object_store_access_key", "object_store_secret_key")))
    assert other_read["objects"] == {}
    verified = cli(lab, host, keys["tenant-a"], "audit", "verify", "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"] is True
    # tenant B's data plane knows neither the document nor tenant A's key
    other = lab.hosts["tenant-b"]
    refused = cli(lab, other, keys["tenant-a"], "search", "security incident", "--json")
    assert refused.returncode != 0 and "UNAUTHENTICATED" in refused.stdout + refused.stderr
    empty = cli(lab, other, keys["tenant-b"], "search", "who declares a security incident",
                "--json")
    assert empty.returncode == 0 and json.loads(empty.stdout)["hits"] == []


def test_the_roles_left_hardening_firewall_and_private_secrets(
        lab: Lab, tenants: Tenants) -> None:
    for host in lab.hosts.values():
        dropin = (host.sshd_dropins / "10-frostbyte.conf").read_text("utf-8")
        assert "PasswordAuthentication no" in dropin
        # forwarding only to the data plane's loopback port (the control channel)
        assert "AllowTcpForwarding local" in dropin and "PermitOpen 127.0.0.1:8080" in dropin
        assert "PermitListen none" in dropin and "AllowStreamLocalForwarding no" in dropin
        live = subprocess.run(["ip", "netns", "exec", host.netns, "nft", "list", "ruleset"],
                              capture_output=True, text=True, check=True).stdout
        assert "policy drop" in live and f"{CONTROL_ADDRESS} tcp dport 22 accept" in live
        env_file = host.base_dir / "secrets" / "dataplane.env"
        assert env_file.stat().st_mode & 0o777 == 0o600
        assert tenants.secrets_of(host)["db_password"] in env_file.read_text("utf-8")
        cluster = host.base_dir / "data" / "pg"
        assert cluster.stat().st_mode & 0o777 == 0o700 and cluster.owner() == "postgres"
        assert "scram-sha-256" in (cluster / "pg_hba.conf").read_text("utf-8")
        s3_config = host.base_dir / "seaweedfs" / "s3.json"
        assert s3_config.stat().st_mode & 0o777 == 0o600 and s3_config.owner() == "nobody"
        weed = int((host.base_dir / "seaweedfs.pid").read_text("utf-8"))
        assert Path(f"/proc/{weed}").owner() == "nobody", "weed runs as its own account"
    artifacts = b"".join(p.read_bytes() for p in (lab.root / "runs").rglob("*")
                         if p.is_file())
    for host in lab.hosts.values():
        for value in tenants.secrets_of(host).values():
            assert value.encode() not in artifacts
            assert not any(value in line for line in tenants.output)
        # nor in any log the data plane and its stores wrote
        logs = b"".join(p.read_bytes() for p in (host.base_dir / "logs").rglob("*")
                        if p.is_file())
        for name in ("db_password", "object_store_secret_key", "object_data_keys"):
            assert tenants.secrets_of(host)[name].encode() not in logs, name


@pytest.mark.parametrize(("source", "target"), [("tenant-b", "tenant-a"),
                                                ("tenant-a", "tenant-b")])
def test_a_tenant_cannot_reach_another_tenant(lab: Lab, tenants: Tenants, source: str,
                                              target: str) -> None:
    src, dst = lab.hosts[source], lab.hosts[target]
    # the network itself routes between them (the router forwards): only the policy stops it
    assert lab.can_connect(lab.control, dst.address, VENDOR_PORT)
    for port in (VENDOR_PORT, 22, STORE_PORT):
        assert not lab.can_connect(src.netns, dst.address, port), f"{source} reached {port}"


def test_stores_are_not_reachable_even_from_the_control_namespace(
        lab: Lab, tenants: Tenants) -> None:
    for host in lab.hosts.values():
        # PostgreSQL listens on every address of the host, yet only 443 and 22 are allowed
        assert lab.can_connect(host.netns, host.address, STORE_PORT)
        assert not lab.can_connect(lab.control, host.address, STORE_PORT)


def test_no_connection_sharing_socket_is_left(lab: Lab, tenants: Tenants) -> None:
    assert not list(Path.home().glob(".ansible/cp/*"))
    assert "ControlPersist=no" in (ROOT / "playbooks" / "ansible.cfg").read_text("utf-8")


def test_update_rolls_forward_and_back_on_a_failed_release(
        lab: Lab, tenants: Tenants, keys: dict[str, IssuedKey], release_wheel: Path,
        broken_wheel: Path) -> None:
    host = lab.hosts["tenant-b"]
    version = host.base_dir / "compose" / "VERSION"
    current = host.base_dir / "release" / "current"
    done = cli(lab, host, keys["tenant-b"], "batch", "submit", str(SAMPLE), "--json",
               "--timeout", "600")
    assert done.returncode == 0, done.stdout + done.stderr

    tenants.play(host, "update.yml", extravars={
        "dataplane_update_version": "0.2.0", "dataplane_update_release_src": str(release_wheel)})
    assert version.read_text("utf-8").strip() == "0.2.0"
    assert str(current.readlink()) == "0.2.0"

    with pytest.raises(PlaybookFailed, match=r"update\.yml"):
        tenants.play(host, "update.yml", extravars={
            "dataplane_update_version": "0.3.0",
            "dataplane_update_release_src": str(broken_wheel)})
    assert any("rolled back to 0.2.0" in line for line in tenants.output)
    assert version.read_text("utf-8").strip() == "0.2.0"
    assert str(current.readlink()) == "0.2.0"
    status, body = lab.http_get(lab.control, f"http://{host.address}:{VENDOR_PORT}/readyz")
    assert status == 200, body
    # the data survived both restarts
    found = cli(lab, host, keys["tenant-b"], "search", "who declares a security incident",
                "--json")
    assert found.returncode == 0 and json.loads(found.stdout)["hits"], found.stderr


def test_wipe_leaves_no_data_secret_or_process(lab: Lab, tenants: Tenants) -> None:
    host = lab.hosts["tenant-a"]
    pids = [int(p.read_text("utf-8")) for p in host.base_dir.glob("*.pid")]
    assert len(pids) == 5, "postgres, seaweedfs, clamd, api and worker ran"
    tenants.play(host, "wipe.yml")
    for folder in ("data", "secrets", "compose", "logs", "run", "clamd", "seaweedfs"):
        assert not (host.base_dir / folder).exists(), folder
    assert not list(host.base_dir.glob("*.pid"))
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"pid {pid} still runs"
    # nor weed's gRPC sockets in /tmp
    ports = seaweedfs_ports(host)
    for kind in SEAWEEDFS_KINDS:
        assert not Path(f"/tmp/seaweedfs-{kind}-grpc-{ports[kind + '_grpc']}.sock").exists()
    # what stays is code (the launcher, the link to weed and the releases): no secret in it
    leftovers = [p for p in host.base_dir.rglob("*") if p.is_file() and not p.is_symlink()]
    assert {p.relative_to(host.base_dir).parts[0] for p in leftovers} <= {"bin", "release"}
    stored = b"".join(p.read_bytes() for p in leftovers)
    for value in tenants.secrets_of(host).values():
        assert value.encode() not in stored
    status, _ = lab.http_get(lab.control, f"http://{host.address}:{VENDOR_PORT}/readyz")
    assert status == 0, "the data plane is gone"
    # tenant B is untouched
    other = lab.hosts["tenant-b"]
    assert lab.http_get(lab.control, f"http://{other.address}:{VENDOR_PORT}/readyz")[0] == 200
