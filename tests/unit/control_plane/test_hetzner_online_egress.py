"""An online tenant's outbound HTTPS on its host (nftables) reaches its embedding API's
networks only, and ``embedding.egress_cidrs`` is validated where the config is."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from control_plane.providers.hetzner.provider import HetznerOptions, HetznerProvider, TenantRecord
from frostbyte_common.tenant_config import TenantConfig

CP = "203.0.113.10"
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBfakefakefakefakefakefakefakefake cp"
EMBEDDING_API = ["104.18.2.0/24", "2606:4700:10::/48"]


def ruleset(tmp_path: Path, embedding: dict[str, Any]) -> str:
    options = HetznerOptions(hcloud_token="t", ssh_public_key=PUBLIC_KEY,
                             ssh_private_key_file=tmp_path / "k", control_plane_addresses=(CP,))
    cp = HetznerProvider(options, stacks=None, playbooks=None,  # type: ignore[arg-type]
                         secrets=None, state_dir=tmp_path)  # type: ignore[arg-type]
    config = TenantConfig.model_validate({"embedding": embedding})
    record = TenantRecord(network_cidr="10.64.7.0/24", outputs={"public_ipv4": "198.51.100.7"})
    text: str = cp._deploy_vars("acme", config, record)["dataplane_host_nftables_ruleset"]
    return text


def accepts(text: str, chain: str) -> list[str]:
    body = text.split(f"chain {chain} {{", 1)[1].split("\n  }", 1)[0]
    return [line.strip() for line in body.splitlines() if line.strip().endswith(
        ("accept", '"'))]


def test_online_host_sends_https_to_its_embedding_api_only(tmp_path: Path) -> None:
    text = ruleset(tmp_path, {"mode": "online", "egress_cidrs": EMBEDDING_API})
    for chain in ("output", "forward"):  # the host itself, and a container set's traffic
        https = [line for line in accepts(text, chain) if "dport 443" in line
                 and "daddr" in line]
        assert [line.split(" tcp dport")[0] for line in https] == [
            "ip daddr { 104.18.2.0/24 }", "ip6 daddr { 2606:4700:10::/48 }"], chain
    assert "0.0.0.0/0" not in text and "::/0" not in text


def test_offline_host_sends_nothing_out(tmp_path: Path) -> None:
    text = ruleset(tmp_path, {"mode": "offline", "egress_cidrs": EMBEDDING_API})
    assert "daddr" not in text, "an offline tenant gets no outbound, whatever it lists"


@pytest.mark.parametrize("cidrs", [["0.0.0.0/0"], ["::/0"], ["0.0.0.0/1", "128.0.0.0/1"],
                                   ["2000::/3"], ["not-a-network"], ["104.18.2.0/33"]])
def test_egress_networks_are_checked_and_never_the_world(cidrs: list[str]) -> None:
    with pytest.raises(ValidationError, match="egress_cidrs"):
        TenantConfig.model_validate({"embedding": {"mode": "online", "egress_cidrs": cidrs}})


def test_egress_networks_are_canonical() -> None:
    config = TenantConfig.model_validate(
        {"embedding": {"mode": "online", "egress_cidrs": ["104.18.2.7/24", "104.18.2.0/24"]}})
    assert config.embedding.egress_cidrs == ["104.18.2.0/24"]
    assert all(ipaddress.ip_network(c) for c in config.embedding.egress_cidrs)
