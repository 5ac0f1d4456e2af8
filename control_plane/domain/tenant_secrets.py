"""The credentials every tenant has (SPEC §6), made fresh at provisioning and at rotation.
They are stored only encrypted (:class:`~control_plane.domain.ports.SecretStore`)."""

from __future__ import annotations

import secrets

from frostbyte_common.vendor_keys import generate_key

SECRET_NAMES = ("db_password", "object_store_access_key", "object_store_secret_key",
                "vector_store_api_key", "signing_key", "control_key")
# the control plane's credential on the tenant's data plane (scope ``control``): suspension,
# quarantine release/purge and the audit export; its hash is installed by the provider
CONTROL_KEY = "control_key"


def generate_tenant_secrets() -> dict[str, str]:
    """A fresh set of every credential a tenant has (SPEC §6)."""
    return {
        "db_password": secrets.token_urlsafe(32),
        "object_store_access_key": "FB" + secrets.token_hex(10).upper(),
        "object_store_secret_key": secrets.token_urlsafe(30),
        "vector_store_api_key": secrets.token_urlsafe(32),
        "signing_key": secrets.token_hex(32),  # Ed25519 seed
        CONTROL_KEY: generate_key().key,
    }
