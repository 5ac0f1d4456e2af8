"""Private-network address plan for Hetzner tenants: pure code, no I/O.

Every tenant gets one block of the configured pool (default ``10.64.0.0/10`` cut into
``/24`` blocks) as its hcloud Network *and* subnet. Blocks are handed out first-free, a
tenant keeps its block for life, and no two tenants' blocks ever overlap — so the control
plane could later peer or route to any tenant without renumbering.

The control plane's ``hetzner`` provider allocates the blocks; the Pulumi program in ``infra/``
places the server in its block. Both read the plan from here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from frostbyte_common.errors import InvalidConfig, ServiceError

DEFAULT_POOL = "10.64.0.0/10"
DEFAULT_PREFIX = 24

# Hetzner's recursive resolvers (online tenants' DNS, in both firewalls).
HETZNER_RESOLVERS = ("185.12.64.1", "185.12.64.2", "2a01:4ff:ff00::add:1",
                     "2a01:4ff:ff00::add:2")


class NetworkPoolExhausted(ServiceError):
    """Every block of the pool is taken: provisioning cannot go on (500)."""

    default_code = "NETWORK_POOL_EXHAUSTED"


def parse_pool(pool: str, prefix: int) -> ipaddress.IPv4Network:
    """The pool as a private IPv4 network able to hold blocks of ``/prefix``."""
    try:
        net = ipaddress.IPv4Network(pool, strict=True)
    except ValueError:
        raise InvalidConfig(f"network pool {pool!r} is not an IPv4 CIDR (host bits clear)"
                            ) from None
    if not net.is_private:
        raise InvalidConfig(f"network pool {pool} is not a private (RFC 1918) range")
    if not net.prefixlen <= prefix <= 29:
        raise InvalidConfig(f"tenant prefix /{prefix} must be between /{net.prefixlen} and /29")
    return net


def allocate_block(slug: str, taken: Mapping[str, str], *, pool: str = DEFAULT_POOL,
                   prefix: int = DEFAULT_PREFIX) -> str:
    """The tenant's block: the one it already has in ``taken`` (slug → CIDR), else the first
    block of ``pool`` that overlaps no other tenant's."""
    net = parse_pool(pool, prefix)
    if slug in taken:
        return str(ipaddress.IPv4Network(taken[slug]))
    others = [ipaddress.IPv4Network(cidr) for cidr in taken.values()]
    for block in net.subnets(new_prefix=prefix):
        if not any(block.overlaps(other) for other in others):
            return str(block)
    raise NetworkPoolExhausted(f"network pool {pool} has no free /{prefix} block left")


def server_private_ip(block: str) -> str:
    """The server's fixed address in its block (``.1`` is Hetzner's gateway)."""
    return str(ipaddress.IPv4Network(block).network_address + 2)


def overlapping(allocations: Mapping[str, str]) -> list[tuple[str, str]]:
    """Pairs of tenants whose blocks overlap (empty when the plan is sound)."""
    items = sorted((slug, ipaddress.IPv4Network(cidr)) for slug, cidr in allocations.items())
    return [(a, b) for i, (a, na) in enumerate(items) for b, nb in items[i + 1:]
            if na.overlaps(nb)]
