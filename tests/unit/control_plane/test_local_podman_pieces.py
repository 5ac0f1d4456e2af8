"""The podman engine's pure parts: what compose is told, which secret files it gets, and the
private folder in /dev/shm they are written to."""

from __future__ import annotations

from pathlib import Path

import pytest

from control_plane.domain.tenant_secrets import generate_tenant_secrets
from control_plane.errors import ProvisioningFailed
from control_plane.providers.local_podman import (
    _write_folder,
    compose_env,
    secret_files,
    secrets_folder,
)
from frostbyte_common import tls
from frostbyte_common.tenant_config import TenantConfig


def test_compose_is_told_no_secret_only_where_to_find_them(tmp_path: Path) -> None:
    env = compose_env("acme", secrets_dir=tmp_path / "s", host="127.0.0.1", port=8123,
                      version="0.1.0", config=TenantConfig())
    assert env["FROSTBYTE_GATEWAY_PUBLISH"] == "127.0.0.1:8123"  # loopback only
    assert env["FROSTBYTE_TENANT"] == "acme" and env["FROSTBYTE_SECRETS_DIR"].endswith("/s")
    assert TenantConfig.model_validate_json(env["FROSTBYTE_TENANT_CONFIG"]) == TenantConfig()
    secrets = generate_tenant_secrets()
    assert not set(env.values()) & set(secrets.values())
    assert compose_env("acme", secrets_dir=tmp_path, host="::1", port=9, version="1",
                       config=TenantConfig())["FROSTBYTE_GATEWAY_PUBLISH"] == "[::1]:9"


def test_the_set_gets_the_tenants_secrets_and_its_gateway_chain() -> None:
    ca = tls.new_authority("t")
    server = tls.issue_server(ca, ["127.0.0.1"], common_name="acme")
    secrets = generate_tenant_secrets()
    files = secret_files(secrets, server, ca.cert_pem)
    assert files["db_password"] == secrets["db_password"]
    assert files["object_data_keys"] == secrets["object_data_keys"]
    assert files["tls_cert"] == server.cert_pem + ca.cert_pem and files["tls_key"] == server.key_pem
    with pytest.raises(ProvisioningFailed, match="db_password"):
        secret_files({k: v for k, v in secrets.items() if k != "db_password"}, server, ca.cert_pem)


def test_secret_files_go_to_a_private_folder_of_this_user(tmp_path: Path) -> None:
    folder = secrets_folder(tmp_path / "state", "acme", root=tmp_path)
    assert folder.parent.parent == tmp_path and folder.name == "acme"
    assert secrets_folder(tmp_path / "other", "acme", root=tmp_path) != folder  # per stack
    _write_folder(folder, {"db_password": "x"})
    assert folder.stat().st_mode & 0o777 == 0o700
    assert folder.parent.stat().st_mode & 0o777 == 0o700
    assert (folder / "db_password").read_text() == "x"
    # a predictable name someone else prepared is refused, never written into
    trap = secrets_folder(tmp_path / "trap", "acme", root=tmp_path)
    trap.parent.mkdir(mode=0o755)
    trap.parent.chmod(0o755)  # whatever the umask
    with pytest.raises(ProvisioningFailed, match="not a private folder"):
        _write_folder(trap, {"db_password": "x"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    link = secrets_folder(tmp_path / "link", "acme", root=tmp_path)
    link.parent.symlink_to(elsewhere)
    with pytest.raises(ProvisioningFailed, match="not a private folder"):
        _write_folder(link, {"db_password": "x"})
    assert not any(elsewhere.iterdir())
