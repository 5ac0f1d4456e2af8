"""An admin API token as the control plane records it: a name, a role and who made it —
never the token (only its SHA-256 is stored)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

ROLES = ("admin", "viewer")


@dataclass(frozen=True, slots=True)
class AdminToken:
    token_id: str
    name: str
    role: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
