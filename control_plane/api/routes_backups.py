"""Thin routes of backups and restores (issue 18; :mod:`control_plane.services.backups`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from control_plane.api.auth import require_admin
from control_plane.api.schemas import (
    BackupList,
    BackupOut,
    BackupPurged,
    RestoreRequest,
    TenantOut,
)
from control_plane.domain.backups import BackupRecord
from control_plane.services.backups import BackupService
from frostbyte_common.errors import DependencyUnavailable
from frostbyte_common.openapi import error_responses

Actor = Annotated[str, Depends(require_admin)]


def _backups(request: Request) -> BackupService:
    service: BackupService | None = request.app.state.services.backups
    if service is None:
        raise DependencyUnavailable("this control plane keeps no backups")
    return service


Backups = Annotated[BackupService, Depends(_backups)]
_NOT_SUPPORTED = ("BACKUP_NOT_SUPPORTED: the tenant's provider cannot back up (only the local "
                  "provider's process engine can); TENANT_NOT_ACTIVE: it has no data plane.")

backups = APIRouter(prefix="/v1/tenants", tags=["backups"])


def _out(record: BackupRecord) -> BackupOut:
    return BackupOut.model_validate(record.to_json())


@backups.post("/restore", status_code=202, response_model=TenantOut, responses=error_responses(
    503, e404="BACKUP_NOT_FOUND: no such backup.",
    e409="TENANT_EXISTS: the slug is taken; BACKUP_NOT_SUPPORTED.",
    e422="BACKUP_INVALID: the archive does not decrypt or does not match its manifest "
         "(nothing was created); INVALID_SLUG."))
async def restore_tenant(body: RestoreRequest, service: Backups, actor: Actor) -> TenantOut:
    """Create a new tenant from a backup (checked first); its provisioning loads the data."""
    tenant = await service.restore(new_slug=body.slug, backup_id=body.backup_id,
                                   archive=body.archive, display_name=body.display_name,
                                   actor=actor)
    return TenantOut.of(tenant)


@backups.post("/{slug}/backups", status_code=201, response_model=BackupOut,
              responses=error_responses(502, 503, e404="TENANT_NOT_FOUND", e409=_NOT_SUPPORTED))
async def create_backup(slug: str, service: Backups, actor: Actor) -> BackupOut:
    """Back the tenant up now into one encrypted archive (answers when it is written)."""
    return _out(await service.backup(slug, actor=actor))


@backups.get("/{slug}/backups", response_model=BackupList,
             responses=error_responses(503, e404="TENANT_NOT_FOUND"))
async def list_backups(slug: str, service: Backups, actor: Actor) -> BackupList:
    """The tenant's backups, newest first (also after it was deprovisioned)."""
    return BackupList(backups=[_out(r) for r in await service.list_backups(slug)])


@backups.delete("/{slug}/backups/{backup_id}", response_model=BackupOut,
                responses=error_responses(503, e404="BACKUP_NOT_FOUND"))
async def delete_backup(slug: str, backup_id: str, service: Backups, actor: Actor
                        ) -> BackupOut:
    """Delete one backup (its archive and its record)."""
    return _out(await service.delete_backup(slug, backup_id, actor=actor))


@backups.delete("/{slug}/backups", response_model=BackupPurged,
                responses=error_responses(503, e404="TENANT_NOT_FOUND"))
async def purge_backups(slug: str, service: Backups, actor: Actor) -> dict[str, Any]:
    """Delete every backup of the tenant, then destroy its backup key (crypto-shred of its
    backups: a copy kept elsewhere no longer opens)."""
    return await service.purge(slug, actor=actor)
