"""``TenantStack``: one tenant's private network, firewall, server, volume and SSH key.

A :class:`pulumi.ComponentResource` (type ``frostbyte:tenant:TenantStack``) whose children are
parented to it and whose outputs are registered; every child that Hetzner can label carries
``tenant=<slug>`` and ``managed-by=frostbyte`` (a subnet has no labels in the Hetzner API).
The firewall comes from the tenant's :class:`~frostbyte_common.firewall.FirewallPolicy`,
the same model the host's nftables ruleset is rendered from.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_hcloud as hcloud

from frostbyte_common.firewall import FirewallPolicy, hetzner_rules
from frostbyte_common.network_plan import server_private_ip
from frostbyte_common.slugs import validate_slug
from infra.cloud_init import user_data

_PUBLIC_KEY_PREFIXES = ("ssh-ed25519 ", "ecdsa-sha2-nistp256 ", "ecdsa-sha2-nistp384 ",
                        "ecdsa-sha2-nistp521 ", "ssh-rsa ")


@dataclass(frozen=True, slots=True)
class TenantStackArgs:
    """Everything the stack needs; built from stack config by :mod:`infra.config`."""

    tenant: str
    policy: FirewallPolicy
    network_cidr: str
    ssh_public_key: str
    server_type: str = "cx32"
    location: str = "fsn1"
    image: str = "debian-12"
    network_zone: str = "eu-central"
    volume_size_gb: int = 50
    protect: bool = False

    def __post_init__(self) -> None:
        validate_slug(self.tenant)
        if self.policy.tenant != self.tenant:
            raise ValueError("the firewall policy belongs to another tenant")
        net = ipaddress.IPv4Network(self.network_cidr)
        if not net.is_private:
            raise ValueError(f"network {net} is not a private range")
        key = self.ssh_public_key.strip()
        if "PRIVATE KEY" in key or not key.startswith(_PUBLIC_KEY_PREFIXES):
            raise ValueError("ssh_public_key must be an OpenSSH public key (never a private key)")
        if not 10 <= self.volume_size_gb <= 10240:
            raise ValueError("volume_size_gb must be between 10 and 10240")

    @property
    def labels(self) -> dict[str, str]:
        return {"tenant": self.tenant, "managed-by": "frostbyte"}


class TenantStack(pulumi.ComponentResource):
    """The tenant's Hetzner resources. Outputs: ``server_id``, ``public_ipv4``,
    ``public_ipv6``, ``private_ipv4``, ``firewall_id``, ``network_id``, ``volume_id``."""

    server_id: pulumi.Output[str]
    public_ipv4: pulumi.Output[str]
    public_ipv6: pulumi.Output[str]
    private_ipv4: pulumi.Output[str]
    firewall_id: pulumi.Output[str]
    network_id: pulumi.Output[str]
    volume_id: pulumi.Output[str]

    def __init__(self, name: str, args: TenantStackArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("frostbyte:tenant:TenantStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        prefix = f"fb-{args.tenant}"
        labels = args.labels

        network = hcloud.Network(f"{prefix}-net", name=f"{prefix}-net",
                                 ip_range=args.network_cidr, labels=labels,
                                 delete_protection=args.protect, opts=child)
        network_id = network.id.apply(int)
        subnet = hcloud.NetworkSubnet(f"{prefix}-subnet", network_id=network_id, type="cloud",
                                      network_zone=args.network_zone,
                                      ip_range=args.network_cidr, opts=child)
        firewall = hcloud.Firewall(
            f"{prefix}-fw", name=f"{prefix}-fw", labels=labels,
            rules=[hcloud.FirewallRuleArgs(**rule)  # type: ignore[arg-type]
                   for rule in hetzner_rules(args.policy, private_cidr=args.network_cidr)],
            opts=child)
        ssh_key = hcloud.SshKey(f"{prefix}-key", name=f"{prefix}-deploy",
                                public_key=args.ssh_public_key.strip(), labels=labels,
                                opts=child)
        private_ip = server_private_ip(args.network_cidr)
        server = hcloud.Server(
            f"{prefix}-server", name=f"{prefix}-server", server_type=args.server_type,
            image=args.image, location=args.location, labels=labels,
            ssh_keys=[ssh_key.id], firewall_ids=[firewall.id.apply(int)],
            networks=[hcloud.ServerNetworkArgs(network_id=network_id, ip=private_ip,
                                               alias_ips=[])],
            public_nets=[hcloud.ServerPublicNetArgs(ipv4_enabled=True, ipv6_enabled=True)],
            user_data=user_data(args.policy), delete_protection=args.protect,
            rebuild_protection=args.protect, shutdown_before_deletion=True,
            # Hetzner refuses to attach a server to a network that has no subnet yet
            opts=pulumi.ResourceOptions(parent=self, depends_on=[subnet]))
        volume = hcloud.Volume(f"{prefix}-data", name=f"{prefix}-data",
                               size=args.volume_size_gb, server_id=server.id.apply(int),
                               automount=False, format="ext4", labels=labels,
                               delete_protection=args.protect, opts=child)

        self.server_id = server.id
        self.public_ipv4 = server.ipv4_address
        self.public_ipv6 = server.ipv6_address
        self.private_ipv4 = pulumi.Output.from_input(private_ip)
        self.firewall_id = firewall.id
        self.network_id = network.id
        self.volume_id = volume.id
        self.register_outputs({
            "server_id": self.server_id, "public_ipv4": self.public_ipv4,
            "public_ipv6": self.public_ipv6, "private_ipv4": self.private_ipv4,
            "firewall_id": self.firewall_id, "network_id": self.network_id,
            "volume_id": self.volume_id,
        })


OUTPUT_NAMES = ("server_id", "public_ipv4", "public_ipv6", "private_ipv4", "firewall_id",
                "network_id", "volume_id", "network_cidr", "tenant")


def export_outputs(stack: TenantStack, args: TenantStackArgs) -> None:
    """Export the stack outputs the control plane reads after ``up``."""
    pulumi.export("tenant", args.tenant)
    pulumi.export("network_cidr", args.network_cidr)
    for name in OUTPUT_NAMES[:7]:
        pulumi.export(name, getattr(stack, name))
