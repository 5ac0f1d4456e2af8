"""Admin-token routes: ``/v1/admin/tokens`` (create, list, revoke)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from control_plane.api.auth import require_admin
from control_plane.api.dependencies import AdminTokens as Tokens
from control_plane.domain.admin_tokens import AdminToken

Actor = Annotated[str, Depends(require_admin)]

admin = APIRouter(prefix="/v1/admin", tags=["admin"])


class AdminTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description="Who or what holds it.")
    role: Literal["admin", "viewer"] = "viewer"


class AdminTokenOut(BaseModel):
    token_id: str
    name: str
    role: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, token: AdminToken) -> AdminTokenOut:
        return cls.model_validate(token, from_attributes=True)


class AdminTokenIssued(AdminTokenOut):
    token: str = Field(description="The token. Shown once; only its hash is stored.")


class AdminTokenList(BaseModel):
    tokens: list[AdminTokenOut]


@admin.post("/tokens", status_code=201, response_model=AdminTokenIssued)
async def create_token(body: AdminTokenCreate, tokens: Tokens, actor: Actor) -> AdminTokenIssued:
    """Create an admin or viewer token (viewers may only GET). The token is in this answer
    only."""
    issued = await tokens.create(body.name, body.role, actor=actor)
    return AdminTokenIssued(**AdminTokenOut.of(issued.record).model_dump(), token=issued.token)


@admin.get("/tokens", response_model=AdminTokenList)
async def list_tokens(tokens: Tokens, actor: Actor) -> AdminTokenList:
    """Every admin token, revoked ones included — never the tokens."""
    return AdminTokenList(tokens=[AdminTokenOut.of(t) for t in await tokens.list_tokens()])


@admin.delete("/tokens/{token_id}", response_model=AdminTokenOut)
async def revoke_token(token_id: str, tokens: Tokens, actor: Actor) -> AdminTokenOut:
    """Revoke a token at once (409 LAST_ADMIN_TOKEN for the last admin token)."""
    return AdminTokenOut.of(await tokens.revoke(token_id, actor=actor))
