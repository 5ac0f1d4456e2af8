"""ansible-runner with the real deploy role's secret hand-over: the tenant's secrets reach
the rendered environment file, and nothing of them lands in ansible-runner's artifacts
(command line, environment, inventory, job events) or in the streamed output."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from control_plane.providers.hetzner.ansible import (
    AnsibleRunnerPlaybooks,
    PlaybookFailed,
    build_inventory,
    installed_playbooks,
)

pytest.importorskip("ansible_runner")
if shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) is None:
    pytest.skip("ansible-core is not installed", allow_module_level=True)

SECRETS = {
    "db_password": "pw-a8f3e1c2-never-in-artifacts",
    "object_store_access_key": "FBKEY7C1D2E3F4A5B6C7D8",
    "object_store_secret_key": "osk-5b7e9d1f3a-never-in-artifacts",
    "vector_store_api_key": "vsk-0c2e4a6b8d-never-in-artifacts",
    "signing_key": "e3" * 32,
    "object_data_keys": "k1:c2VjcmV0LWRhdGEta2V5LW5ldmVyLWluLWFydGlmYWN0cyE=",
    # the gateway's (every engine requires them; not PEM here: only their absence matters)
    "tls_cert": "cert-4d6f8a0c2e-never-in-artifacts",
    "tls_key": "key-9b1d3f5a7c-never-in-artifacts",
}

PROBE = """---
- name: Render the data plane's environment from the secrets hand-over
  hosts: dataplane
  gather_facts: false
  tasks:
    - name: Read the secrets with the deploy role's own tasks
      ansible.builtin.include_role:
        name: dataplane_deploy
        tasks_from: secrets.yml
        public: true

    - name: Render the environment file and SeaweedFS's identity with the role's templates
      ansible.builtin.template:
        src: "{{ playbook_dir }}/roles/dataplane_deploy/templates/{{ item.src }}"
        dest: "{{ item.dest }}"
        mode: "0600"
      loop:
        - {src: dataplane.env.j2, dest: "{{ probe_env_file }}"}
        - {src: seaweedfs-s3.json.j2, dest: "{{ probe_s3_config }}"}
      no_log: true
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    shutil.copy(installed_playbooks() / "ansible.cfg", folder / "ansible.cfg")
    (folder / "roles").symlink_to(installed_playbooks() / "roles")
    (folder / "probe.yml").write_text(PROBE, encoding="utf-8")
    return folder


def inventory(tmp_path: Path) -> dict[str, object]:
    return build_inventory(
        "acme", {"public_ipv4": "127.0.0.1", "private_ipv4": "10.64.0.2"}, user="root",
        key_file=tmp_path / "no-key", known_hosts=tmp_path / "known_hosts",
        host_vars={"ansible_connection": "local",
                   "ansible_python_interpreter": sys.executable})


def all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*"))
                    if p.is_file() and not p.is_symlink())


def test_no_secret_lands_in_the_artifacts(tmp_path: Path, project: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # the control plane's own secrets live in its environment; ansible-runner records its
    # whole environment, so it must not inherit them
    cp_token = "cp-env-token-3e9b1d7f-never-in-artifacts"
    monkeypatch.setenv("FROSTBYTE_CP_HETZNER_TOKEN", cp_token)
    runs = tmp_path / "runs"
    env_file = tmp_path / "dataplane.env"
    s3_config = tmp_path / "s3.json"
    lines: list[str] = []
    runner = AnsibleRunnerPlaybooks(runs, playbooks_dir=project)
    runner.run("probe.yml", inventory=inventory(tmp_path),
               extravars={"probe_env_file": str(env_file), "probe_s3_config": str(s3_config),
                          "dataplane_engine": "process"},
               secrets=SECRETS, on_output=lines.append, timeout_s=120)

    rendered = env_file.read_text(encoding="utf-8").splitlines()
    assert f"POSTGRES_PASSWORD={SECRETS['db_password']}" in rendered
    assert f"FROSTBYTE_DP_QDRANT_API_KEY={SECRETS['vector_store_api_key']}" in rendered
    assert "FROSTBYTE_DP_TENANT=acme" in rendered
    # the data plane's object store: the tenant's bucket on the host's SeaweedFS, its key,
    # and the data keys that encrypt every object
    assert "FROSTBYTE_DP_S3_ENDPOINT=http://127.0.0.1:8333" in rendered
    assert "FROSTBYTE_DP_S3_BUCKET=fb-acme" in rendered
    assert f"FROSTBYTE_DP_S3_ACCESS_KEY={SECRETS['object_store_access_key']}" in rendered
    assert f"FROSTBYTE_DP_S3_SECRET_KEY={SECRETS['object_store_secret_key']}" in rendered
    assert f"FROSTBYTE_DP_OBJECT_DATA_KEYS={SECRETS['object_data_keys']}" in rendered
    assert not any(line.startswith("FROSTBYTE_DP_OBJECT_STORE_ROOT=") for line in rendered)
    # SeaweedFS's one identity: the tenant's key, limited to the tenant's bucket
    (identity,) = json.loads(s3_config.read_text(encoding="utf-8"))["identities"]
    assert identity["credentials"] == [{"accessKey": SECRETS["object_store_access_key"],
                                        "secretKey": SECRETS["object_store_secret_key"]}]
    assert sorted(identity["actions"]) == ["List:fb-acme", "Read:fb-acme", "Tagging:fb-acme",
                                           "Write:fb-acme"]

    artifacts = all_bytes(runs)
    assert b"job_events" in b"".join(str(p).encode() for p in runs.rglob("*"))
    assert len(artifacts) > 1000, "ansible-runner wrote its artifacts"
    for name, value in SECRETS.items():
        assert value.encode() not in artifacts, f"{name} leaked into the artifacts"
        assert not any(value in line for line in lines), f"{name} leaked into the output"
    assert cp_token.encode() not in artifacts
    assert any("PLAY" in line for line in lines), "the run's output was streamed"
    (extravars,) = runs.glob("*/env/extravars")
    fifo = Path(json.loads(extravars.read_text("utf-8"))["dataplane_secrets_fifo"])
    assert not fifo.parent.exists(), "the FIFO's folder is removed after the run"


def test_a_secret_passed_as_extra_var_is_refused(tmp_path: Path, project: Path) -> None:
    runner = AnsibleRunnerPlaybooks(tmp_path / "runs", playbooks_dir=project)
    with pytest.raises(PlaybookFailed, match="refusing"):
        runner.run("probe.yml", inventory=inventory(tmp_path),
                   extravars={"oops": SECRETS["db_password"]}, secrets=SECRETS,
                   on_output=lambda _: None, timeout_s=60)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_failed_playbook_is_reported(tmp_path: Path, project: Path) -> None:
    runner = AnsibleRunnerPlaybooks(tmp_path / "runs", playbooks_dir=project)
    with pytest.raises(PlaybookFailed, match="probe"):
        # no FIFO: the deploy role's secrets tasks refuse to run
        runner.run("probe.yml", inventory=inventory(tmp_path),
                   extravars={"probe_env_file": str(tmp_path / "x.env")}, secrets=None,
                   on_output=lambda _: None, timeout_s=60)


def test_secrets_without_the_object_store_ones_are_refused_by_name(
        tmp_path: Path, project: Path) -> None:
    runner = AnsibleRunnerPlaybooks(tmp_path / "runs", playbooks_dir=project)
    lines: list[str] = []
    older = {k: v for k, v in SECRETS.items() if k != "object_data_keys"}
    with pytest.raises(PlaybookFailed, match="probe"):
        runner.run("probe.yml", inventory=inventory(tmp_path),
                   extravars={"probe_env_file": str(tmp_path / "x.env"),
                              "probe_s3_config": str(tmp_path / "s3.json")},
                   secrets=older, on_output=lines.append, timeout_s=60)
    assert any("lack object_data_keys" in line for line in lines)
    assert not (tmp_path / "x.env").exists()
    for value in older.values():
        assert not any(value in line for line in lines)
