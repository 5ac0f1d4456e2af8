"""The Hetzner API token reaches Pulumi by environment, never on a command line.

The Automation API sets stack config with ``pulumi config set-all --secret key=value``: a
token set that way is readable by any local user in ``/proc/<pid>/cmdline`` for as long as the
command runs. Here the real SDK (``pulumi.automation``) drives a stand-in ``pulumi``
executable on ``PATH`` that records every command line and whether its environment held the
token; the provider's real :class:`AutomationStackRunner` and the provider itself run on top.
No real ``pulumi up`` runs here: the stand-in only answers as the CLI would.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from control_plane.domain.lifecycle import Tenant, TenantState
from control_plane.providers.hetzner.automation import AutomationStackRunner
from control_plane.providers.hetzner.provider import HetznerOptions, HetznerProvider
from frostbyte_common.tenant_config import TenantConfig

auto = pytest.importorskip("pulumi.automation")

TOKEN = "hcloud-token-9d8c7b6a5f4e3d2c1b0a9d8c7b6a5f4e3d2c1b0a9d8c7b6a5f4e3d2c1b0a9d8c"
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBfakefakefakefakefakefakefakefake cp"

# answers like the CLI for what the SDK asks of it; records argv and the token's presence
FAKE_PULUMI = r'''#!{python}
import json, os, sys
args = [a for a in sys.argv[1:] if a != "--non-interactive"]
token = os.environ.get("HCLOUD_TOKEN")
with open(os.environ["FAKE_PULUMI_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps({{"argv": sys.argv, "token_in_env": token == {token!r}}}) + "\n")
state = os.environ["FAKE_PULUMI_STATE"]
if args[:1] == ["version"]:
    print("v3.272.0")
elif args[:1] == ["config"] and "--json" in args:  # get_all_config
    print(open(state).read() if os.path.exists(state) else "{{}}")
elif args[:2] == ["config", "rm"]:
    os.remove(state)
elif args[:2] == ["stack", "output"]:
    print(json.dumps({{"public_ipv4": "198.51.100.7"}}))
elif args[:2] == ["stack", "history"]:
    print(json.dumps([{{"version": 1, "kind": "update", "startTime": "2026-01-01T00:00:00.000Z",
                       "message": "", "environment": {{}}, "config": {{}},
                       "result": "succeeded", "endTime": "2026-01-01T00:01:00.000Z",
                       "resourceChanges": {{}}}}]))
elif args[:1] in (["up"], ["refresh"], ["destroy"]):
    print("Resources: 6 unchanged")
'''


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in ``pulumi`` first on PATH; its log of command lines."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pulumi"
    fake.write_text(FAKE_PULUMI.format(python=sys.executable, token=TOKEN), encoding="utf-8")
    fake.chmod(0o755)
    log = tmp_path / "pulumi.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(log))
    monkeypatch.setenv("FAKE_PULUMI_STATE", str(tmp_path / "stack-config.json"))
    monkeypatch.delenv("HCLOUD_TOKEN", raising=False)
    return log


def calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text("utf-8").splitlines()]


def provider(tmp_path: Path) -> HetznerProvider:
    options = HetznerOptions(hcloud_token=TOKEN, ssh_public_key=PUBLIC_KEY,
                             ssh_private_key_file=tmp_path / "k",
                             control_plane_addresses=("203.0.113.10",))

    class NoPlaybooks:
        def run(self, playbook: str, **kwargs: Any) -> None:
            return None

    class Secrets:
        def get(self, slug: str) -> dict[str, str]:
            return {"object_data_keys": "k1:" + "A" * 43 + "="}

        def put(self, slug: str, values: Any) -> None:
            return None

        def exists(self, slug: str) -> bool:
            return True

    runner = AutomationStackRunner(backend_url=f"file://{tmp_path / 'state'}",
                                   env={"PULUMI_CONFIG_PASSPHRASE": "passphrase"})
    return HetznerProvider(options, stacks=runner, playbooks=NoPlaybooks(),
                           secrets=Secrets(),  # type: ignore[arg-type]
                           state_dir=tmp_path / "tenants")


def tenant() -> Tenant:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return Tenant(slug="acme", display_name="Acme", provider="hetzner",
                  state=TenantState.PROVISIONING, config={}, created_at=now, updated_at=now)


def test_the_token_is_on_no_command_line_and_in_the_clis_environment(
        tmp_path: Path, cli: Path) -> None:
    cp = provider(tmp_path)
    assert cp.provision(tenant(), TenantConfig()) == "https://198.51.100.7"
    cp.provision(tenant(), TenantConfig())  # a re-apply: refresh, then up
    cp.deprovision(tenant())

    seen = calls(cli)
    argvs = [c["argv"] for c in seen]
    ran = [next(a for a in argv[1:] if not a.startswith("-")) for argv in argvs]
    assert {"config", "up", "refresh", "destroy"} <= set(ran), ran  # the real SDK drove it
    for argv in argvs:
        assert not any(TOKEN in arg for arg in argv), f"token on a command line: {argv[1:4]}"
        assert not any(arg.startswith("hcloud:token") for arg in argv)
    # every command that talks to Hetzner got the token from its environment
    for call, name in zip(seen, ran, strict=True):
        if name in ("up", "refresh", "destroy"):
            assert call["token_in_env"], name
    log = cp.job_log("acme").read_text("utf-8")
    assert TOKEN not in log


def test_a_token_an_older_control_plane_kept_in_stack_config_is_removed(
        tmp_path: Path, cli: Path) -> None:
    state = tmp_path / "stack-config.json"
    state.write_text(json.dumps({"hcloud:token": {"value": "old", "secret": True}}), "utf-8")
    provider(tmp_path).provision(tenant(), TenantConfig())
    assert not state.exists(), "the stack's own hcloud:token would win over the environment"
    assert any("rm" in c["argv"] and "hcloud:token" in c["argv"] for c in calls(cli))


def test_the_workspace_repr_names_no_secret(tmp_path: Path) -> None:
    runner = AutomationStackRunner(backend_url="file:///nowhere",
                                   env={"PULUMI_CONFIG_PASSPHRASE": "pass-9f8e7d"})
    options = runner._options({"HCLOUD_TOKEN": TOKEN})
    assert options.env_vars == {"PULUMI_CONFIG_PASSPHRASE": "pass-9f8e7d", "HCLOUD_TOKEN": TOKEN}
    shown = repr(options.env_vars)
    assert TOKEN not in shown and "pass-9f8e7d" not in shown and "HCLOUD_TOKEN" in shown
