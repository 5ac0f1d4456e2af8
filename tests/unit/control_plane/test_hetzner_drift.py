"""Drift checks of hetzner tenants (issue 18) without the Pulumi CLI: the Automation API
adapter reads a refresh *preview*'s engine events (the SDK's own event classes, its
``preview_refresh`` keywords checked against the installed SDK) into drifted resources —
URN, kind, op and changed property names, never a value — and the provider runs it with the
config the stack was last applied with, through the small StackRunner interface, faked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from control_plane.domain.health import DriftedResource
from control_plane.errors import ProvisioningFailed
from control_plane.providers.base import DriftCheck
from control_plane.providers.hetzner.automation import drifted_resource
from control_plane.providers.hetzner.provider import HetznerOptions, HetznerProvider
from control_plane.providers.hetzner.stack import OutputSink, StackBusy, StackConfig

from .test_hetzner_automation import FakeStack, auto, config, runner
from .test_hetzner_provider import PUBLIC_KEY, TOKEN, FakePlaybooks, FakeSecrets, FakeStacks, tenant
from .test_hetzner_provider import config as tenant_config

events = auto.events
STACK = "urn:pulumi:tenant-acme::frostbyte-tenant::pulumi:pulumi:Stack::frostbyte-tenant-acme"
SERVER = "urn:pulumi:tenant-acme::frostbyte-tenant::hcloud:index/server:Server::server"
FIREWALL = "urn:pulumi:tenant-acme::frostbyte-tenant::hcloud:index/firewall:Firewall::fw"
VOLUME = "urn:pulumi:tenant-acme::frostbyte-tenant::hcloud:index/volume:Volume::data"
NETWORK = "urn:pulumi:tenant-acme::frostbyte-tenant::hcloud:index/network:Network::net"
SECRET = "s3cr3t-user-data-never-reported"


def _state(urn: str, kind: str, outputs: dict[str, Any]) -> Any:
    return events.StepEventStateMetadata(type=kind, urn=urn, id="1", parent=STACK,
                                         provider="", outputs=outputs)


def _outputs_event(op: str, urn: str, kind: str, *, diffs: list[str] | None = None,
                   old: dict[str, Any] | None = None,
                   new: dict[str, Any] | None = None) -> Any:
    meta = events.StepEventMetadata(
        op=events.OpType(op), urn=urn, type=kind, provider="", diffs=diffs,
        old=None if old is None else _state(urn, kind, old),
        new=None if new is None else _state(urn, kind, new))
    return events.EngineEvent(sequence=1, timestamp=0,
                              res_outputs_event=events.ResOutputsEvent(metadata=meta))


PREVIEW = [
    events.EngineEvent(sequence=0, timestamp=0, resource_pre_event=events.ResourcePreEvent(
        metadata=events.StepEventMetadata(op=events.OpType.REFRESH, urn=SERVER,
                                          type="hcloud:index/server:Server", provider=""))),
    _outputs_event("same", STACK, "pulumi:pulumi:Stack"),
    _outputs_event("update", STACK, "pulumi:pulumi:Stack", diffs=["outputs"]),
    _outputs_event("same", SERVER, "hcloud:index/server:Server"),
    _outputs_event("update", FIREWALL, "hcloud:index/firewall:Firewall", diffs=["rules"]),
    # no diffs from the engine: the outputs are compared (names kept, values never)
    _outputs_event("update", NETWORK, "hcloud:index/network:Network",
                   old={"ipRange": "10.64.1.0/24", "userData": SECRET, "name": "net"},
                   new={"ipRange": "10.64.9.0/24", "userData": SECRET + "!", "name": "net"}),
    _outputs_event("delete", VOLUME, "hcloud:index/volume:Volume",
                   old={"size": 50}),
]


def test_a_refresh_previews_events_become_drifted_resources() -> None:
    found = [r for r in map(drifted_resource, PREVIEW) if r is not None]
    assert found == [
        DriftedResource(FIREWALL, "hcloud:index/firewall:Firewall", "update", ("rules",)),
        DriftedResource(NETWORK, "hcloud:index/network:Network", "update",
                        ("ipRange", "userData")),
        DriftedResource(VOLUME, "hcloud:index/volume:Volume", "delete", ())]
    assert SECRET not in repr(found)


class PreviewingStack(FakeStack):
    """The SDK stand-in, answering ``preview_refresh`` with the events above."""

    def preview_refresh(self, **kwargs: Any) -> None:
        self._call("preview_refresh", kwargs)
        for event in PREVIEW:
            kwargs["on_event"](event)


def test_the_adapter_previews_a_refresh_and_writes_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    stack = PreviewingStack()
    monkeypatch.setattr(auto, "select_stack", lambda **kwargs: stack)
    monkeypatch.setattr(auto, "create_or_select_stack", lambda **kwargs: pytest.fail(
        "a drift check must not create a stack"))
    lines: list[str] = []
    drifted = runner().drift("tenant-acme", config(), lines.append, timeout_s=30)
    assert [r.urn for r in drifted] == sorted([FIREWALL, NETWORK, VOLUME])
    assert [name for name, _ in stack.calls] == ["preview_refresh"]  # no refresh, no up
    assert stack.calls[0][1]["color"] == "never"
    assert lines == ["Updating (tenant-acme):"]  # the CLI's output reaches the job log


class DriftingStacks(FakeStacks):
    def __init__(self) -> None:
        super().__init__()
        self.drifted: list[DriftedResource] = []
        self.busy_drift = 0

    def drift(self, stack: str, config: StackConfig, on_output: OutputSink,
              timeout_s: float) -> list[DriftedResource]:
        self.calls.append(("drift", stack))
        self.configs.append(config)
        if self.busy_drift:
            self.busy_drift -= 1
            raise StackBusy("locked")
        on_output("Previewing refresh (tenant-acme):")
        return list(self.drifted)


def test_the_provider_checks_a_stack_with_its_last_applied_config(tmp_path: Path) -> None:
    stacks = DriftingStacks()
    provider = HetznerProvider(
        HetznerOptions(hcloud_token=TOKEN, ssh_public_key=PUBLIC_KEY,
                       ssh_private_key_file=tmp_path / "id_ed25519",
                       control_plane_addresses=("203.0.113.10",)),
        stacks=stacks, playbooks=FakePlaybooks(), secrets=FakeSecrets(),
        state_dir=tmp_path / "state", sleep=lambda _: None)
    assert isinstance(provider, DriftCheck)
    with pytest.raises(ProvisioningFailed, match="no stack"):
        provider.check_drift(tenant())  # never provisioned: nothing to compare
    provider.provision(tenant(), tenant_config())
    applied = stacks.configs[-1]

    assert provider.check_drift(tenant()) == []
    stacks.drifted = [DriftedResource(FIREWALL, "hcloud:index/firewall:Firewall", "update",
                                      ("rules",))]
    stacks.busy_drift = 1  # someone else's update holds the stack: retried
    assert provider.check_drift(tenant()) == stacks.drifted
    assert [c for c in stacks.calls if c[0] != "up"] == [("drift", "tenant-acme")] * 3
    assert stacks.configs[-1] == applied  # the values it was applied with, token by env
    assert "Previewing refresh" in provider.job_log("acme").read_text()
