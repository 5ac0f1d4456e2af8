"""Control routes of re-embedding (issue 18): ``POST /control/v1/reembed`` starts building a
new collection for another embedding model from PostgreSQL's chunks while search keeps
answering from the active one; ``GET /control/v1/reembed`` reports its progress (chunks
done of the total, and the state: RUNNING, SWITCHED once the active collection was
flipped, or FAILED) with the collection search uses now. Control credential only; the
control plane calls them for ``frostbyte tenants reembed``."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from data_plane.api.auth import ControlCallerDep
from data_plane.api.dependencies import services
from data_plane.api.routers.control import CONTROL_PREFIX
from data_plane.errors import IndexUnavailable
from data_plane.services.reembed import ReembedService

router = APIRouter(prefix=CONTROL_PREFIX, tags=["control"])


def reembed_service(request: Request) -> ReembedService:
    built = services(request).reembed
    if built is None:  # only the process that owns the index re-embeds
        raise IndexUnavailable("this process does not own the tenant's index")
    return built


Reembed = Annotated[ReembedService, Depends(reembed_service)]


class ReembedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=200,
                       description="A registered embedding model, e.g. "
                       "`nomic-embed-text-v1.5` or `all-MiniLM-L6-v2`.")


def _answer(service: ReembedService, reembed_id: UUID | None = None) -> dict[str, Any]:
    record = service.status(reembed_id)
    return {"reembed": record.to_json() if record else None,
            "active": service.active_collection()}


@router.post("/reembed", status_code=202, name="control_start_reembed")
def start_reembed(body: ReembedIn, service: Reembed, caller: ControlCallerDep
                  ) -> dict[str, Any]:
    """Start re-embedding every chunk into a new collection for ``model`` (202: it runs on;
    poll ``GET /control/v1/reembed``). 409 ``REEMBED_IN_PROGRESS`` while one runs; 422
    ``EMBEDDING_MODEL_UNKNOWN`` for a model the registry lacks; 503
    ``EMBEDDING_UNAVAILABLE`` when its weights (or API key) are not here."""
    record = service.start(body.model, actor=caller.actor)
    return _answer(service, UUID(record.reembed_id))


@router.get("/reembed", name="control_reembed_status")
def reembed_status(service: Reembed, caller: ControlCallerDep,
                   reembed_id: Annotated[UUID | None, Query()] = None) -> dict[str, Any]:
    """The latest re-embedding (or the one named), with the collection search uses now."""
    return _answer(service, reembed_id)
