"""Intake: submit a batch, list batches, a batch's status and its acceptance report.

``Idempotency-Key`` (``domain/idempotency.py``): checked before the body is read (400
``INVALID_IDEMPOTENCY_KEY``), looked up once the manifest part is in, before any file: a
replay answers the first receipt with ``Idempotent-Replayed: true`` (the rest of the body
is read and dropped, so the client gets the answer), another manifest is 409
``IDEMPOTENCY_KEY_REUSED``.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse

from data_plane.api import schemas
from data_plane.api.auth import IngestCaller, ReadCaller
from data_plane.api.dependencies import Catalogue, Intake, Reports, Settings
from data_plane.api.multipart import MAX_MANIFEST_BYTES, read_batch
from data_plane.api.routers import MAX_OFFSET
from data_plane.domain.idempotency import REPLAYED_HEADER
from data_plane.domain.intake import Manifest
from data_plane.errors import BatchTooLarge
from data_plane.services.intake import Receipt, ReceivedFile, parse_manifest
from frostbyte_common.openapi import error_responses

#: The body the route reads itself (so FastAPI does not parse it), as OpenAPI describes it:
#: the ``Manifest`` schema is added to the document's components by ``create_app``.
BATCH_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {
        "schema": {
            "type": "object", "required": ["manifest", "files"],
            "properties": {
                "manifest": {"$ref": "#/components/schemas/Manifest",
                             "description": "First part: the manifest, as JSON."},
                "files": {"type": "array", "description": "Then one part per file, whose "
                          "filename is its manifest `name`.",
                          "items": {"type": "string", "format": "binary"}}}},
        "encoding": {"manifest": {"contentType": "application/json"}}}}}}

router = APIRouter(prefix="/v1/batches", tags=["intake"])


class _Replayed(Exception):
    """Not an error: the manifest is one already sent under the Idempotency-Key, and reading
    the body stops with its receipt."""

    def __init__(self, receipt: Receipt) -> None:
        super().__init__("replay")
        self.receipt = receipt


@router.post("", status_code=202, response_model=schemas.Receipt, openapi_extra=BATCH_BODY,
             responses=error_responses(
                 400, 413, 503,
                 e409="IDEMPOTENCY_KEY_REUSED: this Idempotency-Key came with another "
                      "manifest.",
                 e422="INVALID_MANIFEST, DUPLICATE_NAME or VALIDATION_FAILED.",
                 e429="TOO_MANY_BATCHES: too many batches in flight; try again after "
                      "`Retry-After` seconds."))
async def submit_batch(
    request: Request, response: Response, caller: IngestCaller, intake: Intake,
    settings: Settings,
    idempotency_key: Annotated[str | None, Header(
        description="Any token up to 8 KiB: the same key with the same manifest answers the "
                    "first receipt again (`Idempotent-Replayed: true`).")] = None,
) -> Receipt:
    """Submit a batch: a `manifest` JSON part, then one `files` part per file (its filename
    is the manifest `name`). Each file gets a verdict in the receipt (202); processing
    goes on in the background (`GET /v1/batches/{batch_id}`)."""
    key = intake.idempotency_key(idempotency_key)
    limits = settings.tenant_config.intake
    declared = request.headers.get("content-length", "")
    body_limit = limits.max_batch_bytes + MAX_MANIFEST_BYTES
    if declared.isdigit() and int(declared) > body_limit + (1 << 20):
        raise BatchTooLarge(f"the body declares {declared} bytes; the batch limit is "
                            f"{limits.max_batch_bytes}")
    manifests: list[Manifest] = []

    def on_manifest(raw: bytes) -> None:
        # Validated as soon as it arrives: a replay, a reused key, a bad or too large batch
        # is answered before any file is read.
        manifest = parse_manifest(raw)
        replayed = intake.replay(manifest, key_id=caller.key_id, idempotency_key=key)
        if replayed is not None:
            raise _Replayed(replayed)
        intake.check_batch_limits(manifest)
        manifests.append(manifest)

    uploads = upload_scratch(settings.work_dir)
    uploads.mkdir(parents=True, exist_ok=True)
    with intake.batch_slot():
        scratch = Path(tempfile.mkdtemp(prefix="batch-", dir=uploads))
        stream = request.stream()
        try:
            batch = await read_batch(
                stream, request.headers.get("content-type"), scratch,
                max_file_bytes=limits.max_file_bytes, max_batch_bytes=body_limit,
                max_files=limits.max_batch_files, on_manifest=on_manifest)
            received = [ReceivedFile(name=f.name, path=f.path, size=f.size, sha256=f.sha256)
                        for f in batch.files]
            submitted = await run_in_threadpool(
                intake.receive, manifests[0], received, key_id=caller.key_id,
                idempotency_key=key)
        except _Replayed as replay:
            drained = 0
            async for chunk in stream:  # the files again: dropped unread
                drained += len(chunk)
                if drained > body_limit:
                    break
            response.headers[REPLAYED_HEADER] = "true"
            return replay.receipt
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    if submitted.replayed:
        response.headers[REPLAYED_HEADER] = "true"
        return submitted.receipt
    return submitted.receipt


@router.get("", response_model=schemas.BatchList, responses=error_responses(503))
def list_batches(caller: ReadCaller, catalogue: Catalogue,
                 limit: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 50,
                 offset: Annotated[int, Query(ge=0, le=MAX_OFFSET,
                                              description="Items to skip.")] = 0,
                 ) -> dict[str, Any]:
    """List batches, newest first (paged)."""
    return {"batches": catalogue.batches(limit=limit, offset=offset),
            "limit": limit, "offset": offset}


@router.get("/{batch_id}", response_model=schemas.Batch, responses=error_responses(
    503, e404="BATCH_NOT_FOUND: no such batch."))
def get_batch(batch_id: uuid.UUID, caller: ReadCaller, reports: Reports) -> dict[str, Any]:
    """One batch: status and each document's outcome."""
    return reports.batch(batch_id)


@router.get("/{batch_id}/report", response_model=None, responses={
    200: {"model": schemas.Report, "description": "The report as JSON (`format=json`), HTML "
          "or CSV.", "content": {"text/html": {"schema": {"type": "string"}},
                                 "text/csv": {"schema": {"type": "string"}}}},
    **error_responses(503, e404="BATCH_NOT_FOUND: no such batch.")})
def get_report(batch_id: uuid.UUID, caller: ReadCaller, reports: Reports,
               format: Annotated[Literal["json", "html", "csv"], Query(
                   description="json (default), html (a printable page) or csv.")] = "json",
               ) -> Response | schemas.Report:
    """The acceptance report of a batch as JSON, HTML or CSV."""
    if format == "html":
        return HTMLResponse(reports.report_html(batch_id))
    if format == "csv":
        return PlainTextResponse(reports.report_csv(batch_id), media_type="text/csv")
    return schemas.Report.model_validate(reports.report(batch_id))


def upload_scratch(work_dir: Path) -> Path:
    """Where uploads are spooled while a batch is read: only the API process writes here,
    so at its start whatever is there was left by an API that was killed mid-upload."""
    return work_dir / "uploads"
