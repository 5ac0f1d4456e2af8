"""The podman engine's control channel (issue 16, finding 10): the control plane reaches a
container set's control routes on its gateway's control listener, published on the host's
loopback, not through the vendor listener (which answers 404 for ``/control/``)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from control_plane.domain.lifecycle import Tenant, TenantState
from control_plane.errors import DataPlaneError
from control_plane.providers.local_podman import LocalPodmanProvider, control_url


class _Engine:
    """podman as the provider asks it: the set's gateway container and its published ports."""

    def __init__(self, published: str) -> None:
        self.published = published
        self.calls: list[tuple[str, ...]] = []

    def container(self, project: str, service: str) -> str | None:
        return f"{project}_{service}_1"

    def run(self, *args: str, what: str, check: bool = True,
            timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        return subprocess.CompletedProcess(["podman", *args], 0, self.published, "")


def _tenant() -> Tenant:
    now = datetime.now(UTC)
    return Tenant(slug="acme", display_name="Acme", provider="local-podman",
                  state=TenantState.ACTIVE, config={}, created_at=now, updated_at=now,
                  endpoint="https://127.0.0.1:8101")


def _provider(tmp_path: Path, engine: _Engine) -> LocalPodmanProvider:
    return LocalPodmanProvider(state_dir=tmp_path, port_range=range(8101, 8110),
                               secrets=None, engine=engine)  # type: ignore[arg-type]


def test_control_calls_go_to_the_sets_loopback_control_listener(tmp_path: Path) -> None:
    engine = _Engine("127.0.0.1:40123\n")
    with _provider(tmp_path, engine).control_channel(_tenant()) as url:
        assert url == "http://127.0.0.1:40123"
    assert engine.calls == [("port", "frostbyte-acme_gateway_1", "8080/tcp")]
    assert control_url("[::1]:40124\n", "acme") == "http://[::1]:40124"


def test_a_control_listener_off_loopback_is_never_used(tmp_path: Path) -> None:
    for published in ("0.0.0.0:40123\n", "", "10.0.0.5:8080\n"):
        with pytest.raises(DataPlaneError, match="loopback"), \
                _provider(tmp_path, _Engine(published)).control_channel(_tenant()):
            pass
