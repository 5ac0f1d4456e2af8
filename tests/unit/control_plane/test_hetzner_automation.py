"""The Automation API adapter against a stand-in for the SDK's ``Stack`` (no Pulumi CLI
here): plain config set, the token by environment only, output streamed, outputs returned, the
deadline cancelling a stuck update, and SDK errors mapped. The keyword arguments it passes
are checked against the installed SDK's signatures, so an SDK upgrade that renames one
fails here rather than in production."""

from __future__ import annotations

import inspect
import threading
from typing import Any

import pytest

from control_plane.providers.hetzner.automation import AutomationStackRunner
from control_plane.providers.hetzner.stack import (
    StackBusy,
    StackConfig,
    StackNotFound,
    StackTimeout,
)

auto = pytest.importorskip("pulumi.automation")  # the SDK, not the CLI: skipped without it

TOKEN = "hcloud-token-f00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeed"


class Output:
    def __init__(self, value: Any) -> None:
        self.value = value
        self.secret = False


class FakeStack:
    """Records what the adapter asks of a ``pulumi.automation.Stack``."""

    def __init__(self) -> None:
        self.config: dict[str, Any] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.block = threading.Event()
        self.hang = False
        self.raise_on: dict[str, Exception] = {}
        self.workspace = self
        self.env_vars: dict[str, str] = {}

    def _call(self, name: str, kwargs: dict[str, Any]) -> None:
        accepted = inspect.signature(getattr(auto.Stack, name)).parameters
        assert set(kwargs) <= set(accepted), f"{name}: {set(kwargs) - set(accepted)}"
        self.calls.append((name, kwargs))
        if name in self.raise_on:
            raise self.raise_on[name]
        kwargs["on_output"]("Updating (tenant-acme):")
        if self.hang:
            self.block.wait(10)

    def set_all_config(self, config: dict[str, Any], *, path: bool = False
                       ) -> None:
        self.config.update(config)

    def get_all_config(self) -> dict[str, Any]:
        return dict(self.config)

    def remove_config(self, key: str, *, path: bool = False) -> None:
        del self.config[key]

    def up(self, **kwargs: Any) -> Any:
        self._call("up", kwargs)
        return type("UpResult", (), {"outputs": {"public_ipv4": Output("198.51.100.7")}})()

    def refresh(self, **kwargs: Any) -> None:
        self._call("refresh", kwargs)

    def destroy(self, **kwargs: Any) -> None:
        self._call("destroy", kwargs)

    def cancel(self) -> None:
        self.calls.append(("cancel", {}))
        self.block.set()

    def outputs(self) -> dict[str, Output]:
        return {"server_id": Output("42")}

    def export_stack(self) -> Any:
        resources = [{"urn": "urn:pulumi:tenant-acme::p::pulumi:pulumi:Stack::x",
                      "type": "pulumi:pulumi:Stack"},
                     {"urn": "urn:pulumi:tenant-acme::p::hcloud:index/server:Server::s",
                      "type": "hcloud:index/server:Server"}]
        return type("Deployment", (), {"deployment": {"resources": resources}})()

    def remove_stack(self, stack_name: str) -> None:
        self.calls.append(("remove_stack", {"stack_name": stack_name}))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeStack:
    stack = FakeStack()
    seen: list[dict[str, Any]] = []

    def open_stack(**kwargs: Any) -> FakeStack:
        assert kwargs["project_name"] == "frostbyte-tenant"
        assert callable(kwargs["program"])
        seen.append(kwargs)
        stack.env_vars = dict(kwargs["opts"].env_vars)
        return stack

    monkeypatch.setattr(auto, "create_or_select_stack", open_stack)
    monkeypatch.setattr(auto, "select_stack", open_stack)
    return stack


def runner() -> AutomationStackRunner:
    return AutomationStackRunner(backend_url="file:///tmp/none", env={})


def config() -> StackConfig:
    return StackConfig(values={"frostbyte:tenant": "acme"}, environment={"HCLOUD_TOKEN": TOKEN})


def test_up_sets_config_streams_output_and_returns_outputs(fake: FakeStack) -> None:
    lines: list[str] = []
    outputs = runner().up("tenant-acme", config(), lines.append, timeout_s=30)
    assert outputs == {"public_ipv4": "198.51.100.7"}
    assert set(fake.config) == {"frostbyte:tenant"}  # the token is no stack config
    assert fake.config["frostbyte:tenant"].secret is False
    assert fake.env_vars["HCLOUD_TOKEN"] == TOKEN  # the CLI's environment
    assert lines == ["Updating (tenant-acme):"]
    (name, kwargs), = fake.calls
    assert name == "up" and kwargs["color"] == "never"


def test_destroy_refresh_outputs_resources_remove(fake: FakeStack) -> None:
    r = runner()
    r.refresh("tenant-acme", config(), lambda _: None, timeout_s=30)
    r.destroy("tenant-acme", config(), lambda _: None, timeout_s=30)
    assert r.outputs("tenant-acme") == {"server_id": "42"}
    assert r.resources("tenant-acme") == [
        "urn:pulumi:tenant-acme::p::hcloud:index/server:Server::s"]
    r.remove("tenant-acme")
    assert [c[0] for c in fake.calls] == ["refresh", "destroy", "remove_stack"]


def test_a_stuck_update_is_cancelled_at_its_deadline(fake: FakeStack) -> None:
    fake.hang = True
    with pytest.raises(StackTimeout, match="cancelled"):
        runner().up("tenant-acme", config(), lambda _: None, timeout_s=0.2)
    assert ("cancel", {}) in fake.calls


def test_sdk_errors_are_mapped(fake: FakeStack) -> None:
    from pulumi.automation._cmd import CommandResult

    result = CommandResult(stdout="", stderr="conflict", code=255)
    fake.raise_on["up"] = auto.ConcurrentUpdateError(result)
    with pytest.raises(StackBusy):
        runner().up("tenant-acme", config(), lambda _: None, timeout_s=30)
    fake.raise_on["destroy"] = auto.StackNotFoundError(result)
    with pytest.raises(StackNotFound):
        runner().destroy("tenant-acme", config(), lambda _: None, timeout_s=30)
