"""Who may call the data plane: the keys installed in the tenant's database.

A vendor key carries scopes from ``ingest``/``read``/``audit``; the control plane's own
credential carries ``control`` alone. The control plane issues keys and installs only their
SHA-256 here (``python -m data_plane add-vendor-key``); the API checks a presented key
against that hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from data_plane.domain.ports import VendorKeys
from frostbyte_common import vendor_keys
from frostbyte_common.errors import Unauthenticated, ValidationFailed
from frostbyte_common.vendor_keys import CONTROL_SCOPE, SCOPES


@dataclass(frozen=True)
class Caller:
    """An authenticated key: its id (recorded as ``vendor_key:<id>``) and its scopes."""

    key_id: str
    scopes: frozenset[str]


class AccessService:
    def __init__(self, keys: VendorKeys) -> None:
        self._keys = keys

    def authenticate(self, key: str) -> Caller:
        """The caller holding ``key``, or ``Unauthenticated`` (unknown, revoked or wrong)."""
        key_id = vendor_keys.key_id_of(key)
        row = self._keys.vendor_key(key_id) if key_id else None
        if row is None or not vendor_keys.matches(key, row.key_sha256):
            raise Unauthenticated("the vendor key is not valid for this endpoint")
        return Caller(key_id=row.key_id, scopes=frozenset(row.scopes))

    def install(self, key_id: str, sha256: str, scopes: Sequence[str],
                label: str | None) -> None:
        """Install an issued key's hash. ``control`` is the control plane's own credential
        (routes under ``/control/v1``): it is never combined with a vendor scope."""
        unknown = set(scopes) - {*SCOPES, CONTROL_SCOPE}
        if unknown or not scopes or (CONTROL_SCOPE in scopes and len(scopes) > 1):
            raise ValidationFailed(f"unknown scopes {sorted(unknown)}; choose from {SCOPES}, "
                                   f"or {CONTROL_SCOPE!r} alone", code="INVALID_SCOPES")
        self._keys.add_vendor_key(key_id, sha256, scopes, label)

    def revoke(self, key_id: str) -> bool:
        """Revoke a key; False when no live key has that id."""
        return self._keys.revoke_vendor_key(key_id)
