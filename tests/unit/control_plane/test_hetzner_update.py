"""The hetzner provider's data-plane update (issue 18) with fakes of its runners: the
``dataplane_update`` role (``update.yml``) gets the release's images (container engines) or
wheel (process engine); its own rollback on a failed health check is reported as
``UpdateRolledBack`` once the old version answers healthy; a version the data plane does not
report is rolled back by running the role again with the previous release; a rollback that
does not come back healthy fails; an unknown release is refused before any playbook runs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from control_plane.domain.lifecycle import Tenant, TenantState
from control_plane.errors import ProvisioningFailed, ReleaseNotFound, UpdateRolledBack
from control_plane.providers.base import ReleaseUpdates
from control_plane.providers.hetzner.ansible import PlaybookFailed
from control_plane.providers.hetzner.provider import HetznerOptions, HetznerProvider
from control_plane.providers.hetzner.stack import OutputSink
from tests.unit.control_plane.test_hetzner_provider import (
    PUBLIC_KEY,
    TOKEN,
    FakePlaybooks,
    FakeSecrets,
    FakeStacks,
    config,
    tenant,
)


class RoleOnHost(FakePlaybooks):
    """``update.yml`` as the role behaves on a host whose data plane runs ``running``: it
    moves to the new version, or — when ``not_ready`` names it — prints the role's rollback
    report, stays on the old version and fails."""

    def __init__(self) -> None:
        super().__init__()
        self.running = "0.1.0"
        self.not_ready: set[str] = set()

    def run(self, playbook: str, *, inventory: Mapping[str, Any],
            extravars: Mapping[str, Any], secrets: Mapping[str, str] | None,
            on_output: OutputSink, timeout_s: float,
            data: Mapping[str, Any] | None = None) -> None:
        super().run(playbook, inventory=inventory, extravars=extravars, secrets=secrets,
                    on_output=on_output, timeout_s=timeout_s, data=data)
        if playbook != "update.yml":
            return
        version = extravars["dataplane_update_version"]
        if version in self.not_ready:
            on_output(f'fatal: [fb-acme]: FAILED! => {{"msg": "Version {version} did not '
                      f'become ready; rolled back to {self.running}."}}')
            raise PlaybookFailed("playbook update.yml failed (rc 2); see the job log")
        self.running = version


def _releases(root: Path) -> Path:
    for tag in ("0.1.0", "0.2.0", "0.2.0-hotfix1"):
        (root / "images" / tag).mkdir(parents=True)
        (root / "images" / tag / "images.json").write_text(json.dumps([]), "utf-8")
    (root / "wheels").mkdir()
    (root / "wheels" / "frostbyte-0.2.0-py3-none-any.whl").write_bytes(b"PK")
    return root


def _provider(tmp_path: Path, role: RoleOnHost, *, engine: str = "docker",
              reports: dict[str, str] | None = None) -> HetznerProvider:
    options = HetznerOptions(hcloud_token=TOKEN, ssh_public_key=PUBLIC_KEY,
                             ssh_private_key_file=tmp_path / "id_ed25519",
                             control_plane_addresses=("203.0.113.10",),
                             container_engine=engine,
                             releases_dir=_releases(tmp_path / "dist"))

    def read_version(t: Tenant) -> str:  # what /healthz says through the control channel
        return (reports or {}).get(role.running, role.running)

    return HetznerProvider(options, stacks=FakeStacks(), playbooks=role,
                           secrets=FakeSecrets(), state_dir=tmp_path / "state",
                           sleep=lambda _: None, read_version=read_version)


def _active(provider: HetznerProvider) -> Tenant:
    t = tenant()
    t.endpoint = provider.provision(t, config())
    t.state, t.version = TenantState.PROVISIONING, "0.1.0"
    return t


@pytest.fixture
def role() -> RoleOnHost:
    return RoleOnHost()


def test_the_update_runs_the_role_with_the_releases_images(tmp_path: Path,
                                                           role: RoleOnHost) -> None:
    provider = _provider(tmp_path, role)
    assert isinstance(provider, ReleaseUpdates) and provider.default_version()
    t = _active(provider)
    assert provider.update(t, config(), "0.2.0") == t.endpoint
    update = role.runs[-1]
    assert update["playbook"] == "update.yml" and update["secrets"] is None
    assert update["extravars"]["dataplane_update_version"] == "0.2.0"
    assert update["extravars"]["dataplane_update_images_src"] == str(
        tmp_path / "dist" / "images" / "0.2.0")
    assert role.running == "0.2.0"


def test_a_local_version_label_becomes_an_image_tag(tmp_path: Path, role: RoleOnHost) -> None:
    # the role runs the image tagged 0.2.0-hotfix1, whose data plane reports 0.2.0+hotfix1
    provider = _provider(tmp_path, role, reports={"0.2.0-hotfix1": "0.2.0+hotfix1"})
    provider.update(_active(provider), config(), "0.2.0+hotfix1")
    assert role.runs[-1]["extravars"]["dataplane_update_version"] == "0.2.0-hotfix1"


def test_the_process_engine_gets_the_releases_wheel(tmp_path: Path, role: RoleOnHost) -> None:
    provider = _provider(tmp_path, role, engine="process")
    provider.update(_active(provider), config(), "0.2.0")
    variables = role.runs[-1]["extravars"]
    assert variables["dataplane_update_release_src"] == str(
        tmp_path / "dist" / "wheels" / "frostbyte-0.2.0-py3-none-any.whl")


def test_the_roles_own_rollback_is_reported_with_its_reason(tmp_path: Path,
                                                            role: RoleOnHost) -> None:
    provider = _provider(tmp_path, role)
    t = _active(provider)
    role.not_ready.add("0.2.0")
    with pytest.raises(UpdateRolledBack) as rolled:
        provider.update(t, config(), "0.2.0")
    assert rolled.value.reason == "Version 0.2.0 did not become ready; rolled back to 0.1.0."
    assert rolled.value.endpoint == t.endpoint
    assert role.names[-2:] == ["update.yml", "health.yml"]  # checked healthy on 0.1.0


def test_a_rollback_that_does_not_come_back_healthy_fails(tmp_path: Path,
                                                          role: RoleOnHost) -> None:
    provider = _provider(tmp_path, role)
    t = _active(provider)
    role.not_ready.add("0.2.0")
    role.fail.add("health.yml")
    with pytest.raises(ProvisioningFailed, match=r"rollback to 0\.1\.0 did not come back") as e:
        provider.update(t, config(), "0.2.0")
    assert not isinstance(e.value, UpdateRolledBack)


def test_a_release_reporting_another_version_is_rolled_back(tmp_path: Path,
                                                            role: RoleOnHost) -> None:
    provider = _provider(tmp_path, role, reports={"0.2.0": "0.1.9"})  # mis-tagged images
    t = _active(provider)
    with pytest.raises(UpdateRolledBack, match=r"reports version 0\.1\.9, not 0\.2\.0"):
        provider.update(t, config(), "0.2.0")
    versions = [r["extravars"]["dataplane_update_version"] for r in role.runs
                if r["playbook"] == "update.yml"]
    assert versions == ["0.2.0", "0.1.0"] and role.running == "0.1.0"


def test_an_unknown_release_is_refused_before_any_playbook(tmp_path: Path,
                                                           role: RoleOnHost) -> None:
    provider = _provider(tmp_path, role)
    t = _active(provider)
    runs = len(role.runs)
    with pytest.raises(ReleaseNotFound, match=r"0\.3\.0"):
        provider.check_release(t, "0.3.0")
    with pytest.raises(ReleaseNotFound):
        provider.update(t, config(), "0.3.0")
    assert len(role.runs) == runs
