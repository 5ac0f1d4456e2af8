"""The hetzner provider's control channel: an SSH local forward to the data plane's loopback
port, since the firewall keeps the vendor port closed to the control plane (SPEC §4).

A fake process launcher proves the command line, the process ended in every case (by the
tunnel, through the handle of the process it started) and a forward that never comes up
reported as the 502 of an unreachable data plane; two tests start real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from control_plane.api.errors import install_error_handlers
from control_plane.domain.lifecycle import Tenant
from control_plane.errors import DataPlaneError
from control_plane.providers.hetzner.provider import HetznerOptions, HetznerProvider
from control_plane.providers.hetzner.tunnel import (
    ControlChannelDown,
    SshTunnels,
    TunnelProcess,
    TunnelTarget,
    launch_ssh,
    ssh_forward_argv,
)
from control_plane.services.data_plane_control import open_control_channel
from tests.unit.control_plane.test_hetzner_provider import (
    PUBLIC_KEY,
    TOKEN,
    FakePlaybooks,
    FakeSecrets,
    FakeStacks,
    config,
    tenant,
)

LOCAL_PORT = 40111


class FakeProcess:
    """An ssh that runs until signalled; ``linger`` ignores SIGTERM; ``exit_code`` makes it
    exit at once with ``stderr``."""

    def __init__(self, argv: Sequence[str], *, linger: bool = False,
                 exit_code: int | None = None, stderr: str = "") -> None:
        self.argv = list(argv)
        self.pid = 4242
        self.signals: list[int] = []
        self.linger = linger
        self.code = exit_code
        self.stderr = stderr

    def poll(self) -> int | None:
        return self.code

    def send_signal(self, sig: int) -> None:
        self.signals.append(sig)
        if sig == signal.SIGKILL or not self.linger:
            self.code = -sig

    def wait(self, timeout: float | None = None) -> int:
        if self.code is None:
            raise subprocess.TimeoutExpired("ssh", timeout or 0)
        return self.code

    def error_output(self) -> str:
        return self.stderr


class Launcher:
    def __init__(self, **process: Any) -> None:
        self.process_args = process
        self.started: list[FakeProcess] = []

    def __call__(self, argv: Sequence[str]) -> TunnelProcess:
        process = FakeProcess(argv, **self.process_args)
        self.started.append(process)
        return process


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def tunnels(launcher: Launcher, *, up_after: int = 0, clock: Clock | None = None
            ) -> SshTunnels:
    probes = iter(range(10_000))
    clock = clock or Clock()
    return SshTunnels(launcher=launcher, pick_port=lambda: LOCAL_PORT,
                      accepts=lambda port: next(probes) >= up_after, up_timeout_s=3.0,
                      sleep=clock.sleep, clock=clock)


@pytest.fixture
def provisioned(tmp_path: Path) -> Iterator[tuple[HetznerProvider, Launcher, Tenant]]:
    launcher = Launcher()
    options = HetznerOptions(hcloud_token=TOKEN, ssh_public_key=PUBLIC_KEY,
                             ssh_private_key_file=tmp_path / "id_ed25519",
                             control_plane_addresses=("203.0.113.10",))
    provider = HetznerProvider(options, stacks=FakeStacks(), playbooks=FakePlaybooks(),
                               secrets=FakeSecrets(), state_dir=tmp_path / "state",
                               sleep=lambda _: None, tunnels=tunnels(launcher, up_after=2))
    acme = tenant()
    acme.endpoint = provider.provision(acme, config())
    # the playbook run pinned the server's host key (the fake runner does not write it)
    (tmp_path / "state" / "acme" / "known_hosts").write_text("198.51.100.20 ssh-ed25519 AAAA\n")
    yield provider, launcher, acme


def test_the_channel_is_a_loopback_forward_to_the_data_plane_port(
        provisioned: tuple[HetznerProvider, Launcher, Tenant], tmp_path: Path) -> None:
    provider, launcher, acme = provisioned
    with provider.control_channel(acme) as url:
        assert url == f"http://127.0.0.1:{LOCAL_PORT}"
        assert url != acme.endpoint, "never the vendor port"
        (process,) = launcher.started
        assert process.signals == [], "running while the call runs"
    argv = process.argv
    assert argv[:2] == ["ssh", "-N"]
    options = {argv[i + 1] for i, a in enumerate(argv) if a == "-o"}
    assert {"ExitOnForwardFailure=yes", "ControlMaster=no", "ControlPersist=no",
            "ControlPath=none", "BatchMode=yes", "StrictHostKeyChecking=yes",
            "IdentitiesOnly=yes"} <= options
    assert f"UserKnownHostsFile={tmp_path / 'state' / 'acme' / 'known_hosts'}" in options
    assert argv[argv.index("-F") + 1] == "none", "no user config (ControlMaster auto)"
    assert argv[argv.index("-i") + 1] == str(tmp_path / "id_ed25519")
    # bound to this machine's loopback only, leading to the server's loopback data plane
    assert argv[argv.index("-L") + 1] == f"127.0.0.1:{LOCAL_PORT}:127.0.0.1:8080"
    assert argv.count("-L") == 1 and "-R" not in argv and "-D" not in argv
    assert argv[-1] == "root@198.51.100.20"
    assert process.signals == [signal.SIGTERM]


def test_the_process_is_ended_when_the_call_fails(
        provisioned: tuple[HetznerProvider, Launcher, Tenant]) -> None:
    provider, launcher, acme = provisioned
    with pytest.raises(DataPlaneError, match="answered 500"), \
            provider.control_channel(acme):
        raise DataPlaneError("the data plane answered 500 INTERNAL: boom")
    assert launcher.started[0].signals == [signal.SIGTERM]


def test_a_lingering_ssh_is_killed() -> None:
    launcher = Launcher(linger=True)
    target = TunnelTarget("198.51.100.20", "root", Path("k"), Path("kh"), 8080)
    with tunnels(launcher).forward(target, what="fb-acme-server"):
        pass
    assert launcher.started[0].signals == [signal.SIGTERM, signal.SIGKILL]


def test_a_forward_that_never_comes_up_is_a_clear_502(tmp_path: Path) -> None:
    launcher, clock = Launcher(), Clock()
    target = TunnelTarget("198.51.100.20", "root", Path("k"), Path("kh"), 8080)
    with pytest.raises(ControlChannelDown, match="did not come up within 3 s") as caught, \
            tunnels(launcher, up_after=10_000, clock=clock).forward(
                target, what="fb-acme-server"):
        pytest.fail("the block must not run")
    assert launcher.started[0].signals == [signal.SIGTERM], "ended all the same"
    assert clock.now >= 3.0
    assert isinstance(caught.value, DataPlaneError)
    assert caught.value.status_code == 502 and caught.value.code == "DATA_PLANE_ERROR"

    app = FastAPI()
    install_error_handlers(app)

    @app.post("/v1/tenants/acme/suspend")
    async def suspend() -> None:
        raise caught.value

    answer = TestClient(app).post("/v1/tenants/acme/suspend")
    assert answer.status_code == 502
    assert answer.json()["error"]["code"] == "DATA_PLANE_ERROR"
    assert "fb-acme-server" in answer.json()["error"]["message"]


def test_ssh_that_exits_at_once_is_reported_with_its_message() -> None:
    launcher = Launcher(exit_code=255, stderr="debug\nroot@198.51.100.20: Permission denied "
                                              "(publickey).\n")
    target = TunnelTarget("198.51.100.20", "root", Path("k"), Path("kh"), 8080)
    with pytest.raises(ControlChannelDown, match=r"ssh exit 255\): .*Permission denied"), \
            tunnels(launcher).forward(target, what="fb-acme-server"):
        pytest.fail("the block must not run")
    assert launcher.started[0].signals == [], "already gone: nothing to signal"


def test_no_channel_without_a_server_or_a_pinned_host_key(
        provisioned: tuple[HetznerProvider, Launcher, Tenant], tmp_path: Path) -> None:
    provider, launcher, acme = provisioned
    (tmp_path / "state" / "acme" / "known_hosts").unlink()
    with pytest.raises(ControlChannelDown, match="no pinned SSH host key"), \
            provider.control_channel(acme):
        pass
    with pytest.raises(ControlChannelDown, match="no server yet"), \
            provider.control_channel(tenant("other")):
        pass
    assert launcher.started == []


def test_the_real_launcher_ends_its_process_by_pid() -> None:
    started: list[TunnelProcess] = []

    def sleeper(argv: Sequence[str]) -> TunnelProcess:
        assert "-L" in argv
        started.append(launch_ssh(["sleep", "60"]))
        return started[-1]

    tunnel = SshTunnels(launcher=sleeper, accepts=lambda port: True)
    target = TunnelTarget("198.51.100.20", "root", Path("k"), Path("kh"), 8080)
    with pytest.raises(RuntimeError), tunnel.forward(target, what="x"):
        os.kill(started[0].pid, 0)  # alive during the block
        raise RuntimeError("the call failed")
    assert started[0].poll() is not None
    with pytest.raises(ProcessLookupError):
        os.kill(started[0].pid, 0)  # ended and reaped


def test_real_ssh_to_a_closed_port_fails_fast_with_its_reason(tmp_path: Path) -> None:
    target = TunnelTarget("127.0.0.1", "root", tmp_path / "none", tmp_path / "known_hosts",
                          8080, ssh_port=1)
    tunnel = SshTunnels(up_timeout_s=20.0)
    with pytest.raises(ControlChannelDown, match=r"closed at once.*(refused|Connection)"), \
            tunnel.forward(target, what="fb-acme-server"):
        pytest.fail("the block must not run")


def test_argv_for_another_ssh_port_and_user() -> None:
    target = TunnelTarget("198.51.100.7", "ops", Path("/k"), Path("/kh"), 9000, ssh_port=2222)
    argv = ssh_forward_argv(target, 5555, ssh="/usr/bin/ssh")
    assert argv[0] == "/usr/bin/ssh"
    assert argv[argv.index("-p") + 1] == "2222"
    assert "127.0.0.1:5555:127.0.0.1:9000" in argv and argv[-1] == "ops@198.51.100.7"


class ChannelProvider:
    """Just the control channel, for the service's async wrapper."""

    def __init__(self) -> None:
        self.events: list[str] = []

    @contextmanager
    def control_channel(self, tenant: Tenant) -> Iterator[str]:
        self.events.append("open")
        try:
            yield "http://127.0.0.1:40111"
        finally:
            self.events.append("closed")


def test_the_service_closes_the_channel_when_the_call_fails() -> None:
    provider = ChannelProvider()

    async def call() -> None:
        async with open_control_channel(provider, tenant()) as url:  # type: ignore[arg-type]
            assert url == "http://127.0.0.1:40111"
            raise DataPlaneError("unreachable")

    with pytest.raises(DataPlaneError):
        asyncio.run(call())
    assert provider.events == ["open", "closed"]


def test_site_yml_lets_sshd_forward_only_to_the_data_plane_port(tmp_path: Path) -> None:
    playbooks = FakePlaybooks()
    options = HetznerOptions(hcloud_token=TOKEN, ssh_public_key=PUBLIC_KEY,
                             ssh_private_key_file=tmp_path / "id_ed25519",
                             control_plane_addresses=("203.0.113.10",), data_plane_port=8081)
    provider = HetznerProvider(options, stacks=FakeStacks(), playbooks=playbooks,
                               secrets=FakeSecrets(), state_dir=tmp_path / "state")
    provider.provision(tenant(), config())
    (site,) = [run for run in playbooks.runs if run["playbook"] == "site.yml"]
    assert site["extravars"]["dataplane_host_sshd_permit_open"] == ["127.0.0.1:8081"]
