"""Document routes beyond reading: erasure (SPEC §9 ``DELETE /v1/documents/{id}``).

SPEC names no scope for it; it takes ``ingest``: whoever may put documents in may take
them out, while a ``read`` key (a search front end) or an ``audit`` key (an auditor) may not.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from data_plane.domain.erasure import DocumentDeleted
from data_plane.services.documents import DocumentService


def documents_router(require_ingest: Callable[..., Any]) -> APIRouter:
    router = APIRouter(prefix="/v1/documents", tags=["documents"])
    # A default, not Annotated[...]: the dependency is a local, which a postponed
    # annotation cannot name.
    caller_dependency = Depends(require_ingest)

    @router.delete("/{document_id}", status_code=202, response_model=DocumentDeleted)
    async def delete_document(request: Request, document_id: uuid.UUID,
                              caller: Any = caller_dependency) -> DocumentDeleted:
        """Erase a document: chunks, vectors and objects removed, audited (document.deleted)."""
        services = request.app.state.services
        service = DocumentService(services.core.db, services.core.store, services.indexer)
        return await run_in_threadpool(service.delete, document_id,
                                       actor=f"vendor_key:{caller.key_id}")

    return router
