"""The hetzner provider's orchestration, with fakes of its two runners (no Pulumi CLI, no
Hetzner account, no servers here): provision → update → deprovision, a failed ``up`` rolled
back, Automation API errors mapped, and the registration only when configured."""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from control_plane.domain.lifecycle import Tenant, TenantState
from control_plane.errors import InvalidConfig, ProvisioningFailed
from control_plane.providers.base import Provider
from control_plane.providers.hetzner.ansible import PlaybookFailed
from control_plane.providers.hetzner.provider import (
    HetznerOptions,
    HetznerProvider,
    job_output_window,
)
from control_plane.providers.hetzner.stack import (
    OutputSink,
    StackBusy,
    StackConfig,
    StackError,
    StackNotFound,
)
from frostbyte_common.data_keys import DataKeyring
from frostbyte_common.tenant_config import TenantConfig
from frostbyte_common.version import __version__

TOKEN = "hcloud-token-0123456789abcdef0123456789abcdef0123456789abcdef0123"
DB_PASSWORD = "db-password-never-in-a-log-4f1c9a"
DATA_KEYS = "k1:" + "A" * 43 + "="
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBfakefakefakefakefakefakefakefake cp"


class FakeStacks:
    """Stands in for the Automation API: stacks with resources and outputs, scripted
    failures, and the calls it got."""

    def __init__(self) -> None:
        self.stacks: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.configs: list[StackConfig] = []
        self.fail_up: StackError | None = None
        self.fail_destroy: StackError | None = None
        self.busy = 0
        self._ips = itertools.count(20)

    def up(self, stack: str, config: StackConfig, on_output: OutputSink,
           timeout_s: float) -> dict[str, Any]:
        self.calls.append(("up", stack))
        self.configs.append(config)
        assert timeout_s >= 600, "Hetzner servers can take 10 minutes"
        if self.busy:
            self.busy -= 1
            raise StackBusy(f"stack {stack} is being updated by someone else")
        state = self.stacks.setdefault(stack, {"resources": [], "outputs": {}})
        on_output(f"Updating ({stack}): hcloud:token [secret]")
        state["resources"] += [r for r in ("network", "subnet", "firewall", "ssh_key")
                               if r not in state["resources"]]
        if self.fail_up is not None:
            on_output("error: server create failed: resource_unavailable")
            raise self.fail_up
        state["resources"] += [r for r in ("server", "volume") if r not in state["resources"]]
        if not state["outputs"]:
            ip = f"198.51.100.{next(self._ips)}"
            state["outputs"] = {"server_id": "42", "public_ipv4": ip,
                                "private_ipv4": "10.64.0.2", "firewall_id": "7",
                                "network_id": "8", "volume_id": "9"}
        on_output("Resources: 6 unchanged")
        return dict(state["outputs"])

    def refresh(self, stack: str, config: StackConfig, on_output: OutputSink,
                timeout_s: float) -> None:
        self.calls.append(("refresh", stack))
        if stack not in self.stacks:
            raise StackNotFound(f"stack {stack} does not exist")

    def destroy(self, stack: str, config: StackConfig, on_output: OutputSink,
                timeout_s: float) -> None:
        self.calls.append(("destroy", stack))
        if self.fail_destroy is not None:
            raise self.fail_destroy
        if stack not in self.stacks:
            raise StackNotFound(f"stack {stack} does not exist")
        self.stacks[stack]["resources"] = []
        on_output("Resources: 6 deleted")

    def outputs(self, stack: str) -> dict[str, Any]:
        if stack not in self.stacks:
            raise StackNotFound(stack)
        return dict(self.stacks[stack]["outputs"])

    def resources(self, stack: str) -> list[str]:
        if stack not in self.stacks:
            raise StackNotFound(stack)
        return list(self.stacks[stack]["resources"])

    def remove(self, stack: str) -> None:
        self.calls.append(("remove", stack))
        self.stacks.pop(stack, None)


class FakePlaybooks:
    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []
        self.fail: set[str] = set()

    def run(self, playbook: str, *, inventory: Mapping[str, Any],
            extravars: Mapping[str, Any], secrets: Mapping[str, str] | None,
            on_output: OutputSink, timeout_s: float,
            data: Mapping[str, Any] | None = None) -> None:
        self.runs.append({"playbook": playbook, "inventory": inventory,
                          "extravars": dict(extravars), "secrets": secrets, "data": data})
        on_output(f"PLAY [{playbook}] ***")
        if playbook in self.fail:
            raise PlaybookFailed(f"playbook {playbook} failed (rc 2); see the job log")

    @property
    def names(self) -> list[str]:
        return [r["playbook"] for r in self.runs]


class FakeSecrets:
    def __init__(self) -> None:
        self.values = {"database_password": DB_PASSWORD, "object_data_keys": DATA_KEYS}

    def get(self, slug: str) -> dict[str, str]:
        return dict(self.values)

    def put(self, slug: str, values: Mapping[str, str]) -> None:
        self.values = dict(values)

    def exists(self, slug: str) -> bool:
        return True

    def shred(self, slug: str) -> dict[str, bool]:
        return {}


def tenant(slug: str = "acme", config: dict[str, Any] | None = None) -> Tenant:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return Tenant(slug=slug, display_name=slug, provider="hetzner",
                  state=TenantState.PROVISIONING, config=config or {}, created_at=now,
                  updated_at=now)


def config(**network: Any) -> TenantConfig:
    return TenantConfig.model_validate(
        {"network": {"allowed_cidrs": ["198.51.100.0/24"], **network}})


@pytest.fixture
def parts(tmp_path: Path) -> tuple[HetznerProvider, FakeStacks, FakePlaybooks, list[float]]:
    stacks, playbooks, slept = FakeStacks(), FakePlaybooks(), []
    options = HetznerOptions(hcloud_token=TOKEN, ssh_public_key=PUBLIC_KEY,
                             ssh_private_key_file=tmp_path / "id_ed25519",
                             control_plane_addresses=("203.0.113.10",))
    provider = HetznerProvider(options, stacks=stacks, playbooks=playbooks,
                               secrets=FakeSecrets(), state_dir=tmp_path / "state",
                               sleep=slept.append)
    return provider, stacks, playbooks, slept


def test_is_a_provider(parts: Any) -> None:
    assert isinstance(parts[0], Provider)
    assert parts[0].name == "hetzner"


def test_provision_update_deprovision(parts: Any) -> None:
    provider, stacks, playbooks, _ = parts
    t = tenant()
    endpoint = provider.provision(t, config())
    assert endpoint == "https://198.51.100.20"
    assert stacks.calls == [("up", "tenant-acme")]
    cfg = stacks.configs[0]
    assert cfg.environment == {"HCLOUD_TOKEN": TOKEN}  # by environment, never config
    assert TOKEN not in repr(cfg) and TOKEN not in str(cfg.values)
    assert cfg.values["frostbyte:tenant"] == "acme"
    assert cfg.values["frostbyte:allowedCidrs"] == '["198.51.100.0/24"]'
    assert cfg.values["frostbyte:embeddingMode"] == "offline"
    assert ipaddress.ip_network(cfg.values["frostbyte:networkCidr"]).is_private
    (deploy,) = playbooks.runs
    assert deploy["playbook"] == "site.yml"
    assert deploy["secrets"] == {"database_password": DB_PASSWORD, "object_data_keys": DATA_KEYS}
    assert DB_PASSWORD not in str(deploy["extravars"]) + str(deploy["inventory"])
    ruleset = deploy["extravars"]["dataplane_host_nftables_ruleset"]
    assert "policy drop;" in ruleset and "203.0.113.10/32 } tcp dport 22" in ruleset
    assert deploy["extravars"]["dataplane_host_volume_id"] == "9"
    assert deploy["extravars"]["dataplane_deploy_version"] == __version__  # pyproject's
    host = deploy["inventory"]["all"]["children"]["dataplane"]["hosts"]["fb-acme"]
    assert host["ansible_host"] == "198.51.100.20"
    assert "ControlPersist=no" in host["ansible_ssh_common_args"]

    # a config change re-applies: refresh, up with the new values, deploy again
    assert provider.provision(t, config(allowed_cidrs=["192.0.2.0/24"],
                                        server_type="cpx41")) == endpoint
    assert stacks.calls[1:] == [("refresh", "tenant-acme"), ("up", "tenant-acme")]
    assert stacks.configs[1].values["frostbyte:serverType"] == "cpx41"
    assert stacks.configs[1].values["frostbyte:networkCidr"] == cfg.values[
        "frostbyte:networkCidr"], "a tenant keeps its network block"
    assert playbooks.names == ["site.yml", "site.yml"]

    assert provider.stop(t) == ["data plane on fb-acme-server"]
    assert provider.start(t, config()) == endpoint
    assert provider.is_healthy(t)
    provider.install_vendor_key(t, "k1", "ab" * 32, ["ingest"], None)
    provider.revoke_vendor_key(t, "k1")

    provider.deprovision(t)
    assert playbooks.names[-1] == "wipe.yml"
    assert stacks.calls[-2:] == [("destroy", "tenant-acme"), ("remove", "tenant-acme")]
    assert provider.verify_deprovisioned(t) == {
        "hetzner_resources": True, "network_block": True, "known_hosts": True}
    provider.deprovision(t)  # idempotent
    assert provider.stop(t) == []
    assert not provider.is_healthy(t)

    log = provider.job_log("acme").read_text("utf-8")
    assert "Resources: 6 deleted" in log and "PLAY [site.yml]" in log
    assert TOKEN not in log and DB_PASSWORD not in log


JOB_LOG = """\
2026-01-01T09:59:59Z [pulumi] an older job, stamped before stamps had microseconds
2026-01-01T10:00:00.000001Z [pulumi] Updating (tenant-acme):
2026-01-01T10:00:05.250000Z [site.yml] TASK [dataplane_deploy : Wait for /readyz] ***
fatal: [fb-acme]: FAILED! => {"msg": "timed out"}
2026-13-01T00:00:00Z [not a stamp] so it continues the line before
2026-01-01T10:00:09.999999Z [rollback] up failed; destroying what it made
2026-01-01T10:00:10.000001Z [health.yml] PLAY [health.yml] ***
"""


def at(time: str) -> datetime:
    return datetime.fromisoformat(f"2026-01-01T{time}+00:00")


def test_job_output_window_picks_the_lines_stamped_in_it() -> None:
    lines = JOB_LOG.splitlines(keepends=True)
    window = job_output_window(lines, at("10:00:00"), at("10:00:10"), 100)
    # the unstamped line and the one with a false stamp go with the line before them
    assert window.lines == tuple(JOB_LOG.splitlines()[1:6])
    assert window.total == 5
    # the bounds are inclusive; an open job's window has no end
    assert job_output_window(lines, at("10:00:09.999999"), at("10:00:09.999999"),
                             100).total == 1
    assert job_output_window(lines, at("10:00:09.999999"), None, 100).lines[-1].endswith(
        "PLAY [health.yml] ***")
    # whole-second stamps of older logs still place their lines
    assert job_output_window(lines, at("09:00:00"), at("09:59:59"), 100).lines == (
        "2026-01-01T09:59:59Z [pulumi] an older job, stamped before stamps had microseconds",)


def test_job_output_window_keeps_the_tail() -> None:
    tail = job_output_window(JOB_LOG.splitlines(), at("10:00:00"), None, 2)
    assert tail.total == 6
    assert tail.lines[0].endswith("destroying what it made")
    assert job_output_window(JOB_LOG.splitlines(), at("10:00:00"), None, 0).lines == ()
    assert job_output_window(["unstamped, before any stamp"], at("00:00:00"), None,
                             9).total == 0


def test_job_output_is_the_jobs_window_of_the_job_log(parts: Any) -> None:
    provider, stacks, _, _ = parts
    t = tenant()
    assert provider.job_output(t, at("00:00:00"), None, 10).total == 0, "no job.log yet"
    before_first = datetime.now(UTC)
    provider.provision(t, config())
    between = datetime.now(UTC)
    stacks.fail_up = StackError("up failed")
    with pytest.raises(StackError):
        provider.provision(t, config(server_type="cpx41"))
    after_second = datetime.now(UTC)

    first = provider.job_output(t, before_first, between, 100)
    assert [line.split(" ", 2)[1:] for line in first.lines] == [
        ["[pulumi]", "Updating (tenant-acme): hcloud:token [secret]"],
        ["[pulumi]", "Resources: 6 unchanged"],
        ["[site.yml]", "PLAY [site.yml] ***"]]
    second = provider.job_output(t, between, after_second, 100)
    assert [line.split(" ", 2)[2] for line in second.lines] == [
        "Updating (tenant-acme): hcloud:token [secret]",
        "error: server create failed: resource_unavailable"]
    assert TOKEN not in "".join(first.lines + second.lines)


def test_a_multi_line_message_is_stamped_line_by_line(parts: Any) -> None:
    provider, _, _, _ = parts
    provider._sink("acme", "site.yml")("TASK [x] ***\r\n\x1b[0;32mok: [fb-acme]\x1b[0m\n\n")
    lines = provider.job_log("acme").read_text("utf-8").splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "[site.yml] TASK [x] ***", "[site.yml] ok: [fb-acme]"]
    assert lines[0].split(" ")[0] == lines[1].split(" ")[0]
    assert len(lines[0].split(" ")[0]) == len("2026-01-01T10:00:00.000000Z")


def test_failed_first_up_is_rolled_back(parts: Any) -> None:
    provider, stacks, playbooks, _ = parts
    stacks.fail_up = StackError("up of stack tenant-acme failed (see the job log)")
    with pytest.raises(ProvisioningFailed, match="partial resources destroyed"):
        provider.provision(tenant(), config())
    assert stacks.calls == [("up", "tenant-acme"), ("destroy", "tenant-acme")]
    assert stacks.stacks["tenant-acme"]["resources"] == []
    assert playbooks.runs == []
    assert "destroying what it made" in provider.job_log("acme").read_text("utf-8")
    # the retry starts from scratch and succeeds
    stacks.fail_up = None
    assert provider.provision(tenant(), config()).startswith("https://")


def test_failed_rollback_is_recorded_and_deprovision_cleans_up(parts: Any) -> None:
    provider, stacks, _, _ = parts
    stacks.fail_up = StackError("up failed")
    stacks.fail_destroy = StackError("destroy failed")
    with pytest.raises(ProvisioningFailed, match="recorded in stack tenant-acme"):
        provider.provision(tenant(), config())
    assert stacks.stacks["tenant-acme"]["resources"]
    assert provider.verify_deprovisioned(tenant())["hetzner_resources"] is False
    stacks.fail_destroy = None
    provider.deprovision(tenant())
    assert all(provider.verify_deprovisioned(tenant()).values())


def test_failed_reapply_never_destroys_a_live_tenant(parts: Any) -> None:
    provider, stacks, _, _ = parts
    provider.provision(tenant(), config())
    stacks.fail_up = StackError("up failed")
    with pytest.raises(StackError):
        provider.provision(tenant(), config(server_type="cpx41"))
    assert ("destroy", "tenant-acme") not in stacks.calls
    assert "server" in stacks.stacks["tenant-acme"]["resources"]


def test_busy_stack_is_retried_with_backoff(parts: Any) -> None:
    provider, stacks, _, slept = parts
    stacks.busy = 2
    provider.provision(tenant(), config())
    assert [c for c in stacks.calls if c[0] == "up"] == [("up", "tenant-acme")] * 3
    assert len(slept) == 2 and slept[1] > slept[0] / 2 > 0


def test_busy_stack_gives_up_without_destroying(parts: Any) -> None:
    provider, stacks, playbooks, slept = parts
    stacks.busy = 99
    with pytest.raises(StackBusy, match="someone else"):
        provider.provision(tenant(), config())
    assert ("destroy", "tenant-acme") not in stacks.calls
    assert len(slept) == 3 and all(s <= 120 for s in slept)
    assert playbooks.runs == []


def test_failed_deploy_keeps_infra_for_the_retry(parts: Any) -> None:
    provider, stacks, playbooks, _ = parts
    playbooks.fail.add("site.yml")
    with pytest.raises(PlaybookFailed, match=r"site\.yml"):
        provider.provision(tenant(), config())
    assert ("destroy", "tenant-acme") not in stacks.calls
    playbooks.fail.clear()
    assert provider.provision(tenant(), config()) == "https://198.51.100.20"


def test_health_is_false_when_the_health_playbook_fails(parts: Any) -> None:
    provider, _, playbooks, _ = parts
    provider.provision(tenant(), config())
    playbooks.fail.add("health.yml")
    assert provider.is_healthy(tenant()) is False


def test_wipe_failure_does_not_stop_teardown(parts: Any) -> None:
    provider, stacks, playbooks, _ = parts
    provider.provision(tenant(), config())
    playbooks.fail.add("wipe.yml")
    provider.deprovision(tenant())
    assert ("destroy", "tenant-acme") in stacks.calls
    assert all(provider.verify_deprovisioned(tenant()).values())


@pytest.mark.parametrize("cidrs", [["not-a-cidr"], ["300.0.0.0/8"]])
def test_bad_config_fails_before_anything_is_created(parts: Any, cidrs: list[str]) -> None:
    provider, stacks, _, _ = parts
    with pytest.raises(InvalidConfig):
        provider.provision(tenant(), config(allowed_cidrs=cidrs))
    assert stacks.calls == []


def test_two_tenants_get_disjoint_blocks(parts: Any) -> None:
    provider, stacks, _, _ = parts
    provider.provision(tenant("acme"), config())
    provider.provision(tenant("globex"), config())
    a, b = (ipaddress.ip_network(c.values["frostbyte:networkCidr"]) for c in stacks.configs)
    assert not a.overlaps(b)


def test_endpoint_uses_the_domain_when_configured(tmp_path: Path) -> None:
    options = HetznerOptions(hcloud_token=TOKEN, ssh_public_key=PUBLIC_KEY,
                             ssh_private_key_file=tmp_path / "k",
                             control_plane_addresses=("203.0.113.10",),
                             endpoint_domain="tenants.example.eu")
    provider = HetznerProvider(options, stacks=FakeStacks(), playbooks=FakePlaybooks(),
                               secrets=FakeSecrets(), state_dir=tmp_path)
    assert provider.provision(tenant(), config()) == "https://acme.tenants.example.eu"


def test_a_tenant_without_data_keys_gets_them_kept_before_the_host_does(
        tmp_path: Path) -> None:
    # a tenant made before objects were encrypted: its SOPS secrets have no data keys yet
    secrets, playbooks = FakeSecrets(), FakePlaybooks()
    del secrets.values["object_data_keys"]
    options = HetznerOptions(hcloud_token=TOKEN, ssh_public_key=PUBLIC_KEY,
                             ssh_private_key_file=tmp_path / "k",
                             control_plane_addresses=("203.0.113.10",))
    provider = HetznerProvider(options, stacks=FakeStacks(), playbooks=playbooks,
                               secrets=secrets, state_dir=tmp_path)
    provider.provision(tenant(), config())
    kept = secrets.values["object_data_keys"]
    assert len(DataKeyring.parse(kept).ids) == 1  # a first keyring, in the SOPS secrets
    provider.apply_secrets(tenant(), config())
    first, second = (run["secrets"]["object_data_keys"] for run in playbooks.runs)
    assert first == second == kept, "the same keys on every deploy"


# -- the Automation API adapter's error mapping ----------------------------------------------
def test_automation_errors_are_mapped() -> None:
    auto = pytest.importorskip("pulumi.automation")
    from pulumi.automation._cmd import CommandResult

    from control_plane.providers.hetzner.automation import _mapped

    def raised(exc: Exception) -> Exception:
        try:
            with _mapped("tenant-acme", "up"):
                raise exc
        except StackError as mapped:
            return mapped
        raise AssertionError("not mapped")

    result = CommandResult(stdout="", stderr=f"error: token {TOKEN}", code=255)
    busy = raised(auto.ConcurrentUpdateError(result))
    assert isinstance(busy, StackBusy) and "retried later" in str(busy)
    assert isinstance(raised(auto.StackNotFoundError(result)), StackNotFound)
    generic = raised(auto.CommandError(result))
    assert type(generic) is StackError and TOKEN not in str(generic)
    assert "CLI is not installed" in str(raised(FileNotFoundError("pulumi")))


# -- registration ----------------------------------------------------------------------------
def test_registered_only_when_configured(tmp_path: Path) -> None:
    from control_plane.settings import ControlPlaneSettings
    from control_plane.wiring import default_providers

    base = {"database_url": "dbname=none", "state_dir": tmp_path}
    assert set(default_providers(ControlPlaneSettings(**base))) == {"local", "local-podman"}
    key = tmp_path / "id_ed25519"
    key.write_text("not read by this test\n")
    key.with_name("id_ed25519.pub").write_text(PUBLIC_KEY + "\n")
    configured = ControlPlaneSettings(
        **base, hetzner_token=TOKEN, hetzner_ssh_key_file=key,
        hetzner_control_plane_addresses="203.0.113.10")
    providers = default_providers(configured)
    assert set(providers) == {"local", "local-podman", "hetzner"}
    assert isinstance(providers["hetzner"], HetznerProvider)


def test_site_inventory_vars_reach_every_playbook_run(tmp_path: Path) -> None:
    options = HetznerOptions(hcloud_token=TOKEN, ssh_public_key=PUBLIC_KEY,
                             ssh_private_key_file=tmp_path / "k",
                             control_plane_addresses=("203.0.113.10",),
                             container_engine="process",
                             inventory_vars={"dataplane_deploy_process_python": "/opt/fb/py"})
    playbooks = FakePlaybooks()
    provider = HetznerProvider(options, stacks=FakeStacks(), playbooks=playbooks,
                               secrets=FakeSecrets(), state_dir=tmp_path)
    provider.provision(tenant(), config())
    provider.stop(tenant())
    assert playbooks.names == ["site.yml", "stop.yml"]
    for run in playbooks.runs:
        (host,) = run["inventory"]["all"]["children"]["dataplane"]["hosts"].values()
        assert host["dataplane_deploy_process_python"] == "/opt/fb/py"
        assert host["dataplane_tenant"] == "acme"
        assert run["extravars"]["dataplane_engine"] == "process"
