"""A tenant's vendor key as the control plane records it: never the key, only its hash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class VendorKeyRecord:
    key_id: str
    slug: str
    sha256: str
    scopes: tuple[str, ...]
    label: str | None
    created_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IssuedVendorKey:
    """A vendor key just made: ``key`` is shown once, in the answer that issued it, and
    never stored."""

    key_id: str
    key: str
    scopes: tuple[str, ...]
    label: str | None
