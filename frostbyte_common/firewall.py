"""One firewall policy per tenant (SPEC §4), rendered twice: as Hetzner Cloud firewall rules
(``infra/``) and as an nftables ruleset for the host itself (``playbooks/``, test hosts).

The policy is the whole truth; both renderings are derived from it, so the cloud firewall
and the host firewall cannot disagree:

* inbound: the vendor port (443) only from the tenant's allow-listed CIDRs (no CIDRs: the
  port stays closed), SSH only from the control plane's address(es), nothing else;
* outbound: for ``online`` embedding, HTTPS to the embedding API's networks only (the
  tenant's ``embedding.egress_cidrs``, required, never a default route nor a network wider
  than :data:`EGRESS_MIN_PREFIX`) and DNS to the configured resolvers; for ``offline``
  tenants nothing at all.

Pure code: no I/O, no framework. Invalid input raises
:class:`~frostbyte_common.errors.InvalidConfig` with a message safe to show an admin. It lives
in :mod:`frostbyte_common` because both the control plane (host ruleset, Ansible) and the
Pulumi program in ``infra/`` (cloud firewall, cloud-init) render it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from frostbyte_common.errors import InvalidConfig

Direction = Literal["in", "out"]
Protocol = Literal["tcp", "udp"]
EmbeddingMode = Literal["offline", "online"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

VENDOR_PORT = 443
SSH_PORT = 22
DNS_PORT = 53
HTTPS_PORT = 443
WORLD_V4 = "0.0.0.0/0"
WORLD_V6 = "::/0"
WORLD: tuple[str, ...] = (WORLD_V4, WORLD_V6)
# The widest network an online tenant may send HTTPS to, per IP version: its embedding API's
# networks, not "anywhere" in a few pieces (0.0.0.0/1 + 128.0.0.0/1).
EGRESS_MIN_PREFIX = {4: 8, 6: 16}

# Hetzner Cloud allows all outbound traffic while a firewall has no outbound rule; the first
# outbound rule turns outbound into an allow-list. A tenant with no outbound at all therefore
# gets exactly one outbound rule whose destination is its own private network: Hetzner's
# firewall does not filter private-network traffic, so the rule permits nothing on the public
# interface and closes outbound entirely.
CLOSED_EGRESS_DESCRIPTION = "closes outbound: no public destination is allowed"


@dataclass(frozen=True, slots=True)
class Rule:
    """One allowed flow. ``cidrs`` are sources for ``in`` and destinations for ``out``."""

    direction: Direction
    protocol: Protocol
    port: int
    cidrs: tuple[str, ...]
    description: str

    def networks(self) -> tuple[IPNetwork, ...]:
        return tuple(ipaddress.ip_network(c) for c in self.cidrs)

    @property
    def open_to_world(self) -> bool:
        """True if any CIDR is a default route (``0.0.0.0/0`` or ``::/0``)."""
        return any(net.prefixlen == 0 for net in self.networks())


@dataclass(frozen=True, slots=True)
class FirewallPolicy:
    """The tenant's allowed flows. Anything not listed is dropped, in both directions."""

    tenant: str
    vendor_port: int
    ssh_port: int
    rules: tuple[Rule, ...]

    @property
    def inbound(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.direction == "in")

    @property
    def outbound(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.direction == "out")


def normalize_cidrs(values: Iterable[str], *, what: str) -> tuple[str, ...]:
    """Parse, canonicalise (host bits cleared) and de-duplicate CIDRs, order kept."""
    out: list[str] = []
    for value in values:
        try:
            net = ipaddress.ip_network(str(value).strip(), strict=False)
        except ValueError:
            raise InvalidConfig(f"{what}: {value!r} is not an IP address or CIDR") from None
        text = str(net)
        if text not in out:
            out.append(text)
    return tuple(out)


def normalize_egress(values: Iterable[str]) -> tuple[str, ...]:
    """An online tenant's HTTPS destinations (``embedding.egress_cidrs``), canonical; a
    network wider than :data:`EGRESS_MIN_PREFIX` (a default route above all) is refused."""
    networks = normalize_cidrs(values, what="embedding.egress_cidrs")
    for cidr in networks:
        net = ipaddress.ip_network(cidr)
        widest = EGRESS_MIN_PREFIX[net.version]
        if net.prefixlen < widest:
            raise InvalidConfig(f"embedding.egress_cidrs: {cidr} is wider than a /{widest}; "
                                "list the embedding API's own networks")
    return networks


def _port(value: int, what: str) -> int:
    if not 1 <= value <= 65535:
        raise InvalidConfig(f"{what} must be a port between 1 and 65535, got {value}")
    return value


def build_policy(
    tenant: str,
    *,
    allowed_cidrs: Sequence[str],
    control_plane_addresses: Sequence[str],
    embedding_mode: EmbeddingMode,
    egress_cidrs: Sequence[str] = (),
    dns_resolvers: Sequence[str] = (),
    vendor_port: int = VENDOR_PORT,
    ssh_port: int = SSH_PORT,
) -> FirewallPolicy:
    """The tenant's policy. ``control_plane_addresses`` must be single hosts (``/32`` or
    ``/128``): SSH never opens to a network, let alone the world. ``egress_cidrs`` (required)
    and ``dns_resolvers`` only matter for ``online`` tenants: HTTPS goes to those networks and
    nowhere else."""
    vendor_port = _port(vendor_port, "vendor port")
    ssh_port = _port(ssh_port, "SSH port")
    if vendor_port == ssh_port:
        raise InvalidConfig("the vendor port and the SSH port must differ")
    vendor_sources = normalize_cidrs(allowed_cidrs, what="network.allowed_cidrs")
    ssh_sources = normalize_cidrs(control_plane_addresses, what="control-plane address")
    if not ssh_sources:
        raise InvalidConfig("the control plane's address is required: SSH is allowed only "
                            "from it")
    for cidr in ssh_sources:
        net = ipaddress.ip_network(cidr)
        if net.prefixlen != net.max_prefixlen:
            raise InvalidConfig(f"control-plane address {cidr} is a network; SSH is allowed "
                                "only from single addresses (/32 or /128)")
    rules: list[Rule] = [Rule("in", "tcp", ssh_port, ssh_sources,
                              "SSH from the control plane only")]
    if vendor_sources:
        rules.append(Rule("in", "tcp", vendor_port, vendor_sources,
                          "vendor endpoint from the tenant's allow-listed networks"))
    if embedding_mode == "online":
        egress = normalize_egress(egress_cidrs)
        if not egress:
            raise InvalidConfig("an online tenant needs embedding.egress_cidrs: its embedding "
                                "API's networks, the only place it may send HTTPS to")
        rules.append(Rule("out", "tcp", HTTPS_PORT, egress, "HTTPS to the embedding API"))
        resolvers = normalize_cidrs(dns_resolvers, what="DNS resolver")
        for proto in ("udp", "tcp"):
            if resolvers:
                rules.append(Rule("out", proto, DNS_PORT, resolvers,
                                  f"DNS ({proto}) to the configured resolvers"))
    elif embedding_mode != "offline":
        raise InvalidConfig(f"unknown embedding mode {embedding_mode!r}")
    return FirewallPolicy(tenant=tenant, vendor_port=vendor_port, ssh_port=ssh_port,
                          rules=tuple(rules))


# -- rendering: Hetzner Cloud -----------------------------------------------------------------
def hetzner_rules(policy: FirewallPolicy, *, private_cidr: str) -> list[dict[str, object]]:
    """Rules in the shape of ``hcloud.FirewallRuleArgs`` / the Hetzner API (``direction``,
    ``protocol``, ``port`` as text, ``source_ips`` or ``destination_ips``, ``description``).

    ``private_cidr`` is the tenant's private network: a policy with no outbound rule gets one
    rule towards it, which closes public outbound (see :data:`CLOSED_EGRESS_DESCRIPTION`)."""
    out: list[dict[str, object]] = []
    for rule in policy.rules:
        item: dict[str, object] = {
            "direction": rule.direction,
            "protocol": rule.protocol,
            "port": str(rule.port),
            "description": rule.description,
        }
        item["source_ips" if rule.direction == "in" else "destination_ips"] = list(rule.cidrs)
        out.append(item)
    if not policy.outbound:
        private = normalize_cidrs([private_cidr], what="private network")[0]
        if not ipaddress.ip_network(private).is_private:
            raise InvalidConfig(f"private network {private} is not a private range")
        out.append({"direction": "out", "protocol": "icmp", "destination_ips": [private],
                    "description": CLOSED_EGRESS_DESCRIPTION})
    return out


# -- rendering: nftables ----------------------------------------------------------------------
def _split(cidrs: Iterable[str]) -> tuple[list[str], list[str]]:
    v4: list[str] = []
    v6: list[str] = []
    for cidr in cidrs:
        (v4 if ipaddress.ip_network(cidr).version == 4 else v6).append(cidr)
    return v4, v6


def _match(direction: Direction, v4: list[str], v6: list[str]) -> list[str]:
    field = "saddr" if direction == "in" else "daddr"
    lines = []
    if v4:
        lines.append(f"ip {field} {{ {', '.join(v4)} }}")
    if v6:
        lines.append(f"ip6 {field} {{ {', '.join(v6)} }}")
    return lines


def nftables_ruleset(policy: FirewallPolicy, *, table: str = "frostbyte") -> str:
    """An ``nft -f`` ruleset for the tenant's host: one ``inet`` table, policy drop on input,
    forward and output, and only the policy's flows allowed. Replies to allowed flows pass by
    connection tracking; loopback stays open (the data plane's stores talk over it).

    A container engine publishes the vendor port by DNAT, which the input chain never sees:
    the forward chain applies the same source allow-list to DNAT'ed connections, matched on
    the port the client asked for (``ct original proto-dst``)."""
    if not table.replace("_", "").isalnum():
        raise InvalidConfig(f"nftables table name {table!r} must be alphanumeric")
    lines = [
        f"# Frostbyte tenant {policy.tenant}: generated from the firewall policy; do not edit.",
        f"table inet {table}",
        f"delete table inet {table}",
        f"table inet {table} {{",
        "  chain input {",
        "    type filter hook input priority filter; policy drop;",
        "    ct state established,related accept",
        "    ct state invalid drop",
        '    iifname "lo" accept',
        # IPv6 does not work without neighbour discovery; it never leaves the link
        "    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } "
        "ip6 hoplimit 255 accept",
    ]
    for rule in policy.inbound:
        v4, v6 = _split(rule.cidrs)
        for match in _match("in", v4, v6):
            lines.append(f"    {match} {rule.protocol} dport {rule.port} accept"
                         f' comment "{rule.description}"')
    lines += [
        "  }",
        "  chain forward {",
        "    type filter hook forward priority filter; policy drop;",
        "    ct state established,related accept",
        "    ct state invalid drop",
    ]
    for rule in policy.inbound:
        if rule.port != policy.vendor_port:
            continue
        v4, v6 = _split(rule.cidrs)
        for match in _match("in", v4, v6):
            lines.append(f"    ct status dnat {match} meta l4proto {rule.protocol} "
                         f"ct original proto-dst {rule.port} accept"
                         ' comment "published vendor port"')
    for rule in policy.outbound:
        v4, v6 = _split(rule.cidrs)
        for match in _match("out", v4, v6):
            lines.append(f"    {match} {rule.protocol} dport {rule.port} accept"
                         f' comment "{rule.description} (containers)"')
    lines += [
        "  }",
        "  chain output {",
        "    type filter hook output priority filter; policy drop;",
        "    ct state established,related accept",
        "    ct state invalid drop",
        '    oifname "lo" accept',
        "    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } "
        "ip6 hoplimit 255 accept",
    ]
    for rule in policy.outbound:
        v4, v6 = _split(rule.cidrs)
        for match in _match("out", v4, v6):
            lines.append(f"    {match} {rule.protocol} dport {rule.port} accept"
                         f' comment "{rule.description}"')
    lines += ["  }", "}", ""]
    return "\n".join(lines)
