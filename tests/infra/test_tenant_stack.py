"""The ``infra/`` program under Pulumi's own mocks (no CLI, no Hetzner account): what it would
ask Hetzner for, checked resource by resource. Nothing here pretends a real ``pulumi up``."""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from frostbyte_common.firewall import CLOSED_EGRESS_DESCRIPTION, WORLD, build_policy
from frostbyte_common.network_plan import allocate_block, overlapping
from infra.cloud_init import SECRET_PATTERNS, SecretInUserData, user_data
from infra.config import args_from_config, program
from infra.tenant_stack import TenantStack, TenantStackArgs

CP = "203.0.113.10"
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBfakefakefakefakefakefakefakefakefakefake cp"
UNLABELLED = {"hcloud:index/networkSubnet:NetworkSubnet"}  # Hetzner subnets have no labels


class Mocks(pulumi.runtime.Mocks):
    """Records every resource the program registers and answers like Hetzner would."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []
        self._ids = itertools.count(1000)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        outputs = dict(args.inputs)
        if args.typ == "hcloud:index/server:Server":
            outputs.update(ipv4Address="198.51.100.20", ipv6Address="2001:db8::1")
        return str(next(self._ids)), outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


def run(body: Callable[[], None], *, stack: str = "tenant-acme",
        config: dict[str, str] | None = None) -> list[pulumi.runtime.MockResourceArgs]:
    """Run ``body`` as a Pulumi program against fresh mocks; the registered resources."""
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, project="frostbyte-tenant", stack=stack, preview=False)
    pulumi.runtime.set_all_config(config or {})

    @pulumi.runtime.test  # type: ignore[misc]
    def program_under_test() -> None:
        body()

    program_under_test()
    return mocks.resources


def stack_args(tenant: str = "acme", *, mode: str = "offline",
               cidrs: tuple[str, ...] = ("198.51.100.0/24",),
               network: str = "10.64.0.0/24") -> TenantStackArgs:
    policy = build_policy(tenant, allowed_cidrs=cidrs, control_plane_addresses=[CP],
                          embedding_mode=mode,  # type: ignore[arg-type]
                          egress_cidrs=["104.18.2.0/24"], dns_resolvers=["185.12.64.1"])
    return TenantStackArgs(tenant=tenant, policy=policy, network_cidr=network,
                           ssh_public_key=PUBLIC_KEY)


def of_type(resources: list[pulumi.runtime.MockResourceArgs], suffix: str
            ) -> list[pulumi.runtime.MockResourceArgs]:
    return [r for r in resources if r.typ.endswith(suffix)]


def rules_of(resources: list[pulumi.runtime.MockResourceArgs]) -> list[dict[str, Any]]:
    (firewall,) = of_type(resources, ":Firewall")
    rules: list[dict[str, Any]] = firewall.inputs["rules"]
    return rules


def is_world(cidr: str) -> bool:
    return ipaddress.ip_network(cidr).prefixlen == 0


# -- firewall ----------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["offline", "online"])
@pytest.mark.parametrize("cidrs", [("198.51.100.0/24",), WORLD, ()])
def test_no_inbound_rule_opens_anything_to_the_world_but_the_vendor_port(
        mode: str, cidrs: tuple[str, ...]) -> None:
    resources = run(lambda: TenantStack("t", stack_args(mode=mode, cidrs=cidrs)))
    inbound = [r for r in rules_of(resources) if r["direction"] == "in"]
    for rule in inbound:
        world = [c for c in rule.get("sourceIps", []) if is_world(c)]
        if world:
            assert rule["protocol"] == "tcp" and rule["port"] == "443", rule
            assert set(cidrs) == set(WORLD), "world opened although the tenant did not ask"
    ssh = [r for r in inbound if r["port"] == "22"]
    assert ssh == [{"direction": "in", "protocol": "tcp", "port": "22",
                    "sourceIps": [f"{CP}/32"], "description": "SSH from the control plane only"}]
    assert {r["port"] for r in inbound} == ({"22", "443"} if cidrs else {"22"})


def test_offline_tenant_has_no_permitted_public_outbound() -> None:
    resources = run(lambda: TenantStack("t", stack_args(mode="offline")))
    outbound = [r for r in rules_of(resources) if r["direction"] == "out"]
    # one rule is required to switch Hetzner's outbound to allow-list mode; it names only the
    # tenant's own private network, which Hetzner's firewall does not filter anyway
    assert outbound == [{"direction": "out", "protocol": "icmp",
                         "destinationIps": ["10.64.0.0/24"],
                         "description": CLOSED_EGRESS_DESCRIPTION}]


def test_online_tenant_may_reach_https_and_dns_only() -> None:
    resources = run(lambda: TenantStack("t", stack_args(mode="online")))
    outbound = [r for r in rules_of(resources) if r["direction"] == "out"]
    assert {(r["protocol"], r["port"]) for r in outbound} == {
        ("tcp", "443"), ("udp", "53"), ("tcp", "53")}
    dns = [r for r in outbound if r["port"] == "53"]
    assert all(r["destinationIps"] == ["185.12.64.1/32"] for r in dns)
    (https,) = [r for r in outbound if r["port"] == "443"]
    assert https["destinationIps"] == ["104.18.2.0/24"]  # the embedding API's, not the world


# -- networks ----------------------------------------------------------------------------------
def test_two_tenants_never_get_overlapping_networks() -> None:
    taken: dict[str, str] = {}
    seen: list[str] = []
    for tenant in ("acme", "globex", "initech"):
        block = allocate_block(tenant, taken)
        taken[tenant] = block
        resources = run(lambda t=tenant, b=block: TenantStack(  # type: ignore[misc]
            "t", stack_args(t, network=b)), stack=f"tenant-{tenant}")
        (network,) = of_type(resources, ":Network")
        (subnet,) = of_type(resources, ":NetworkSubnet")
        assert network.inputs["ipRange"] == subnet.inputs["ipRange"] == block
        seen.append(network.inputs["ipRange"])
    nets = [ipaddress.ip_network(c) for c in seen]
    assert not any(a.overlaps(b) for a, b in itertools.combinations(nets, 2))
    assert overlapping(taken) == []


def test_allocation_is_stable_and_first_free() -> None:
    taken = {"acme": "10.64.0.0/24", "initech": "10.64.2.0/24"}
    assert allocate_block("acme", taken) == "10.64.0.0/24"
    assert allocate_block("globex", taken) == "10.64.1.0/24"
    assert allocate_block("hooli", {**taken, "globex": "10.64.1.0/24"}) == "10.64.3.0/24"
    # a wider block someone holds is skipped as a whole
    assert allocate_block("x", {"big": "10.64.0.0/22"}) == "10.64.4.0/24"


def test_server_is_attached_to_its_network_firewall_and_key() -> None:
    resources = run(lambda: TenantStack("t", stack_args()))
    (server,) = of_type(resources, ":Server")
    (firewall,) = of_type(resources, ":Firewall")
    (network,) = of_type(resources, ":Network")
    (key,) = of_type(resources, ":SshKey")
    (volume,) = of_type(resources, ":Volume")
    ids = {r.name: r for r in resources}
    assert server.inputs["firewallIds"] and server.inputs["sshKeys"]
    assert server.inputs["networks"][0]["ip"] == "10.64.0.2"
    assert server.inputs["serverType"] == "cx32" and server.inputs["location"] == "fsn1"
    assert server.inputs["image"] == "debian-12"
    assert key.inputs["publicKey"] == PUBLIC_KEY
    assert volume.inputs["serverId"] and volume.inputs["format"] == "ext4"
    assert firewall.name in ids and network.name in ids


# -- labels and user data ------------------------------------------------------------------------
def test_every_resource_carries_the_tenant_label() -> None:
    resources = run(lambda: TenantStack("t", stack_args("globex", network="10.64.9.0/24")))
    hetzner = [r for r in resources if r.typ.startswith("hcloud:")]
    assert {r.typ.rsplit(":", 1)[1] for r in hetzner} == {
        "Network", "NetworkSubnet", "Firewall", "SshKey", "Server", "Volume"}
    for resource in hetzner:
        if resource.typ in UNLABELLED:
            continue
        assert resource.inputs.get("labels", {}).get("tenant") == "globex", resource.typ
    for resource in hetzner:
        assert resource.name.startswith("fb-globex-")
    component = [r for r in resources if r.typ == "frostbyte:tenant:TenantStack"]
    assert len(component) == 1
    children = [r for r in hetzner if r.typ != "hcloud:index/networkSubnet:NetworkSubnet"]
    assert all(r.inputs.get("labels", {}).get("managed-by") == "frostbyte" for r in children)


def test_no_secret_in_user_data() -> None:
    resources = run(lambda: TenantStack("t", stack_args(mode="online")))
    (server,) = of_type(resources, ":Server")
    text = server.inputs["userData"]
    assert text.startswith("#cloud-config\n")
    assert not any(p.search(text) for p in SECRET_PATTERNS)
    assert "PasswordAuthentication no" in text and "PermitRootLogin prohibit-password" in text
    assert "policy drop;" in text  # the host firewall from the same policy


def test_user_data_guard_refuses_a_secret() -> None:
    args = stack_args()
    policy = build_policy("acme", allowed_cidrs=[], control_plane_addresses=[CP],
                          embedding_mode="offline")
    object.__setattr__(policy, "tenant", "acme password=hunter2")
    with pytest.raises(SecretInUserData):
        user_data(policy)
    assert args.policy.tenant == "acme"


@pytest.mark.parametrize("key", ["-----BEGIN OPENSSH PRIVATE KEY-----\nabc", "not-a-key"])
def test_private_or_bad_ssh_key_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="public key"):
        TenantStackArgs(tenant="acme", policy=stack_args().policy,
                        network_cidr="10.64.0.0/24", ssh_public_key=key)


# -- the program as Pulumi runs it ---------------------------------------------------------------
def test_program_reads_stack_config() -> None:
    config = {
        "frostbyte:tenant": "acme",
        "frostbyte:networkCidr": "10.64.7.0/24",
        "frostbyte:sshPublicKey": PUBLIC_KEY,
        "frostbyte:allowedCidrs": '["198.51.100.0/24"]',
        "frostbyte:controlPlaneAddresses": f'["{CP}"]',
        "frostbyte:embeddingMode": "online",
        "frostbyte:egressCidrs": '["104.18.2.0/24"]',
        "frostbyte:serverType": "cpx41",
        "frostbyte:location": "nbg1",
        "frostbyte:image": "debian-12",
        "frostbyte:volumeSizeGb": "100",
    }
    resources = run(program, config=config)
    (server,) = of_type(resources, ":Server")
    (volume,) = of_type(resources, ":Volume")
    assert server.inputs["serverType"] == "cpx41" and server.inputs["location"] == "nbg1"
    assert volume.inputs["size"] == 100
    assert any(r["direction"] == "out" and r["port"] == "443" for r in rules_of(resources))
    assert args_from_config(pulumi.Config("frostbyte")).network_cidr == "10.64.7.0/24"


def test_program_refuses_ssh_from_the_world() -> None:
    config = {
        "frostbyte:tenant": "acme", "frostbyte:networkCidr": "10.64.7.0/24",
        "frostbyte:sshPublicKey": PUBLIC_KEY,
        "frostbyte:controlPlaneAddresses": '["0.0.0.0/0"]',
    }
    with pytest.raises(Exception, match="SSH"):
        run(program, config=config)


def test_pulumi_project_runs_this_program_as_the_cli_would() -> None:
    import runpy
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    project = yaml.safe_load((root / "Pulumi.yaml").read_text("utf-8"))
    assert project["main"].rstrip("/") == "infra"
    assert project["runtime"]["name"] == "python"
    config = {
        "frostbyte:tenant": "acme", "frostbyte:networkCidr": "10.64.7.0/24",
        "frostbyte:sshPublicKey": PUBLIC_KEY,
        "frostbyte:controlPlaneAddresses": f'["{CP}"]',
    }
    resources = run(lambda: runpy.run_path(str(root / "infra" / "__main__.py")),
                    config=config)
    assert len(of_type(resources, ":Server")) == 1
