"""The namespace test hosts with the roles' ``process`` engine: the product's data plane as
processes on each host — its own PostgreSQL, clamd, SeaweedFS, API and worker, from a wheel of
this checkout — behind its TLS gateway (nginx on the vendor port, with a certificate the
control plane's CA issued for the host; the data plane itself on the host's loopback only),
over SSH from a control namespace. Then, with certificate verification on: readiness and a
real ingest and search through the gateway, plain HTTP refused by nginx, what the firewall
from the tenants' policies lets through, an update rolled forward and one rolled back, and a
wipe that leaves nothing behind; each host's objects are read back with the tenant's key:
ciphertext only. This needs no image, so
``make test`` runs it on a fresh clone; ``test_namespace_hosts.py`` runs the same checks on
the real image set (podman engine) once ``make images`` has built it. The lab and the
playbook runner are shared with that module."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from control_plane.providers.hetzner.ansible import PlaybookFailed
from frostbyte_common.vendor_keys import IssuedKey
from tests.hosts.harness import CONTROL_ADDRESS, Lab
from tests.hosts.test_namespace_hosts import (
    DATA_PLANE_PORT,
    ROOT,
    SAMPLE,
    SEAWEEDFS_KINDS,
    STORE_PORT,
    VENDOR_PORT,
    Tenants,
    assert_ciphertext_only,
    cli,
    https_get,
    make_tenants,
    read_bucket,
    seaweedfs_ports,
    stop_all,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tenants(lab: Lab, release_wheel: Path) -> Iterator[Tenants]:
    # each tenant's vendor allow-list holds only the control namespace (standing in for the
    # vendor); SSH only from the control plane's address
    vendor = [f"{CONTROL_ADDRESS}/32"]
    made = make_tenants(lab, release_wheel, [(1, "tenant-a", vendor), (2, "tenant-b", vendor)],
                        engine="process")
    yield made
    stop_all(lab, made)


@pytest.fixture(scope="module")
def ca_file(lab: Lab, tenants: Tenants) -> Path:
    """The control plane's CA certificate, as a vendor's client gets it."""
    path = lab.root / "ca-for-clients.pem"
    path.write_text(tenants.ca.certificate_pem(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def keys(tenants: Tenants, lab: Lab) -> dict[str, IssuedKey]:
    return {name: tenants.install_key(host, ["ingest", "read", "audit"])
            for name, host in lab.hosts.items()}


def test_each_data_plane_is_ready_through_its_gateway_with_a_verified_certificate(
        lab: Lab, tenants: Tenants, ca_file: Path) -> None:
    for host in lab.hosts.values():
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
        # plain HTTP on the vendor port reaches only nginx's refusal
        plain, body = https_get(lab, lab.control, f"http://{host.address}:{VENDOR_PORT}/readyz",
                                None)
        assert plain == 400 and "plain HTTP request was sent to HTTPS port" in body, body
        # the data plane listens on the host's loopback only: not on its address, even
        # from the host itself, and not for the control namespace
        assert lab.can_connect(host.netns, "127.0.0.1", DATA_PLANE_PORT)
        assert not lab.can_connect(host.netns, host.address, DATA_PLANE_PORT)
        assert not lab.can_connect(lab.control, host.address, DATA_PLANE_PORT)


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
    assert_ciphertext_only(lab, host, tenants.secrets_of(host))
    # tenant B's bucket, on its own server, stays empty
    other_read = read_bucket(lab, lab.hosts["tenant-b"],
                             *(tenants.secrets_of(lab.hosts["tenant-b"])[name]
                               for name in ("object_store_access_key", "object_store_secret_key")))
    assert other_read["objects"] == {}
    verified = cli(lab, host, keys["tenant-a"], "audit", "verify", "--json", ca=ca_file)
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"] is True
    # tenant B's data plane knows neither the document nor tenant A's key
    other = lab.hosts["tenant-b"]
    refused = cli(lab, other, keys["tenant-a"], "search", "security incident", "--json",
                  ca=ca_file)
    assert refused.returncode != 0 and "UNAUTHENTICATED" in refused.stdout + refused.stderr
    empty = cli(lab, other, keys["tenant-b"], "search", "who declares a security incident",
                "--json", ca=ca_file)
    assert empty.returncode == 0 and json.loads(empty.stdout)["hits"] == [], empty.stderr


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
        # the gateway's key: root's only, in root's 0700 folder; nginx's master runs from it
        gateway = host.base_dir / "gateway"
        assert gateway.stat().st_mode & 0o777 == 0o700 and gateway.owner() == "root"
        key = gateway / "server.key"
        assert key.stat().st_mode & 0o777 == 0o600 and key.owner() == "root"
        assert key.read_text("utf-8").strip() == tenants.secrets_of(host)["tls_key"].strip()
        nginx = int((host.base_dir / "gateway.pid").read_text("utf-8"))
        assert Path(f"/proc/{nginx}/exe").resolve() == Path("/usr/sbin/nginx")
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
    for port in (VENDOR_PORT, 22, STORE_PORT, DATA_PLANE_PORT):
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
        broken_wheel: Path, ca_file: Path) -> None:
    host = lab.hosts["tenant-b"]
    version = host.base_dir / "compose" / "VERSION"
    current = host.base_dir / "release" / "current"
    done = cli(lab, host, keys["tenant-b"], "batch", "submit", str(SAMPLE), "--json",
               "--timeout", "600", ca=ca_file)
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
    status, body = https_get(lab, lab.control, f"https://{host.address}/readyz", ca_file)
    assert status == 200, body
    # the data survived both restarts
    found = cli(lab, host, keys["tenant-b"], "search", "who declares a security incident",
                "--json", ca=ca_file)
    assert found.returncode == 0 and json.loads(found.stdout)["hits"], found.stderr


def test_wipe_leaves_no_data_secret_or_process(lab: Lab, tenants: Tenants,
                                                ca_file: Path) -> None:
    host = lab.hosts["tenant-a"]
    pids = [int(p.read_text("utf-8")) for p in host.base_dir.glob("*.pid")]
    assert len(pids) == 6, "postgres, seaweedfs, clamd, api, worker and gateway ran"
    tenants.play(host, "wipe.yml")
    for folder in ("data", "secrets", "compose", "logs", "run", "clamd", "seaweedfs",
                   "gateway"):
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
    status, _ = https_get(lab, lab.control, f"https://{host.address}/readyz", ca_file)
    assert status == 0, "the data plane is gone"
    # tenant B is untouched
    other = lab.hosts["tenant-b"]
    assert https_get(lab, lab.control, f"https://{other.address}/readyz", ca_file)[0] == 200
