"""The firewall policy model and its two renderings (Hetzner rules, nftables)."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess

import pytest

from frostbyte_common.errors import InvalidConfig
from frostbyte_common.firewall import (
    CLOSED_EGRESS_DESCRIPTION,
    WORLD,
    EmbeddingMode,
    FirewallPolicy,
    build_policy,
    hetzner_rules,
    nftables_ruleset,
)

CP = "203.0.113.10"
EMBEDDING_API = ("104.18.2.0/24", "2606:4700:10::/48")


def _policy(mode: EmbeddingMode = "offline",
            cidrs: tuple[str, ...] = ("198.51.100.0/24",)) -> FirewallPolicy:
    return build_policy("acme", allowed_cidrs=cidrs, control_plane_addresses=[CP],
                        embedding_mode=mode, egress_cidrs=EMBEDDING_API,
                        dns_resolvers=["185.12.64.1", "2a01:4ff:ff00::add:1"])


def test_offline_policy_opens_vendor_port_and_ssh_only() -> None:
    policy = _policy()
    assert [(r.direction, r.protocol, r.port, r.cidrs) for r in policy.rules] == [
        ("in", "tcp", 22, ("203.0.113.10/32",)),
        ("in", "tcp", 443, ("198.51.100.0/24",)),
    ]
    assert policy.outbound == ()


def test_online_policy_adds_https_and_dns_out_only() -> None:
    policy = _policy("online")
    assert {(r.protocol, r.port) for r in policy.outbound} == {
        ("tcp", 443), ("udp", 53), ("tcp", 53)}
    assert [r.port for r in policy.inbound] == [22, 443]


def test_no_allow_list_keeps_vendor_port_closed() -> None:
    policy = _policy(cidrs=())
    assert [r.port for r in policy.inbound] == [22]


def test_vendor_port_may_open_to_world_when_the_tenant_asks() -> None:
    policy = _policy(cidrs=WORLD)
    world = [r for r in policy.inbound if r.open_to_world]
    assert [r.port for r in world] == [443]


@pytest.mark.parametrize("address", ["0.0.0.0/0", "::/0", "203.0.113.0/24", "10.0.0.0/8"])
def test_ssh_never_opens_to_a_network(address: str) -> None:
    with pytest.raises(InvalidConfig, match="SSH"):
        build_policy("acme", allowed_cidrs=[], control_plane_addresses=[address],
                     embedding_mode="offline")


def test_control_plane_address_is_required() -> None:
    with pytest.raises(InvalidConfig, match="control plane"):
        build_policy("acme", allowed_cidrs=[], control_plane_addresses=[],
                     embedding_mode="offline")


def test_bad_cidr_is_a_clear_error() -> None:
    with pytest.raises(InvalidConfig, match="not an IP address"):
        build_policy("acme", allowed_cidrs=["nope"], control_plane_addresses=[CP],
                     embedding_mode="offline")


def test_cidrs_are_canonicalised_and_deduplicated() -> None:
    policy = _policy(cidrs=("198.51.100.7/24", "198.51.100.0/24", "2001:db8::1/64"))
    vendor = policy.inbound[1]
    assert vendor.cidrs == ("198.51.100.0/24", "2001:db8::/64")


def test_hetzner_offline_gets_one_private_only_outbound_rule() -> None:
    rules = hetzner_rules(_policy(), private_cidr="10.64.3.0/24")
    out = [r for r in rules if r["direction"] == "out"]
    assert out == [{"direction": "out", "protocol": "icmp", "destination_ips": ["10.64.3.0/24"],
                    "description": CLOSED_EGRESS_DESCRIPTION}]
    assert all(ipaddress.ip_network(str(c)).is_private
               for r in out for c in r["destination_ips"])  # type: ignore[attr-defined]


def test_hetzner_rules_shape() -> None:
    rules = hetzner_rules(_policy("online"), private_cidr="10.64.3.0/24")
    ssh = rules[0]
    assert ssh == {"direction": "in", "protocol": "tcp", "port": "22",
                   "source_ips": ["203.0.113.10/32"],
                   "description": "SSH from the control plane only"}
    assert all("destination_ips" in r for r in rules if r["direction"] == "out")
    assert not any(r["description"] == CLOSED_EGRESS_DESCRIPTION for r in rules)


def test_hetzner_refuses_public_network_as_private() -> None:
    with pytest.raises(InvalidConfig, match="private"):
        hetzner_rules(_policy(), private_cidr="8.8.8.0/24")


def test_nftables_drops_by_default_and_allows_policy_flows() -> None:
    text = nftables_ruleset(_policy("online"))
    assert text.count("policy drop;") == 3
    assert "ip saddr { 203.0.113.10/32 } tcp dport 22 accept" in text
    assert "ip saddr { 198.51.100.0/24 } tcp dport 443 accept" in text
    assert "ip daddr { 104.18.2.0/24 } tcp dport 443 accept" in text
    assert "ip6 daddr { 2606:4700:10::/48 } tcp dport 443 accept" in text
    assert "0.0.0.0/0" not in text and "::/0" not in text  # the embedding API only
    assert "ip6 daddr { 2a01:4ff:ff00::add:1/128 } udp dport 53 accept" in text
    assert ("ct status dnat ip saddr { 198.51.100.0/24 } meta l4proto tcp "
            "ct original proto-dst 443 accept") in text


def test_nftables_offline_has_no_outbound_accept_beyond_replies_and_loopback() -> None:
    text = nftables_ruleset(_policy())
    output = text.split("chain output {", 1)[1]
    accepts = [line.strip() for line in output.splitlines() if line.strip().endswith("accept")]
    assert accepts == [
        "ct state established,related accept",
        'oifname "lo" accept',
        "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } "
        "ip6 hoplimit 255 accept",
    ]
    assert "daddr" not in text


def test_nftables_ruleset_parses_with_nft_when_available() -> None:
    nft = shutil.which("nft") or ("/usr/sbin/nft" if shutil.which("/usr/sbin/nft") else None)
    if nft is None:
        pytest.skip("nft is not installed")
    modes: tuple[EmbeddingMode, ...] = ("offline", "online")
    for mode in modes:
        result = subprocess.run([nft, "-c", "-f", "-"], input=nftables_ruleset(_policy(mode)),
                                capture_output=True, text=True, check=False)
        if "Operation not permitted" in result.stderr:
            pytest.skip("nft -c needs CAP_NET_ADMIN here")
        assert result.returncode == 0, result.stderr
