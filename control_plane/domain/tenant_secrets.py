"""The credentials every tenant has (SPEC §6), made fresh at provisioning and at rotation.
They are stored only encrypted (:class:`~control_plane.domain.ports.SecretStore`)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from control_plane.domain.ports import SecretStore
from frostbyte_common.data_keys import DataKeyring
from frostbyte_common.vendor_keys import generate_key

SECRET_NAMES = ("db_password", "object_store_access_key", "object_store_secret_key",
                "vector_store_api_key", "signing_key", "control_key", "object_data_keys")
# the control plane's credential on the tenant's data plane (scope ``control``): suspension,
# quarantine release/purge and the audit export; its hash is installed by the provider
CONTROL_KEY = "control_key"
# the keyring that encrypts every object of the tenant (SPEC §5.4): rotation adds a key and
# keeps the old ones, so objects written before stay readable; shredding the secrets makes
# every copy of the bucket unreadable
DATA_KEYS = "object_data_keys"
# the Ed25519 seed the tenant's audit checkpoints are signed with: an identity, not a
# credential. Rotation keeps it (a new one would make every earlier checkpoint fail
# verification); the control plane records its public key at provisioning
SIGNING_KEY = "signing_key"
#: what a rotation re-issues: every secret but the audit signing key (the data keyring gets a
#: new current key and keeps the old ones)
ROTATED_NAMES = tuple(name for name in SECRET_NAMES if name != SIGNING_KEY)
#: the tenant's key to its online embeddings API (OpenRouter or any OpenAI-compatible one),
#: set by an admin (``PUT /v1/tenants/{slug}/secrets/embedding-api-key``), never made here:
#: rotation keeps it as it is (the API's owner re-issues it, and an admin sets it again)
EMBEDDING_API_KEY = "online_embedding_api_key"


def data_keys_after(previous: Mapping[str, str] | None) -> str:
    """The tenant's keyring: the previous one with a new current key, or a first one."""
    if previous and previous.get(DATA_KEYS):
        return DataKeyring.parse(previous[DATA_KEYS]).rotated().serialize()
    return DataKeyring.generate().serialize()


def with_data_keys(store: SecretStore, slug: str) -> dict[str, str]:
    """The tenant's secrets, with data keys: a tenant made before objects were encrypted
    gets its first keyring, kept in its SOPS secrets before anything can write under it (an
    object never exists under a key that could be lost)."""
    secrets = store.get(slug)
    if not secrets.get(DATA_KEYS):
        secrets = {**secrets, DATA_KEYS: data_keys_after(None)}
        store.put(slug, secrets)
    return secrets


def generate_tenant_secrets(previous: Mapping[str, str] | None = None) -> dict[str, str]:
    """A fresh set of every credential a tenant has (SPEC §6); the data keys of ``previous``
    (rotation) are kept behind the new one, and its audit signing key and embeddings API key
    are kept as they are."""
    kept_signing_key = (previous or {}).get(SIGNING_KEY)
    kept_embedding_key = (previous or {}).get(EMBEDDING_API_KEY)
    return ({EMBEDDING_API_KEY: kept_embedding_key} if kept_embedding_key else {}) | {
        DATA_KEYS: data_keys_after(previous),
        "db_password": secrets.token_urlsafe(32),
        "object_store_access_key": "FB" + secrets.token_hex(10).upper(),
        "object_store_secret_key": secrets.token_urlsafe(30),
        "vector_store_api_key": secrets.token_urlsafe(32),
        SIGNING_KEY: kept_signing_key or secrets.token_hex(32),  # Ed25519 seed
        CONTROL_KEY: generate_key().key,
    }
