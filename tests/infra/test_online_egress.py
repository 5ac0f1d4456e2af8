"""An online tenant's outbound HTTPS reaches its embedding API's networks only (SPEC §4).

The provider's own stack config for an online tenant runs through the ``infra/`` program under
Pulumi's mocks: the Hetzner firewall's outbound rules on port 443 name exactly the tenant's
``embedding.egress_cidrs``, never ``0.0.0.0/0`` or ``::/0``; DNS goes to the resolvers only."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from control_plane.providers.hetzner.provider import HetznerOptions, HetznerProvider
from frostbyte_common.errors import InvalidConfig
from frostbyte_common.tenant_config import TenantConfig
from infra.config import program

from .test_tenant_stack import CP, PUBLIC_KEY, rules_of, run

EMBEDDING_API = ["104.18.2.0/24", "2606:4700:10::/48"]


def provider(tmp_path: Path) -> HetznerProvider:
    options = HetznerOptions(hcloud_token="t", ssh_public_key=PUBLIC_KEY,
                             ssh_private_key_file=tmp_path / "k", control_plane_addresses=(CP,))
    return HetznerProvider(options, stacks=None, playbooks=None,  # type: ignore[arg-type]
                           secrets=None, state_dir=tmp_path)  # type: ignore[arg-type]


def online(**embedding: Any) -> TenantConfig:
    return TenantConfig.model_validate({"embedding": {"mode": "online", **embedding},
                                        "network": {"allowed_cidrs": ["198.51.100.0/24"]}})


def test_online_tenant_reaches_only_its_embedding_api_on_443(tmp_path: Path) -> None:
    config = provider(tmp_path).stack_config(
        "acme", online(egress_cidrs=EMBEDDING_API), "10.64.7.0/24")
    resources = run(program, config=dict(config.values))
    outbound = [r for r in rules_of(resources) if r["direction"] == "out"]
    https = [r for r in outbound if r["port"] == "443"]
    assert [(r["protocol"], r["destinationIps"]) for r in https] == [("tcp", EMBEDDING_API)]
    for rule in outbound:
        assert not any(ipaddress.ip_network(c).prefixlen == 0 for c in rule["destinationIps"])
    assert {r["port"] for r in outbound} == {"443", "53"}


def test_online_tenant_without_its_embedding_api_networks_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfig, match="egress_cidrs"):
        provider(tmp_path).stack_config("acme", online(), "10.64.7.0/24")


def test_the_program_never_defaults_online_outbound_to_the_world() -> None:
    config = {
        "frostbyte:tenant": "acme", "frostbyte:networkCidr": "10.64.7.0/24",
        "frostbyte:sshPublicKey": PUBLIC_KEY,
        "frostbyte:controlPlaneAddresses": f'["{CP}"]',
        "frostbyte:embeddingMode": "online",
    }
    with pytest.raises(Exception, match="egress"):
        run(program, config=config)
