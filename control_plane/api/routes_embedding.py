"""Thin routes of a tenant's embedding model and online key (issue 18;
:mod:`control_plane.services.embedding`). Admin only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from control_plane.api.auth import require_admin
from control_plane.services.embedding import EmbeddingService
from frostbyte_common.errors import DependencyUnavailable
from frostbyte_common.openapi import error_responses

Actor = Annotated[str, Depends(require_admin)]


def _embedding(request: Request) -> EmbeddingService:
    service: EmbeddingService | None = request.app.state.services.embedding
    if service is None:
        raise DependencyUnavailable("this control plane does not manage embedding models")
    return service


Embedding = Annotated[EmbeddingService, Depends(_embedding)]

embedding = APIRouter(prefix="/v1/tenants", tags=["embedding"])

_NOT_ACTIVE = "TENANT_NOT_ACTIVE: the tenant is not ACTIVE"


class ReembedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=200, description=(
        "A model the data plane's registry knows: `nomic-embed-text-v1.5`, "
        "`all-MiniLM-L6-v2`, `all-MiniLM-L6-v2-prefixed`."))


class EmbeddingModelOut(BaseModel):
    name: str = Field(description="The model's registered name, as the proof names it.")
    version: str = Field(description="The version the collection records.")
    dimension: int = Field(description="Components of each vector.")


class ReembedFrom(BaseModel):
    collection: str | None = Field(description="The collection active when it started.")
    model: str | None = Field(description="That collection's model.")


class ReembedRecordOut(BaseModel):
    reembed_id: str = Field(description="The re-embedding's id.")
    state: str = Field(description="RUNNING, SWITCHED (the new collection answers "
                       "searches) or FAILED (the previous one still does).")
    collection: str = Field(description="The collection it builds.")
    model: EmbeddingModelOut = Field(description="The model it embeds with.")
    from_: ReembedFrom = Field(alias="from", description="What search used before.")
    chunks_total: int = Field(description="Chunks to embed in all (documents indexed "
                              "meanwhile add to it).")
    chunks_done: int = Field(description="Chunks embedded so far.")
    error: str | None = Field(description="Why it FAILED.")
    actor: str = Field(description="Who asked (`admin:<name>`).")
    started_at: str = Field(description="When it started (ISO 8601).")
    finished_at: str | None = Field(description="When it switched or failed.")

    model_config = ConfigDict(populate_by_name=True)


class ActiveCollectionOut(BaseModel):
    collection: str = Field(description="The collection search answers from now.")
    model: EmbeddingModelOut = Field(description="Its embedding model.")


class ReembedOut(BaseModel):
    """The latest re-embedding (None: never) and the collection search uses now."""

    reembed: ReembedRecordOut | None = Field(description="The latest re-embedding.")
    active: ActiveCollectionOut = Field(description="The collection search uses now.")


class EmbeddingKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api_key: SecretStr = Field(description="The tenant's key to its online embeddings API. "
                               "Kept in the tenant's SOPS secrets only; never answered.")


class EmbeddingKeyOut(BaseModel):
    tenant: str = Field(description="The tenant's slug.")
    stored: bool = Field(description="The key is in the tenant's SOPS secrets.")
    applied: bool = Field(description="The running data plane was restarted on it.")
    replaced: bool = Field(description="A key was set before (it is gone now).")


@embedding.post("/{slug}/reembed", status_code=202, response_model=ReembedOut,
                response_model_by_alias=True, responses=error_responses(
                    502, 503, e404="TENANT_NOT_FOUND",
                    e409=_NOT_ACTIVE + "; REEMBED_IN_PROGRESS: one is running",
                    e422="EMBEDDING_MODEL_UNKNOWN: the data plane knows no such model"))
async def start_reembed(slug: str, body: ReembedRequest, service: Embedding,
                        actor: Actor) -> ReembedOut:
    """Re-embed every chunk of the tenant into a new collection for ``model`` while search
    keeps answering from the active one; the data plane switches when it is done (poll
    ``GET .../reembed``). 502 ``DATA_PLANE_ERROR`` when the model cannot be loaded there
    (not baked into its image, or no online key)."""
    return ReembedOut.model_validate(await service.reembed(slug, body.model, actor=actor))


@embedding.get("/{slug}/reembed", response_model=ReembedOut, response_model_by_alias=True,
               responses=error_responses(502, 503, e404="TENANT_NOT_FOUND", e409=_NOT_ACTIVE))
async def reembed_status(slug: str, service: Embedding, actor: Actor) -> ReembedOut:
    """The latest re-embedding's progress (chunks done of the total) and the collection
    search uses now; once it switched, the tenant's config names the new model."""
    return ReembedOut.model_validate(await service.reembed_status(slug, actor=actor))


@embedding.put("/{slug}/secrets/embedding-api-key", response_model=EmbeddingKeyOut,
               responses=error_responses(
                   503, e404="TENANT_NOT_FOUND", e409="TENANT_NOT_ACTIVE: deprovisioned",
                   e422="INVALID_API_KEY: not 8 to 512 printable characters"))
async def set_embedding_key(slug: str, body: EmbeddingKeyIn, service: Embedding,
                            actor: Actor) -> EmbeddingKeyOut:
    """Set the tenant's online embeddings API key: kept encrypted in its SOPS secrets, the
    running data plane restarted on it. The key is never logged nor answered."""
    return EmbeddingKeyOut.model_validate(await service.set_embedding_key(
        slug, body.api_key.get_secret_value(), actor=actor))
