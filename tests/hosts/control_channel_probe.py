"""Run inside the control namespace by :func:`probe` (the hosts suites): the hetzner provider's
control channel to a tenant host, a control route called through it with the real
:class:`DataPlaneControl`, and what the vendor port does from here. Prints one JSON object.
Not part of the product."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from control_plane.adapters.data_plane_control import DataPlaneControl
from control_plane.domain.lifecycle import Tenant, TenantState
from control_plane.errors import DataPlaneError
from control_plane.providers.hetzner.provider import (
    HetznerOptions,
    HetznerProvider,
    TenantRecord,
    TenantRecords,
)
from control_plane.providers.hetzner.tunnel import SshTunnels, TunnelProcess, launch_ssh
from frostbyte_common.vendor_keys import IssuedKey
from tests.hosts.harness import CONTROL_ADDRESS, Host, Lab

ROOT = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def can_connect(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=1.5).close()
    except OSError:
        return False
    return True


def main(args: dict[str, Any]) -> dict[str, Any]:
    state, slug, address = Path(args["state_dir"]), args["slug"], args["address"]
    if TenantRecords(state).load(slug) is None:
        # a host the playbooks were applied to without the provider: record it as the
        # provider would, with the host key the playbook run pinned (kept per tenant);
        # a tenant the provider itself provisioned keeps its own record and pinned key
        TenantRecords(state).save(slug, TenantRecord(
            network_cidr="10.64.0.0/24", outputs={"public_ipv4": address},
            endpoint=f"https://{address}"))
        (state / slug / "known_hosts").write_text(Path(args["known_hosts"]).read_text("utf-8"))
    pids: list[int] = []

    def launcher(argv: Sequence[str]) -> TunnelProcess:
        process = launch_ssh(argv)
        pids.append(process.pid)
        return process

    def provider(key: str) -> HetznerProvider:
        options = HetznerOptions(
            hcloud_token="unused", ssh_public_key="unused", ssh_private_key_file=Path(key),
            control_plane_addresses=(args["control_address"],),
            data_plane_port=args["data_plane_port"])
        return HetznerProvider(options, stacks=None, playbooks=None,  # type: ignore[arg-type]
                               secrets=None, state_dir=state,  # type: ignore[arg-type]
                               tunnels=SshTunnels(launcher=launcher, up_timeout_s=20))

    now = datetime.now(UTC)
    tenant = Tenant(slug=slug, display_name=slug, provider="hetzner",
                    state=TenantState.ACTIVE, config={}, created_at=now, updated_at=now)
    result: dict[str, Any] = {}
    with provider(args["key"]).control_channel(tenant) as url:
        result["url"] = url
        result["alive_during"] = alive(pids[0])
        client = DataPlaneControl(url, args["control_key"], actor="hosts-test")
        result["suspended"] = asyncio.run(client.suspended())
        result["vendor_port_open"] = can_connect(address, args["vendor_port"])
    result["alive_after"] = alive(pids[0])
    try:
        with provider(args["unknown_key"]).control_channel(tenant):
            result["unknown_key"] = "opened"
    except DataPlaneError as exc:
        result["unknown_key"] = {"code": exc.code, "status": exc.status_code,
                                 "message": exc.message}
    result["pids"] = pids
    result["any_alive"] = any(alive(pid) for pid in pids)
    return result


def probe(lab: Lab, host: Host, key: Path, control_key: IssuedKey, *, data_plane_port: int,
          vendor_port: int) -> dict[str, Any]:
    """Run this file in the control namespace against ``host``: the channel forwards to the
    host's ``127.0.0.1:<data_plane_port>``; ``key`` is the control plane's SSH key. The
    provider's state is ``<lab>/cp-state``: a tenant a provider recorded there keeps its
    record and pinned host key."""
    unknown = lab.root / "unknown_ed25519"
    if not unknown.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(unknown)],
                       check=True)
    args = {"state_dir": str(lab.root / "cp-state"), "slug": host.name,
            "address": host.address, "known_hosts": str(lab.root / f"known_hosts-{host.name}"),
            "key": str(key), "unknown_key": str(unknown),
            "control_address": CONTROL_ADDRESS, "data_plane_port": data_plane_port,
            "vendor_port": vendor_port, "control_key": control_key.key}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(["ip", "netns", "exec", lab.control, sys.executable, __file__,
                           json.dumps(args)], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env=env, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
