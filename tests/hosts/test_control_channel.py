"""The hetzner provider's control channel for real: a tenant host whose vendor port (443)
is closed to the control namespace, the real playbooks applied, then — from the control
namespace — the provider's SSH forward to the data plane's loopback port, a control route
answering through it, 443 still closed, and every ssh process ended afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from frostbyte_common.vendor_keys import IssuedKey
from tests.hosts.control_channel_probe import probe
from tests.hosts.harness import Host, Lab
from tests.hosts.test_namespace_hosts import VENDOR_PORT, Tenants, make_tenants, stop_all

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sealed(lab: Lab, release_wheel: Path) -> Iterator[tuple[Host, Tenants, IssuedKey]]:
    # the vendors are elsewhere: the control namespace is NOT on the vendor allow-list
    tenants = make_tenants(lab, release_wheel, [(3, "tenant-c", ["198.51.100.0/24"])],
                           extravars={"dataplane_host_sshd_permit_open":
                                      [f"127.0.0.1:{VENDOR_PORT}"]})
    host = lab.hosts["tenant-c"]
    # the control plane's own credential, installed as the control plane installs it
    yield host, tenants, tenants.install_key(host, ["control"])
    stop_all(lab, tenants)


def test_the_control_route_answers_through_ssh_while_443_stays_closed(
        lab: Lab, sealed: tuple[Host, Tenants, IssuedKey]) -> None:
    host, tenants, control_key = sealed
    # the data plane runs and listens on 443 — only not for the control namespace
    assert lab.can_connect(host.netns, "127.0.0.1", VENDOR_PORT)
    assert not lab.can_connect(lab.control, host.address, VENDOR_PORT)
    dropin = (host.sshd_dropins / "10-frostbyte.conf").read_text("utf-8")
    assert f"PermitOpen 127.0.0.1:{VENDOR_PORT}" in dropin

    result = probe(lab, host, tenants.key, control_key, data_plane_port=VENDOR_PORT,
                   vendor_port=VENDOR_PORT)
    assert result["url"].startswith("http://127.0.0.1:")
    assert result["suspended"] is False, "GET /control/v1/suspension answered"
    assert result["vendor_port_open"] is False, "443 closed even while the tunnel is open"
    assert result["alive_during"] is True and result["alive_after"] is False
    refused = result["unknown_key"]
    assert refused["status"] == 502 and refused["code"] == "DATA_PLANE_ERROR", refused
    assert "Permission denied" in refused["message"], refused
    assert result["any_alive"] is False, "every ssh the channel started was ended"
    assert not list(Path.home().glob(".ssh/cm-*")) and not list(
        Path.home().glob(".ansible/cp/*")), "no shared connection left"
