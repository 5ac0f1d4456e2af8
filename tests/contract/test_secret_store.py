"""The SecretStore contract (SPEC §6), against the real SOPS + age adapter: secrets round-trip,
both recipients can decrypt, nothing is in plaintext on disk, files are 0600, rotation
replaces, crypto-shred leaves nothing that can decrypt."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from control_plane.adapters.secret_store import SopsAgeSecretStore
from control_plane.domain.ports import SecretStore
from control_plane.domain.tenant_secrets import SECRET_NAMES, generate_tenant_secrets
from control_plane.errors import SecretStoreError

ADAPTERS: dict[str, Callable[[Path], SopsAgeSecretStore]] = {
    "sops+age": lambda tmp: SopsAgeSecretStore(tmp / "secrets"),
}


@pytest.fixture(params=sorted(ADAPTERS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> SopsAgeSecretStore:
    return ADAPTERS[request.param](tmp_path)


def _all_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_round_trip_for_both_recipients(store: SopsAgeSecretStore, tmp_path: Path) -> None:
    assert isinstance(store, SecretStore)
    values = generate_tenant_secrets()
    assert set(values) == set(SECRET_NAMES) and len(set(values.values())) == len(values)
    assert not store.exists("acme")
    store.put("acme", values)
    assert store.exists("acme")
    assert store.get("acme") == values
    assert store.decrypt_with("acme", store.tenant_key_file("acme")) == values
    # encrypted for exactly the two recipients
    document = json.loads(store.secrets_file("acme").read_text())
    assert {r["recipient"] for r in document["sops"]["age"]} == {
        store.control_plane_recipient(), store.tenant_recipient("acme")}
    # no plaintext anywhere on disk; keys and file are private
    on_disk = _all_bytes(tmp_path)
    for value in values.values():
        assert value.encode() not in on_disk
    for path in (store.secrets_file("acme"), store.tenant_key_file("acme"),
                 store.control_plane_key_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_tenants_have_their_own_keys(store: SopsAgeSecretStore) -> None:
    store.put("a", {"db_password": "pa"})
    store.put("b", {"db_password": "pb"})
    assert store.tenant_recipient("a") != store.tenant_recipient("b")
    with pytest.raises(SecretStoreError):  # a's key cannot open b's secrets
        store.decrypt_with("b", store.tenant_key_file("a"))


def test_rotation_replaces_the_values(store: SopsAgeSecretStore) -> None:
    first, second = generate_tenant_secrets(), generate_tenant_secrets()
    store.put("r", first)
    key_before = store.tenant_recipient("r")
    store.put("r", second)
    assert store.get("r") == second
    assert store.tenant_recipient("r") == key_before
    assert first["db_password"].encode() not in store.secrets_file("r").read_bytes()


def test_crypto_shred(store: SopsAgeSecretStore, tmp_path: Path) -> None:
    store.put("gone", generate_tenant_secrets())
    store.put("kept", {"db_password": "still here"})
    assert store.shred("gone") == {"tenant_age_key": True, "secrets_file": True}
    assert store.shred("gone") == {"tenant_age_key": True, "secrets_file": True}  # idempotent
    assert not store.tenant_dir("gone").exists()
    with pytest.raises(SecretStoreError):
        store.get("gone")
    assert store.get("kept") == {"db_password": "still here"}


def test_tenants_made_at_once_by_two_stores_all_decrypt(tmp_path: Path) -> None:
    """Two stores on one folder (the control plane's and its local provider's) making the
    first tenants at the same time must agree on one control-plane key: a key replaced
    under the other's feet left a tenant whose secrets nothing could open."""
    from concurrent.futures import ThreadPoolExecutor

    stores = [SopsAgeSecretStore(tmp_path / "secrets") for _ in range(2)]
    slugs = [f"t{i}" for i in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda i: stores[i % 2].put(slugs[i], {"db_password": slugs[i]}),
                      range(len(slugs))))
    for i, slug in enumerate(slugs):
        assert stores[(i + 1) % 2].get(slug) == {"db_password": slug}
