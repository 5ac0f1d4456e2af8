"""Control-plane settings from the environment, and admin-token checking."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from control_plane.api.auth import token_sha256
from control_plane.settings import ControlPlaneSettings

DIGEST = hashlib.sha256(b"s3cret").hexdigest()


def test_settings_come_from_frostbyte_cp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROSTBYTE_CP_DATABASE_URL", "host=/run/pg dbname=frostbyte_control")
    monkeypatch.setenv("FROSTBYTE_CP_ADMIN_TOKEN_SHA256", DIGEST.upper())
    monkeypatch.setenv("FROSTBYTE_CP_PORT", "8123")
    monkeypatch.setenv("FROSTBYTE_CP_STATE_DIR", "/var/tmp/fb")
    monkeypatch.setenv("FROSTBYTE_CP_DATA_PLANE_PORT_RANGE", "9000-9002")
    settings = ControlPlaneSettings()
    assert settings.admin_token_sha256 == DIGEST
    assert settings.port == 8123
    assert settings.state_dir == Path("/var/tmp/fb")
    assert list(settings.port_range) == [9000, 9001, 9002]
    assert settings.data_plane_python == Path(sys.executable)
    # secrets stay secret in reprs; the admin URL defaults to the registry URL
    assert "frostbyte_control" not in repr(settings)
    assert settings.effective_admin_database_url.get_secret_value().endswith("frostbyte_control")


@pytest.mark.parametrize(
    "overrides",
    [
        {"admin_token_sha256": "changeme"},
        {"data_plane_port_range": "9000"},
        {"data_plane_port_range": "9010-9000"},
        {"data_plane_port_range": "80-90"},
    ],
)
def test_bad_settings_are_refused(overrides: dict[str, str]) -> None:
    values = {"database_url": "dbname=x", "admin_token_sha256": DIGEST, **overrides}
    with pytest.raises(ValidationError):
        ControlPlaneSettings(**values)  # type: ignore[arg-type]


def test_token_digest() -> None:
    assert token_sha256("s3cret") == DIGEST


def test_the_admin_token_digest_is_optional() -> None:
    settings = ControlPlaneSettings(database_url="dbname=x")  # type: ignore[arg-type]
    assert settings.admin_token_sha256 is None
