"""Admin-token routes: ``/v1/admin/tokens`` (create, list, revoke)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from control_plane.api.auth import require_admin
from control_plane.api.dependencies import AdminTokens as Tokens
from control_plane.domain.admin_tokens import AdminToken
from frostbyte_common.openapi import error_responses

Actor = Annotated[str, Depends(require_admin)]

admin = APIRouter(prefix="/v1/admin", tags=["admin"])


class AdminTokenCreate(BaseModel):
    """An admin token to create."""

    model_config = ConfigDict(extra="forbid")
    # printable: the name is the actor of audit records (and PostgreSQL refuses NUL)
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$",
                      description="Who or what holds it (no control characters).")
    role: Literal["admin", "viewer"] = Field("viewer", description="admin, or viewer (may "
                                                                    "only read).")


class AdminTokenOut(BaseModel):
    """An admin token, without the token."""

    token_id: str = Field(description="The token's id.")
    name: str = Field(description="Who or what holds it (the actor in the audit trail).")
    role: str = Field(description="admin or viewer.")
    created_by: str = Field(description="Who created it.")
    created_at: datetime = Field(description="When (UTC).")
    revoked_at: datetime | None = Field(description="When it was revoked; null while valid.")

    @classmethod
    def of(cls, token: AdminToken) -> AdminTokenOut:
        return cls.model_validate(token, from_attributes=True)


class AdminTokenIssued(AdminTokenOut):
    """An admin token just created: the token is in this answer only."""

    token: str = Field(description="The token. Shown once; only its hash is stored.")


class AdminTokenList(BaseModel):
    """Every admin token."""

    tokens: list[AdminTokenOut] = Field(description="The tokens, revoked ones included.")


@admin.post("/tokens", status_code=201, name="create_admin_token", response_model=AdminTokenIssued,
            responses=error_responses(503))
async def create_token(body: AdminTokenCreate, tokens: Tokens, actor: Actor) -> AdminTokenIssued:
    """Create an admin or viewer token (viewers may only GET). The token is in this answer
    only."""
    issued = await tokens.create(body.name, body.role, actor=actor)
    return AdminTokenIssued(**AdminTokenOut.of(issued.record).model_dump(), token=issued.token)


@admin.get("/tokens", name="list_admin_tokens", response_model=AdminTokenList,
           responses=error_responses(503))
async def list_tokens(tokens: Tokens, actor: Actor) -> AdminTokenList:
    """Every admin token, revoked ones included — never the tokens."""
    return AdminTokenList(tokens=[AdminTokenOut.of(t) for t in await tokens.list_tokens()])


@admin.delete("/tokens/{token_id}", name="revoke_admin_token", response_model=AdminTokenOut,
              responses=error_responses(
                  503, e404="ADMIN_TOKEN_NOT_FOUND: no such token.",
                  e409="LAST_ADMIN_TOKEN: the last admin token cannot be revoked."))
async def revoke_token(token_id: str, tokens: Tokens, actor: Actor) -> AdminTokenOut:
    """Revoke a token at once (409 LAST_ADMIN_TOKEN for the last admin token)."""
    return AdminTokenOut.of(await tokens.revoke(token_id, actor=actor))
