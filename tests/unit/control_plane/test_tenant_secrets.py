"""Every tenant credential is made fresh at rotation — except that the data keys keep the
old ones behind the new current key, so objects written before stay readable, and the audit
signing key is kept, so checkpoints signed before still verify."""

from __future__ import annotations

from control_plane.domain.tenant_secrets import (
    DATA_KEYS,
    ROTATED_NAMES,
    SECRET_NAMES,
    SIGNING_KEY,
    generate_tenant_secrets,
)
from frostbyte_common.audit_checkpoint import load_signing_key, public_key_text
from frostbyte_common.data_keys import DataKeyring


def test_a_new_tenant_gets_every_secret_and_one_data_key() -> None:
    made = generate_tenant_secrets()
    assert set(made) == set(SECRET_NAMES)
    assert len(DataKeyring.parse(made[DATA_KEYS]).ids) == 1


def test_rotation_renews_every_credential_and_adds_a_data_key() -> None:
    first = generate_tenant_secrets()
    rotated = generate_tenant_secrets(previous=first)
    assert set(ROTATED_NAMES) == set(SECRET_NAMES) - {SIGNING_KEY}
    assert all(rotated[name] != first[name] for name in ROTATED_NAMES)
    before, after = DataKeyring.parse(first[DATA_KEYS]), DataKeyring.parse(rotated[DATA_KEYS])
    assert after.ids[:-1] == before.ids and after.current_id not in before.ids
    assert all(after.key(kid) == before.key(kid) for kid in before.ids)


def test_a_tenant_from_before_encryption_gets_its_first_data_key_at_rotation() -> None:
    legacy = {name: value for name, value in generate_tenant_secrets().items()
              if name != DATA_KEYS}
    assert len(DataKeyring.parse(generate_tenant_secrets(previous=legacy)[DATA_KEYS]).ids) == 1


def test_rotation_keeps_the_audit_signing_key() -> None:
    """A new signing key would make ``GET /v1/audit/verify`` reject every checkpoint signed
    before the rotation (finding 6 of issue 16)."""
    first = generate_tenant_secrets()
    rotated = generate_tenant_secrets(previous=generate_tenant_secrets(previous=first))
    assert public_key_text(load_signing_key(rotated[SIGNING_KEY].encode())) == \
        public_key_text(load_signing_key(first[SIGNING_KEY].encode()))
    # a tenant whose secrets predate the key gets one
    legacy = {k: v for k, v in first.items() if k != SIGNING_KEY}
    load_signing_key(generate_tenant_secrets(previous=legacy)[SIGNING_KEY].encode())
