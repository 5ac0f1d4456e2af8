"""The local provider's ClamAV settings (issue 16, finding 9): the signature folder each
tenant's clamd loads is a control-plane setting, and only an explicit setting lets a tenant
be ready with the project's test signatures."""

from __future__ import annotations

from pathlib import Path

import pytest

from control_plane.providers.local import LocalProvider
from control_plane.settings import ControlPlaneSettings
from frostbyte_common.tenant_config import TenantConfig

ALLOW = "FROSTBYTE_DP_CLAMD_ALLOW_TEST_SIGNATURES"


def _provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> LocalProvider:
    for name in ("FROSTBYTE_CP_CLAMD_SIGNATURES", "FROSTBYTE_CP_CLAMD_ALLOW_TEST_SIGNATURES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = ControlPlaneSettings(database_url="dbname=x",  # type: ignore[arg-type]
                                    state_dir=tmp_path)
    return LocalProvider.from_settings(settings)


def _env(provider: LocalProvider) -> dict[str, str]:
    return provider.child_env("acme", TenantConfig(), 9000, "dbname=fb_acme")


def test_test_signatures_are_not_allowed_by_default(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    provider = _provider(tmp_path, monkeypatch)
    assert ALLOW not in _env(provider)
    assert ControlPlaneSettings(database_url="dbname=x").clamd_signatures is None  # type: ignore[arg-type]


def test_the_settings_reach_the_provider_and_the_data_plane(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "clamav"
    provider = _provider(tmp_path, monkeypatch, FROSTBYTE_CP_CLAMD_SIGNATURES=str(folder),
                         FROSTBYTE_CP_CLAMD_ALLOW_TEST_SIGNATURES="true")
    assert _env(provider)[ALLOW] == "true"
    assert provider._clamd_signatures == folder  # what _start_clamd loads
