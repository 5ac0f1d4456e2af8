"""``make test-hosts``: two tenant hosts as network namespaces, the real playbooks applied
over SSH (connection sharing off) from a control namespace, and what the firewall from the
tenants' policy lets through. The data plane is a stand-in process (``standin_dataplane.py``)
run by the roles' ``process`` engine: no container engine runs on these machines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from control_plane.domain.firewall import build_policy, nftables_ruleset
from control_plane.providers.hetzner.ansible import (
    AnsibleRunnerPlaybooks,
    PlaybookFailed,
    build_inventory,
)
from tests.hosts.harness import CONTROL_ADDRESS, Host, Lab

pytestmark = pytest.mark.slow

VENDOR_PORT = 443
STORE_PORT = 5432
STANDIN = Path(__file__).with_name("standin_dataplane.py")


def secrets_of(tenant: str) -> dict[str, str]:
    return {"db_password": f"pw-{tenant}-7d1e9f0b3c-never-logged",
            "vendor_key_pepper": f"pepper-{tenant}-55c2a9e4-never-logged",
            "object_store_secret_key": f"osk-{tenant}-0f3b8d2a-never-logged"}


def host_vars(host: Host) -> dict[str, Any]:
    base = str(host.base_dir)
    return {
        "ansible_become": False,  # we log in as root; these hosts have no sudo
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
        "dataplane_deploy_process_python": sys.executable,
        "dataplane_deploy_process_release_src": str(STANDIN),
        "dataplane_deploy_process_argv": [sys.executable, f"{base}/release/dataplane.py"],
        "dataplane_deploy_process_services": [{"name": "api", "args": ["serve"]}],
        "dataplane_deploy_ready_url": f"http://127.0.0.1:{VENDOR_PORT}/readyz",
        "dataplane_deploy_ready_retries": 40,
        "dataplane_deploy_ready_delay": 0.5,
        "dataplane_deploy_env": {
            "FROSTBYTE_DP_TENANT": host.name,
            "FROSTBYTE_DP_HOST": "0.0.0.0",
            "FROSTBYTE_DP_PORT": str(VENDOR_PORT),
            "FROSTBYTE_DP_STORE_PORT": str(STORE_PORT),
            "FROSTBYTE_DP_DATA_DIR": f"{base}/data",
        },
        "dataplane_update_base_dir": base,
        "dataplane_wipe_base_dir": base,
        "dataplane_wipe_process_services": ["api"],
    }


class Tenants:
    def __init__(self, lab: Lab, key: Path) -> None:
        self.lab = lab
        self.key = key
        self.output: list[str] = []
        self.runner = AnsibleRunnerPlaybooks(
            lab.root / "runs", argv_prefix=["ip", "netns", "exec", lab.control])

    def play(self, host: Host, playbook: str, *, secrets: bool = False,
             extravars: dict[str, Any] | None = None) -> None:
        assert host.policy is not None
        inventory = build_inventory(
            host.name, {"public_ipv4": host.address}, user="root", key_file=self.key,
            known_hosts=self.lab.root / f"known_hosts-{host.name}", host_vars=host_vars(host))
        self.runner.run(playbook, inventory=inventory, extravars={
            "dataplane_engine": "process",
            "dataplane_tenant_config": {"embedding": {"mode": "offline"}},
            "dataplane_host_nftables_ruleset": nftables_ruleset(host.policy),
            **(extravars or {})},
            secrets=secrets_of(host.name) if secrets else None,
            on_output=self.output.append, timeout_s=240)


@pytest.fixture(scope="module")
def tenants(lab: Lab) -> Tenants:
    key = lab.root / "cp_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                   check=True)
    public = key.with_name("cp_ed25519.pub").read_text("utf-8").strip()
    for index, name in ((1, "tenant-a"), (2, "tenant-b")):
        # each tenant's vendor allow-list holds only the control namespace (standing in for
        # the vendor); SSH only from the control plane's address
        policy = build_policy(name, allowed_cidrs=[f"{CONTROL_ADDRESS}/32"],
                              control_plane_addresses=[CONTROL_ADDRESS],
                              embedding_mode="offline", vendor_port=VENDOR_PORT)
        lab.add_host(name, index, policy, public)
    made = Tenants(lab, key)
    for host in lab.hosts.values():
        made.play(host, "site.yml", secrets=True)
    return made


def test_each_data_plane_answers_readyz_from_the_control_namespace(
        lab: Lab, tenants: Tenants) -> None:
    for host in lab.hosts.values():
        status, body = lab.http_get(lab.control, f"http://{host.address}:{VENDOR_PORT}/readyz")
        assert status == 200, body
        assert json.loads(body) == {"tenant": host.name, "ready": True}


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
        assert secrets_of(host.name)["db_password"] in env_file.read_text("utf-8")
        assert (host.base_dir / "data" / "schema-version").exists(), "migrate ran"
    artifacts = b"".join(p.read_bytes() for p in (lab.root / "runs").rglob("*")
                         if p.is_file())
    for host in lab.hosts.values():
        for value in secrets_of(host.name).values():
            assert value.encode() not in artifacts
            assert not any(value in line for line in tenants.output)


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
        # the store listens on every address of the host, yet only 443 and 22 are allowed
        assert lab.can_connect(host.netns, "127.0.0.1", STORE_PORT)
        assert not lab.can_connect(lab.control, host.address, STORE_PORT)


def test_no_connection_sharing_socket_is_left(lab: Lab, tenants: Tenants) -> None:
    assert not list(Path.home().glob(".ansible/cp/*"))
    assert "ControlPersist=no" in (Path(__file__).parents[2] / "playbooks" / "ansible.cfg"
                                   ).read_text("utf-8")


def test_update_rolls_forward_and_back_on_a_failed_health_check(
        lab: Lab, tenants: Tenants) -> None:
    host = lab.hosts["tenant-b"]
    version = host.base_dir / "compose" / "VERSION"
    release = host.base_dir / "release" / "dataplane.py"
    tenants.play(host, "update.yml", extravars={
        "dataplane_update_version": "0.2.0", "dataplane_update_release_src": str(STANDIN)})
    assert version.read_text("utf-8").strip() == "0.2.0"

    broken = lab.root / "broken_release.py"
    broken.write_text("raise SystemExit('this release never becomes ready')\n", "utf-8")
    with pytest.raises(PlaybookFailed, match=r"update\.yml"):
        tenants.play(host, "update.yml", extravars={
            "dataplane_update_version": "0.3.0", "dataplane_update_release_src": str(broken)})
    assert any("rolled back to 0.2.0" in line for line in tenants.output)
    assert version.read_text("utf-8").strip() == "0.2.0"
    assert release.read_bytes() == STANDIN.read_bytes()
    status, body = lab.http_get(lab.control, f"http://{host.address}:{VENDOR_PORT}/readyz")
    assert status == 200, body


def test_wipe_leaves_no_data_or_secret(lab: Lab, tenants: Tenants) -> None:
    host = lab.hosts["tenant-a"]
    tenants.play(host, "wipe.yml")
    for folder in ("data", "secrets", "compose", "logs"):
        assert not (host.base_dir / folder).exists(), folder
    # what stays is code (the launcher and the release), neither data nor secret
    leftovers = [p for p in host.base_dir.rglob("*") if p.is_file()]
    assert {p.name for p in leftovers} <= {"envexec.py", "dataplane.py"}, leftovers
    status, _ = lab.http_get(lab.control, f"http://{host.address}:{VENDOR_PORT}/readyz")
    assert status == 0, "the data plane is gone"
    # tenant B is untouched
    other = lab.hosts["tenant-b"]
    assert lab.http_get(lab.control, f"http://{other.address}:{VENDOR_PORT}/readyz")[0] == 200
