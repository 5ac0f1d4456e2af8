"""Stored documents: list them, read one's canonical JSON, erase one.

Erasure (SPEC §9 ``DELETE /v1/documents/{id}``): SPEC names no scope for it; it takes
``ingest``: whoever may put documents in may take them out, while a ``read`` key (a search
front end) or an ``audit`` key (an auditor) may not.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool

from data_plane.api import schemas
from data_plane.api.auth import IngestCaller, ReadCaller
from data_plane.api.dependencies import Catalogue, Documents
from data_plane.api.routers import MAX_OFFSET
from data_plane.domain.erasure import DocumentDeleted
from frostbyte_common.openapi import error_responses

router = APIRouter(prefix="/v1/documents", tags=["documents"])


@router.get("", response_model=schemas.DocumentList, responses=error_responses(503))
def list_documents(caller: ReadCaller, catalogue: Catalogue,
                   limit: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 50,
                   offset: Annotated[int, Query(ge=0, le=MAX_OFFSET,
                                                description="Items to skip.")] = 0,
                   ) -> dict[str, Any]:
    """List stored documents, newest first (paged)."""
    return {"documents": catalogue.documents(limit=limit, offset=offset),
            "limit": limit, "offset": offset}


@router.get("/{document_id}", response_class=Response, responses={
    200: {"model": schemas.CanonicalDocument, "description": "The canonical document JSON."},
    **error_responses(503, e404="DOCUMENT_NOT_FOUND: no such document, or not parsed yet.")})
def get_document(document_id: uuid.UUID, caller: ReadCaller, catalogue: Catalogue
                 ) -> Response:
    """The canonical document JSON (available once the document is parsed)."""
    return Response(catalogue.canonical_json(document_id), media_type="application/json")


@router.delete("/{document_id}", status_code=202, response_model=schemas.DocumentDeleted,
               responses=error_responses(
                   503, e404="DOCUMENT_NOT_FOUND: no such document.",
                   e409="DOCUMENT_HELD: it (or an attachment) is quarantined or waits for "
                        "its scan; an admin releases or purges it."))
async def delete_document(document_id: uuid.UUID, caller: IngestCaller, documents: Documents
                          ) -> DocumentDeleted:
    """Erase a document: chunks, vectors and objects removed, audited (document.deleted).
    202 as SPEC §9 fixes it, but the erasure is finished when the answer arrives: nothing
    of the document is left to remove, and `audit_seq` is its event in the chain."""
    return await run_in_threadpool(documents.delete, document_id,
                                   actor=f"vendor_key:{caller.key_id}")
