"""Tenant data through the hetzner provider's real Ansible path is data, never a template.

ansible-core 2.19 treats extra vars (ansible-runner hands them over as ``-e @file``) as
trusted templates: a tenant-config string or a vendor-key label holding
``{{ lookup('pipe', ...) }}`` ran its command on the control plane's host. Here the real
:class:`HetznerProvider` (only the Pulumi stack is a fake) drives the real
:class:`AnsibleRunnerPlaybooks` against this machine (``ansible_connection: local``): the
deploy role's own tasks and templates render the tenant's config, and the real
``vendor_key.yml`` runs the admin command (a recorder stands in for the data plane's
interpreter). Every payload must arrive literally, and no payload's command may run.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dotenv import dotenv_values

from control_plane.domain.lifecycle import Tenant, TenantState
from control_plane.providers.hetzner.ansible import (
    AnsibleRunnerPlaybooks,
    PlaybookFailed,
    build_inventory,
    installed_playbooks,
)
from control_plane.providers.hetzner.provider import HetznerOptions, HetznerProvider
from control_plane.providers.hetzner.stack import OutputSink, StackConfig
from frostbyte_common.tenant_config import TenantConfig

pytest.importorskip("ansible_runner")
if shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) is None:
    pytest.skip("ansible-core is not installed", allow_module_level=True)

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBfakefakefakefakefakefakefakefake cp"
SECRETS = {
    "db_password": "pw-injection-test-1f2e3d",
    "object_store_access_key": "FBKEYINJECTION0001",
    "object_store_secret_key": "osk-injection-test-4c5b6a",
    "object_data_keys": "k1:" + "A" * 43 + "=",
    "tls_cert": "cert-injection-test",
    "tls_key": "key-injection-test",
}

# the probe's site.yml: the deploy role's own secrets hand-over, environment-file template and
# compose-environment tasks, without the host and engine work this machine cannot take
PROBE_SITE = """---
- name: Render what the deploy role renders from the tenant's config
  hosts: dataplane
  gather_facts: false
  tasks:
    - name: Read the secrets with the deploy role's own tasks
      ansible.builtin.include_role:
        name: dataplane_deploy
        tasks_from: secrets.yml
        public: true

    - name: Render the data plane's environment file with the role's template
      ansible.builtin.template:
        src: "{{ playbook_dir }}/roles/dataplane_deploy/templates/dataplane.env.j2"
        dest: "{{ dataplane_deploy_env_file }}"
        mode: "0600"
      no_log: true

    - name: Write the compose environment with the role's own tasks
      ansible.builtin.include_role:
        name: dataplane_deploy
        tasks_from: compose_env.yml
      vars:
        dataplane_deploy_compose_version: "{{ dataplane_deploy_version }}"
"""

RECORDER = """#!{python}
import json, sys
from pathlib import Path
with open(Path(__file__).with_name("argv.jsonl"), "a", encoding="utf-8") as out:
    out.write(json.dumps(sys.argv) + "\\n")
"""


class FakeStacks:
    """The Pulumi stack only: one server at 127.0.0.1 (this machine, reached locally)."""

    def up(self, stack: str, config: StackConfig, on_output: OutputSink,
           timeout_s: float) -> dict[str, Any]:
        return {"public_ipv4": "127.0.0.1", "private_ipv4": "10.64.0.2", "volume_id": ""}

    def refresh(self, stack: str, config: StackConfig, on_output: OutputSink,
                timeout_s: float) -> None:
        return None

    def destroy(self, stack: str, config: StackConfig, on_output: OutputSink,
                timeout_s: float) -> None:
        return None

    def outputs(self, stack: str) -> dict[str, Any]:
        return {}

    def resources(self, stack: str) -> list[str]:
        return []

    def remove(self, stack: str) -> None:
        return None


class Secrets:
    def __init__(self) -> None:
        self.values = dict(SECRETS)

    def get(self, slug: str) -> dict[str, str]:
        return dict(self.values)

    def put(self, slug: str, values: Mapping[str, str]) -> None:
        self.values = dict(values)

    def exists(self, slug: str) -> bool:
        return True

    def shred(self, slug: str) -> dict[str, bool]:
        return {}


def payload(marker: Path) -> str:
    """A string that, templated, runs ``touch <marker>`` on the machine running Ansible."""
    return f"{{{{ lookup('ansible.builtin.pipe', 'touch {marker}') }}}}"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The real roles and vendor_key.yml, with the probe as site.yml."""
    folder = tmp_path / "project"
    folder.mkdir()
    real = installed_playbooks()
    shutil.copy(real / "ansible.cfg", folder / "ansible.cfg")
    (folder / "roles").symlink_to(real / "roles")
    (folder / "vendor_key.yml").symlink_to(real / "vendor_key.yml")
    (folder / "site.yml").write_text(PROBE_SITE, encoding="utf-8")
    return folder


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """The 'server's' base folder, on this machine, with the recorder as its interpreter."""
    base = tmp_path / "srv"
    for sub in ("secrets", "compose", "bin"):
        (base / sub).mkdir(parents=True)
    recorder = base / "bin" / "python"
    recorder.write_text(RECORDER.format(python=sys.executable), encoding="utf-8")
    recorder.chmod(0o755)
    return base


def provider(tmp_path: Path, project: Path, host: Path) -> HetznerProvider:
    options = HetznerOptions(
        hcloud_token="hcloud-token-not-used-here", ssh_public_key=PUBLIC_KEY,
        ssh_private_key_file=tmp_path / "no-key", control_plane_addresses=("203.0.113.10",),
        container_engine="process",
        inventory_vars={
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "dataplane_deploy_base_dir": str(host), "dataplane_deploy_user": "root",
            "dataplane_deploy_group": "root",
            "dataplane_deploy_process_python": str(host / "bin" / "python")})
    return HetznerProvider(options, stacks=FakeStacks(),
                           playbooks=AnsibleRunnerPlaybooks(tmp_path / "runs",
                                                            playbooks_dir=project),
                           secrets=Secrets(), state_dir=tmp_path / "state")


def tenant() -> Tenant:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return Tenant(slug="acme", display_name="Acme", provider="hetzner",
                  state=TenantState.PROVISIONING, config={}, created_at=now, updated_at=now)


def test_tenant_strings_reach_the_host_literally_and_run_nothing_here(
        tmp_path: Path, project: Path, host: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    config = TenantConfig.model_validate({
        "classification": {"rules": [{"pattern": payload(markers / "pattern"),
                                      "doc_type": "invoice"},
                                     # quotes, a backslash, a dollar: data as well
                                     {"pattern": r"^INV-\d{4}$|O'Brien \"Ltd\"",
                                      "doc_type": "contract"}]},
        "ocr": {"languages": ["eng", payload(markers / "language")]},
        "pii": {"entity_thresholds": {payload(markers / "entity-key"): 0.7}},
        "embedding": {"model": payload(markers / "model")},
    })
    label = payload(markers / "label")
    cp = provider(tmp_path, project, host)

    cp.provision(tenant(), config)
    cp.install_vendor_key(tenant(), "k1", "ab" * 32, ["ingest"], label)

    ran = sorted(p.name for p in markers.iterdir())
    assert ran == [], f"tenant strings ran as templates on the control plane: {ran}"
    # the host got every string as it was written
    env = (host / "secrets" / "dataplane.env").read_text("utf-8").splitlines()
    (line,) = [v for v in env if v.startswith("FROSTBYTE_DP_TENANT_CONFIG=")]
    assert json.loads(line.split("=", 1)[1]) == config.model_dump(mode="json")
    # the container set's compose environment, read as podman-compose reads it
    compose = dotenv_values(host / "compose" / "compose.env")
    assert json.loads(compose["FROSTBYTE_TENANT_CONFIG"] or "") == config.model_dump(mode="json")
    (argv,) = [json.loads(a) for a in (host / "bin" / "argv.jsonl").read_text().splitlines()]
    assert argv[argv.index("add-vendor-key"):] == [
        "add-vendor-key", "--key-id", "k1", "--sha256", "ab" * 32, "--scopes", "ingest",
        "--label", label]


def test_a_template_in_an_extra_var_is_refused(tmp_path: Path, project: Path) -> None:
    """Anything that still travels as an extra var (the control plane's own values) is
    refused when it holds a template: such a string is data from somewhere it should not
    be, and Ansible would run it."""
    runner = AnsibleRunnerPlaybooks(tmp_path / "runs", playbooks_dir=project)
    inventory = build_inventory("acme", {"public_ipv4": "127.0.0.1"}, user="root",
                                key_file=tmp_path / "k", known_hosts=tmp_path / "kh",
                                host_vars={"ansible_connection": "local"})
    marker = tmp_path / "marker"
    with pytest.raises(PlaybookFailed, match="template"):
        runner.run("site.yml", inventory=inventory,
                   extravars={"dataplane_engine": payload(marker)}, secrets=None,
                   on_output=lambda _: None, timeout_s=60)
    assert not marker.exists()
