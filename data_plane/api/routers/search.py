"""Retrieval: semantic search with citations and a retrieval proof."""

from __future__ import annotations

from fastapi import APIRouter

from data_plane.api.auth import ReadCaller
from data_plane.api.dependencies import Search
from data_plane.domain.retrieval import SearchRequest, SearchResponse
from frostbyte_common.openapi import error_responses

router = APIRouter(tags=["retrieval"])


@router.post("/v1/search", response_model=SearchResponse,
             responses=error_responses(413, 503))
def search(body: SearchRequest, caller: ReadCaller, service: Search) -> SearchResponse:
    """Semantic search with citations and a retrieval proof."""
    return service.search(body, actor=f"vendor_key:{caller.key_id}")
