"""The data-plane image's entry point (images/files/dataplane/entrypoint.py): what the data
plane's environment becomes from the compose set's variables and secret files."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from frostbyte_common.audit_checkpoint import load_signing_key

ENTRYPOINT = Path(__file__).resolve().parents[3] / "images/files/dataplane/entrypoint.py"


def load(secrets_dir: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("FROSTBYTE_SECRETS_MOUNT", str(secrets_dir))
    spec = importlib.util.spec_from_file_location("dataplane_entrypoint", ENTRYPOINT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_secret_files_become_the_data_planes_variables(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "db_password").write_text("p@ss:/word\n")
    (tmp_path / "signing_key").write_text("11" * 32 + "\n")
    (tmp_path / "object_data_keys").write_text("k1:AAAA\n")
    env = load(tmp_path, monkeypatch).environment({"FROSTBYTE_DB_HOST": "postgres"})
    assert env["FROSTBYTE_DP_DATABASE_URL"] == \
        "postgresql://frostbyte:p%40ss%3A%2Fword@postgres:5432/frostbyte"
    assert env["FROSTBYTE_DP_OBJECT_DATA_KEYS"] == "k1:AAAA"
    # the audit key as the control plane generates it loads as the data plane loads it
    load_signing_key(env["FROSTBYTE_DP_AUDIT_SIGNING_KEY"].encode())
    assert "FROSTBYTE_DP_S3_ACCESS_KEY" not in env  # no file, no variable


def test_a_variable_already_set_wins_over_a_file(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "object_store_access_key").write_text("from-file\n")
    env = load(tmp_path, monkeypatch).environment({"FROSTBYTE_DP_S3_ACCESS_KEY": "set"})
    assert env["FROSTBYTE_DP_S3_ACCESS_KEY"] == "set"


def test_empty_data_plane_variables_are_dropped_so_defaults_apply(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # compose's ${FROSTBYTE_TENANT_CONFIG:-} gives an empty value when none is set: JSON
    # parsing of "" would refuse to start the data plane
    env = load(tmp_path, monkeypatch).environment(
        {"FROSTBYTE_DP_TENANT_CONFIG": "", "FROSTBYTE_DP_TENANT": "acme", "OTHER": ""})
    assert "FROSTBYTE_DP_TENANT_CONFIG" not in env
    assert env["FROSTBYTE_DP_TENANT"] == "acme" and env["OTHER"] == ""
