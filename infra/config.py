"""Stack config (``Pulumi.tenant-<slug>.yaml``, namespace ``frostbyte``) → :class:`TenantStackArgs`.

The control plane writes the same keys through the Automation API, so ``pulumi up -s
tenant-<slug>`` by hand and a provisioning job apply the very same program and settings.
The Hetzner token is the provider's own secret config (``hcloud:token``), never read here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi

from frostbyte_common.firewall import build_policy
from frostbyte_common.network_plan import HETZNER_RESOLVERS
from infra.tenant_stack import TenantStack, TenantStackArgs, export_outputs

NAMESPACE = "frostbyte"



def args_from_config(config: pulumi.Config) -> TenantStackArgs:
    """Read and validate the stack's ``frostbyte:*`` config."""
    tenant = config.require("tenant")

    def strings(key: str, default: tuple[str, ...] = ()) -> list[str]:
        value: Any = config.get_object(key)
        if value is None:
            return list(default)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{NAMESPACE}:{key} must be a list of strings")
        return value

    mode = config.get("embeddingMode") or "offline"
    if mode not in ("offline", "online"):
        raise ValueError(f"{NAMESPACE}:embeddingMode must be offline or online, not {mode!r}")
    policy = build_policy(
        tenant,
        allowed_cidrs=strings("allowedCidrs"),
        control_plane_addresses=strings("controlPlaneAddresses"),
        embedding_mode="online" if mode == "online" else "offline",
        egress_cidrs=strings("egressCidrs"),  # online: required, never the world
        dns_resolvers=strings("dnsResolvers", HETZNER_RESOLVERS),
        vendor_port=config.get_int("vendorPort") or 443,
    )
    return TenantStackArgs(
        tenant=tenant,
        policy=policy,
        network_cidr=config.require("networkCidr"),
        ssh_public_key=config.require("sshPublicKey"),
        server_type=config.get("serverType") or "cx32",
        location=config.get("location") or "fsn1",
        image=config.get("image") or "debian-12",
        network_zone=config.get("networkZone") or "eu-central",
        volume_size_gb=config.get_int("volumeSizeGb") or 50,
        protect=config.get_bool("protect") or False,
    )


def program() -> None:
    """The Pulumi program: the inline program of the Automation API and ``__main__``."""
    args = args_from_config(pulumi.Config(NAMESPACE))
    stack = TenantStack(f"tenant-{args.tenant}", args)
    export_outputs(stack, args)


def inline_program() -> Callable[[], None]:
    """What the control plane hands to ``create_or_select_stack(program=...)``."""
    return program
