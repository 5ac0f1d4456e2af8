"""The control plane's ``hetzner`` provider driving a namespace host for real: only the
Pulumi stack is a fake (``up`` answers with the host's address as the server's IPv4, as no
Pulumi CLI or Hetzner account exists here). Everything after it is the product: the
tenant's secrets from the SOPS store handed to ansible-runner through the FIFO, ``site.yml``
over SSH from the control namespace, the real data plane started by the process engine
behind its TLS gateway (the certificate the provider's CA issued; every vendor call
verifies it), health checks, a vendor key installed by the provider and used through the
gateway, stop/start with the data kept, a rotation, the provider's SSH control channel to
the data plane's loopback port with a control key installed as the control plane installs it
(answering while the vendor port is closed to the control plane; an unknown SSH key
refused; every ssh ended), and deprovisioning that wipes the host and destroys the stack."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from control_plane.adapters.certificate_authority import FileCertificateAuthority
from control_plane.adapters.secret_store import SopsAgeSecretStore
from control_plane.domain.lifecycle import Tenant, TenantState
from control_plane.domain.tenant_secrets import generate_tenant_secrets
from control_plane.providers.hetzner.ansible import AnsibleRunnerPlaybooks
from control_plane.providers.hetzner.provider import HetznerOptions, HetznerProvider
from control_plane.providers.hetzner.stack import OutputSink, StackConfig, StackNotFound
from frostbyte_common import tls
from frostbyte_common.firewall import build_policy
from frostbyte_common.tenant_config import TenantConfig
from frostbyte_common.vendor_keys import generate_key
from tests.hosts.control_channel_probe import probe
from tests.hosts.harness import CONTROL_ADDRESS, Host, Lab
from tests.hosts.test_namespace_hosts import (
    DATA_PLANE_PORT,
    SAMPLE,
    STORE_PORT,
    VENDOR_PORT,
    assert_ciphertext_only,
    cli,
    host_vars,
    https_get,
    read_bucket,
)

# about 10–14 min on two cores: past make test's budget, run by make test-hosts
pytestmark = [pytest.mark.slow, pytest.mark.hosts_long]

SLUG = "tenant-d"


class HostStacks:
    """The StackRunner with no Pulumi behind it: one stack whose server is the lab host."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.stacks: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []

    def up(self, stack: str, config: StackConfig, on_output: OutputSink,
           timeout_s: float) -> dict[str, Any]:
        self.calls.append(f"up {stack}")
        on_output(f"Updating ({stack}): a namespace host stands for the server")
        self.stacks[stack] = {"server_id": "1", "public_ipv4": self.address,
                              "private_ipv4": self.address, "firewall_id": "2",
                              "network_id": "3", "volume_id": ""}
        return dict(self.stacks[stack])

    def refresh(self, stack: str, config: StackConfig, on_output: OutputSink,
                timeout_s: float) -> None:
        self.calls.append(f"refresh {stack}")
        if stack not in self.stacks:
            raise StackNotFound(f"stack {stack} does not exist")

    def destroy(self, stack: str, config: StackConfig, on_output: OutputSink,
                timeout_s: float) -> None:
        self.calls.append(f"destroy {stack}")
        self.stacks.pop(stack, None)

    def outputs(self, stack: str) -> dict[str, Any]:
        return dict(self.stacks.get(stack, {}))

    def resources(self, stack: str) -> list[str]:
        return ["server"] if stack in self.stacks else []

    def remove(self, stack: str) -> None:
        self.calls.append(f"remove {stack}")


def can_log_in(host: Host, password: str) -> bool:
    """Whether the data plane's database role accepts ``password`` (over TCP on the host,
    as the API and worker log in)."""
    code = ("import sys, psycopg\ntry:\n psycopg.connect(sys.argv[1]).close()\n"
            "except psycopg.OperationalError:\n raise SystemExit(1)")
    url = f"host=127.0.0.1 port={STORE_PORT} user=frostbyte dbname=frostbyte password={password}"
    done = subprocess.run(["ip", "netns", "exec", host.netns, sys.executable, "-c", code, url],
                          capture_output=True, timeout=60, check=False)
    return done.returncode == 0


@pytest.fixture(scope="module")
def driven(lab: Lab, release_wheel: Path) -> Iterator[tuple[HetznerProvider, Host, Tenant]]:
    key = lab.root / "cp_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                   check=True)
    public = key.with_name("cp_ed25519.pub").read_text("utf-8").strip()
    # the server boots with its policy (cloud-init on Hetzner); site.yml renders it again
    boot = build_policy(SLUG, allowed_cidrs=[f"{CONTROL_ADDRESS}/32"],
                        control_plane_addresses=[CONTROL_ADDRESS], embedding_mode="offline",
                        vendor_port=VENDOR_PORT)
    host = lab.add_host(SLUG, 4, boot, public)
    secrets = SopsAgeSecretStore(lab.root / "secrets")
    secrets.put(SLUG, generate_tenant_secrets())
    site_vars = host_vars(host, release_wheel)
    options = HetznerOptions(
        hcloud_token="not-used-by-the-fake", ssh_public_key=public, ssh_private_key_file=key,
        control_plane_addresses=(CONTROL_ADDRESS,), container_engine="process",
        inventory_vars=site_vars)  # the control channel: the default data_plane_port, 8080
    provider = HetznerProvider(
        options, stacks=HostStacks(host.address),
        playbooks=AnsibleRunnerPlaybooks(lab.root / "runs",
                                         argv_prefix=["ip", "netns", "exec", lab.control]),
        secrets=secrets, state_dir=lab.root / "cp-state",
        authority=FileCertificateAuthority(lab.root / "cp-ca"))
    now = datetime.now(UTC)
    tenant = Tenant(slug=SLUG, display_name=SLUG, provider="hetzner",
                    state=TenantState.PROVISIONING, config={}, created_at=now,
                    updated_at=now)
    yield provider, host, tenant
    if list(host.base_dir.glob("*.pid")):
        provider.stop(tenant)


def test_the_provider_provisions_serves_stops_and_deprovisions_a_host(
        lab: Lab, driven: tuple[HetznerProvider, Host, Tenant]) -> None:
    provider, host, tenant = driven
    config = TenantConfig.model_validate({
        "embedding": {"mode": "offline"},
        "network": {"allowed_cidrs": [f"{CONTROL_ADDRESS}/32"]}})
    endpoint = provider.provision(tenant, config)
    assert endpoint == f"https://{host.address}"
    # the CA issued the server's certificate for its address, kept in the SOPS secrets
    authority = FileCertificateAuthority(lab.root / "cp-ca")
    kept = SopsAgeSecretStore(lab.root / "secrets").get(SLUG)
    assert tls.hosts(kept["tls_cert"]) == [host.address]
    assert tls.signed_by(kept["tls_cert"], authority.certificate_pem())
    first_fingerprint = provider.tls_fingerprint(tenant)
    assert first_fingerprint == tls.fingerprint(kept["tls_cert"])
    assert provider.is_healthy(tenant)
    # vendors trust the control plane's CA: the gateway serves the certificate it issued
    ca = lab.root / "cp-ca-for-clients.pem"
    ca.write_text(authority.certificate_pem(), encoding="utf-8")
    status, body = https_get(lab, lab.control, f"{endpoint}/readyz", ca)
    assert status == 200, body
    assert json.loads(body)["checks"] == {"model": True, "database": True,
                                          "object_store": True, "scanner": True,
                                          "signatures": True}
    plain, body = https_get(lab, lab.control, f"http://{host.address}:{VENDOR_PORT}/readyz",
                            None)
    assert plain == 400, body  # nginx's refusal of plain HTTP on its TLS port
    assert not lab.can_connect(lab.control, host.address, DATA_PLANE_PORT)

    issued = generate_key()
    provider.install_vendor_key(tenant, issued.key_id, issued.sha256, ["ingest", "read"],
                                "vendor")
    done = cli(lab, host, issued, "batch", "submit", str(SAMPLE), "--json", "--timeout", "600",
               ca=ca)
    assert done.returncode == 0, done.stdout + done.stderr

    stopped = provider.stop(tenant)
    assert stopped and not provider.is_healthy(tenant)
    assert https_get(lab, lab.control, f"{endpoint}/readyz", ca)[0] == 0
    assert provider.start(tenant, config) == endpoint and provider.is_healthy(tenant)
    found = cli(lab, host, issued, "search", "who declares a security incident", "--json",
                ca=ca)
    assert found.returncode == 0 and json.loads(found.stdout)["hits"], found.stderr

    # a rotation: new secrets in the SOPS file (the data keys kept behind a new one, as the
    # rotation service does), applied — the old database password and object-store key are
    # refused at once, the new ones work, the documents and their objects stay readable
    secrets = SopsAgeSecretStore(lab.root / "secrets")
    old = secrets.get(SLUG)
    assert_ciphertext_only(lab, host, old)
    secrets.put(SLUG, generate_tenant_secrets(old))
    assert provider.apply_secrets(tenant, config) == endpoint
    new = secrets.get(SLUG)
    # the rotation re-issued the certificate too
    assert new["tls_cert"] != old["tls_cert"] and new["tls_key"] != old["tls_key"]
    assert provider.tls_fingerprint(tenant) == tls.fingerprint(new["tls_cert"])
    assert provider.tls_fingerprint(tenant) != first_fingerprint
    assert not can_log_in(host, old["db_password"])
    assert can_log_in(host, new["db_password"])
    refused_key = read_bucket(lab, host, old["object_store_access_key"],
                              old["object_store_secret_key"])
    assert refused_key["error"] in {"InvalidAccessKeyId", "AccessDenied"}
    assert_ciphertext_only(lab, host, new)
    # the gateway serves the new certificate (the old one's CA is the same: still trusted)
    status, body = https_get(lab, lab.control, f"{endpoint}/readyz", ca)
    assert status == 200, body
    assert (host.base_dir / "gateway" / "server.crt").read_text("utf-8").strip() == \
        new["tls_cert"].strip()
    found = cli(lab, host, issued, "search", "who declares a security incident", "--json",
                ca=ca)
    assert found.returncode == 0 and json.loads(found.stdout)["hits"], found.stderr
    # and a new document is stored with the new key
    faq = SAMPLE.with_name("parking-permit-faq.txt")
    later = cli(lab, host, issued, "batch", "submit", str(faq), "--json", "--timeout", "600",
                ca=ca)
    assert later.returncode == 0, later.stdout + later.stderr
    assert json.loads(later.stdout)["documents"][0]["status"] == "INDEXED"

    provider.revoke_vendor_key(tenant, issued.key_id)
    refused = cli(lab, host, issued, "search", "security incident", "--json", ca=ca)
    assert refused.returncode != 0 and "UNAUTHENTICATED" in refused.stdout + refused.stderr

    # the control channel: the provider's SSH forward to the data plane's loopback port, a
    # control route called through it with a control key installed as the control plane
    # installs it — while the vendor port is closed to the control plane (as when the
    # vendors are elsewhere: its allow-list is the tenant's; a rule of the test stands in
    # for a re-applied allow-list without the control namespace)
    control_key = generate_key()
    provider.install_vendor_key(tenant, control_key.key_id, control_key.sha256, ["control"],
                                "control-plane")
    subprocess.run(["ip", "netns", "exec", host.netns, "nft", "insert", "rule", "inet",
                    "frostbyte", "input", "ip", "saddr", CONTROL_ADDRESS, "tcp", "dport",
                    str(VENDOR_PORT), "drop"], check=True, capture_output=True)
    assert not lab.can_connect(lab.control, host.address, VENDOR_PORT)
    result = probe(lab, host, lab.root / "cp_ed25519", control_key,
                   data_plane_port=DATA_PLANE_PORT, vendor_port=VENDOR_PORT)
    assert result["url"].startswith("http://127.0.0.1:")
    assert result["suspended"] is False, "GET /control/v1/suspension answered"
    assert result["vendor_port_open"] is False, "the vendor port stays closed to us"
    assert result["alive_during"] is True and result["alive_after"] is False
    unknown = result["unknown_key"]
    assert unknown["status"] == 502 and unknown["code"] == "DATA_PLANE_ERROR", unknown
    assert "Permission denied" in unknown["message"], unknown
    assert result["any_alive"] is False, "every ssh the channel started was ended"
    assert not list(Path.home().glob(".ssh/cm-*")) and not list(
        Path.home().glob(".ansible/cp/*")), "no shared connection left"

    pids = [int(p.read_text("utf-8")) for p in host.base_dir.glob("*.pid")]
    provider.deprovision(tenant)
    assert all(provider.verify_deprovisioned(tenant).values())
    for folder in ("data", "secrets", "run", "logs", "seaweedfs", "gateway"):
        assert not (host.base_dir / folder).exists(), folder
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    job_log = provider.job_log(SLUG).read_text("utf-8") if provider.job_log(SLUG).exists() \
        else ""
    for value in SopsAgeSecretStore(lab.root / "secrets").get(SLUG).values():
        assert value not in job_log
