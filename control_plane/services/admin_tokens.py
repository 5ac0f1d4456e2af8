"""Admin tokens: bootstrap, authenticate, create, list, revoke.

A token is ``fbat_<token id>_<secret>``; only its SHA-256 is stored. At the first start (no
token at all in the registry) the control plane creates one ``admin`` token named ``admin``:
from ``FROSTBYTE_CP_ADMIN_TOKEN_SHA256`` when that is set (``frostbyte local up`` keeps its
token in the state directory and passes only the digest), else a fresh token that
:meth:`AdminTokenService.bootstrap` returns so the caller prints it once. A configured digest
that is not in the registry yet is added as an ``admin`` token at every start, so the operator
who holds it can always get back in."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass

from control_plane.domain.admin_tokens import ROLES, AdminToken
from control_plane.domain.ports import AdminTokenStorePort
from control_plane.errors import InsufficientRole
from frostbyte_common.errors import Unauthenticated, ValidationFailed

log = logging.getLogger(__name__)

BOOTSTRAP_NAME = "admin"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedAdminToken:
    record: AdminToken
    token: str  # shown once, never stored


def _new_token() -> tuple[str, str]:
    token_id = secrets.token_hex(6)
    return token_id, f"fbat_{token_id}_{secrets.token_urlsafe(32)}"


class AdminTokenService:
    def __init__(self, store: AdminTokenStorePort) -> None:
        self._store = store

    async def bootstrap(self, configured_sha256: str | None) -> str | None:
        """Make sure an admin can log in; returns a new plaintext token only when it created
        one (first start without a configured digest) — print it once, it is not kept."""
        if configured_sha256 is not None:
            if await self._store.add(secrets.token_hex(6), BOOTSTRAP_NAME, "admin",
                                     configured_sha256, "bootstrap") is not None:
                log.info("admin token from FROSTBYTE_CP_ADMIN_TOKEN_SHA256 registered")
            return None
        if await self._store.any_exists():
            return None
        token_id, token = _new_token()
        await self._store.add(token_id, BOOTSTRAP_NAME, "admin", token_sha256(token),
                              "bootstrap")
        return token

    async def authenticate(self, authorization: str | None, method: str) -> AdminToken:
        """The token of ``Authorization: Bearer <token>``; a viewer may only read."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("missing admin token: send 'Authorization: Bearer <token>'")
        record = await self._store.active_by_sha256(token_sha256(token))
        if record is None:
            raise Unauthenticated("invalid admin token")
        if record.role != "admin" and method.upper() not in READ_METHODS:
            raise InsufficientRole(f"token {record.name!r} has role {record.role!r}; only "
                                   "admin tokens may change anything")
        return record

    async def create(self, name: str, role: str, *, actor: str) -> IssuedAdminToken:
        if role not in ROLES:
            raise ValidationFailed(f"role must be one of {list(ROLES)}", code="INVALID_ROLE")
        token_id, token = _new_token()
        record = await self._store.add(token_id, name, role, token_sha256(token), actor)
        assert record is not None
        log.info("admin token %s (%s, %s) created by %s", token_id, name, role, actor)
        return IssuedAdminToken(record, token)

    async def list_tokens(self) -> list[AdminToken]:
        return await self._store.list_tokens()

    async def revoke(self, token_id: str, *, actor: str) -> AdminToken:
        record = await self._store.revoke(token_id)
        log.info("admin token %s revoked by %s", token_id, actor)
        return record
