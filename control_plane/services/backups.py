"""Per-tenant backup and restore (issue 18).

**Backup** (``POST /v1/tenants/{slug}/backups``, ``frostbyte tenants backup``): of an ACTIVE
or SUSPENDED tenant whose provider can (the local provider's process engine; others answer
409 ``BACKUP_NOT_SUPPORTED``). First its signed audit export (through its control routes,
verified against the audit key the control plane recorded), then ``pg_dump`` of its
database, then every object of its bucket as stored — in that order, so the dump holds
every event the export does and every object the dump names was written before it. With its
config and the secrets that read the data (data keyring, audit signing key) they become one
archive encrypted to the tenant's backup key (:mod:`control_plane.adapters.backup_archive`).

**Why a backup key of its own.** SPEC §5.4 makes crypto-shred on deprovision turn every
leftover byte unreadable, a backup included; issue 18 restores a backup *after* its tenant
was deprovisioned. Both hold with one explicit exception: the backup key is made at a
tenant's first backup, is not the tenant's SOPS key, and deprovisioning leaves it while the
tenant has backups; ``purge`` (``DELETE /v1/tenants/{slug}/backups``) deletes the archives
and then destroys that key — the crypto-shred of the backups. The runbook and the threat
model state it.

**Restore** (``POST /v1/tenants/restore``, ``frostbyte tenants restore ARCHIVE --as NEW``):
the archive is decrypted and every member checked against the manifest before anything is
made (a changed byte: 422 ``BACKUP_INVALID``, nothing created). Then the new tenant is
created as any tenant is, with the archive's config, and its provisioning job does the rest:

* step ``secrets``: fresh credentials (new database role password, new S3 key, new control
  key), the archived data keyring carried in front of a new current key (old objects decrypt,
  new ones use the new key) and the archived audit signing seed kept; then the archive is
  unpacked again and checked, its dump restored into the new tenant's new database, its
  objects put in the new bucket, its audit signing key and the name of its audit chain placed
  for the data plane;
* step ``apply``: the usual start — ``migrate`` (the data plane's newer migrations run on the
  restored schema), the processes, the health check;
* step ``activate``: the index re-projected from PostgreSQL (the data plane's consistency
  repair), the vendor endpoint opened (a chain that ended suspended would keep it closed), and
  ``tenant.restored`` appended to the audit chain, naming the source tenant, the backup id and
  the archive's sha256; the audit public key recorded on the new tenant is the carried one,
  so the restored chain's checkpoints verify.

The restored data plane continues the *source's* audit chain (its events keep the chain's
name, which every event hash covers; see ``FROSTBYTE_DP_AUDIT_CHAIN``): the chain verifies end
to end, and the audit archive made when the restored tenant is deprovisioned is accepted for
that chain.

**Scheduled backups**: the tenant config's ``backup.interval_hours`` (null: none) and
``backup.keep`` (scheduled backups kept; manual ones are never pruned), run by
:func:`run_scheduler` in the control plane's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from control_plane.domain.actors import SYSTEM_ACTOR
from control_plane.domain.backups import (
    AUDIT_EXPORT,
    CONFIG,
    DATABASE_DUMP,
    INDEX_MARKER,
    SECRETS,
    BackupFilesPort,
    BackupManifest,
    BackupRecord,
    BackupStorePort,
    Member,
    RestoreRecord,
    TenantDataPort,
    backup_due,
    beyond_retention,
)
from control_plane.domain.health import TenantObservations
from control_plane.domain.lifecycle import Action, Tenant, TenantState
from control_plane.domain.ports import SecretStore, TenantRegistryPort
from control_plane.domain.tenant_config import effective_config
from control_plane.domain.tenant_secrets import DATA_KEYS, SIGNING_KEY
from control_plane.errors import (
    BackupInvalid,
    BackupNotFound,
    BackupNotSupported,
    TenantExists,
    TenantNotActive,
    TenantNotFound,
)
from control_plane.providers.base import Provider
from control_plane.services.data_plane_control import DataPlaneControlService
from frostbyte_common.audit_export import verify_export_lines
from frostbyte_common.data_keys import DataKeyring
from frostbyte_common.slugs import validate_slug
from frostbyte_common.version import __version__

log = logging.getLogger(__name__)

#: a provider's tenants → the port that dumps and loads their data (None: cannot)
DataPorts = Callable[[Tenant], TenantDataPort | None]
#: makes a tenant (the lifecycle service's ``create``)
CreateTenant = Callable[[str, str, str, Mapping[str, object], str], Awaitable[Tenant]]
_AUDIT_KEY_PEM = "audit_signing_key_pem"


def _export_head(data: bytes) -> tuple[str, int, str]:
    """(chain name, events, head hash) of an audit export (verified by the caller)."""
    first = json.loads(data.split(b"\n", 1)[0])["manifest"]
    return str(first["tenant"]), int(first.get("events", 0)), str(first.get("head_hash", ""))


def merged_keyring(archived: str, current: str | None) -> str:
    """The archived keys, then the current ring's keys that are not among them (its current
    key last, so new objects are sealed with the new tenant's own key)."""
    old = DataKeyring.parse(archived)
    if not current:
        return old.rotated().serialize()
    new = DataKeyring.parse(current)
    entries = [(kid, old.key(kid)) for kid in old.ids]
    entries += [(kid, new.key(kid)) for kid in new.ids if kid not in old.ids]
    return DataKeyring(entries).serialize()


class BackupService:
    def __init__(self, registry: TenantRegistryPort, store: BackupStorePort,
                 files: BackupFilesPort, data_ports: DataPorts, secrets: SecretStore,
                 control: DataPlaneControlService, create_tenant: CreateTenant,
                 observations: TenantObservations | None = None) -> None:
        """``observations``: where each backup made, deleted or purged becomes an event of
        the tenant's chain (the registry); None records none (tests of the archive alone)."""
        self._registry = registry
        self._observations = observations
        self._store = store
        self._files = files
        self._data_ports = data_ports
        self._secrets = secrets
        self._control = control
        self._create_tenant = create_tenant
        self._locks: dict[str, asyncio.Lock] = {}

    def _data(self, tenant: Tenant) -> TenantDataPort:
        port = self._data_ports(tenant)
        if port is None:
            raise BackupNotSupported(
                f"tenant {tenant.slug!r} runs on provider {tenant.provider!r}, which cannot "
                "back up or restore yet (only the local provider's process engine can)")
        return port

    # -- backup -----------------------------------------------------------------------------
    async def backup(self, slug: str, *, actor: str, trigger: str = "manual") -> BackupRecord:
        """Write one archive of the tenant (see the module docstring) and record it."""
        tenant = await self._registry.get(slug)
        if tenant.state not in (TenantState.ACTIVE, TenantState.SUSPENDED):
            raise TenantNotActive(f"tenant {slug!r} is {tenant.state.value}; a backup needs "
                                  "its data plane (ACTIVE or SUSPENDED)")
        data = self._data(tenant)
        lock = self._locks.setdefault(slug, asyncio.Lock())
        async with lock:
            export = await self._control.call(tenant, actor, lambda dp: dp.audit_export())
            trusted = tenant.audit_public_key
            if trusted is None:
                _, trusted = await self._control.audit_key(tenant, actor=actor)
            verdict = verify_export_lines(export.splitlines(keepends=True),
                                          trusted_public_key=trusted)
            if not verdict.ok:
                raise BackupInvalid(f"the audit export of {slug!r} does not verify against "
                                    f"its audit key: {verdict.problems[:2]}")
            chain, _, _ = _export_head(export)
            backup_id = uuid.uuid4().hex
            now = datetime.now(UTC)
            path, size, sha256, manifest = await asyncio.to_thread(
                self._write, tenant, data, export, chain, trusted, verdict.events,
                verdict.head_hash, backup_id, now)
        record = BackupRecord(backup_id=backup_id, slug=slug, created_at=now, path=str(path),
                              size=size, sha256=sha256, trigger=trigger,
                              summary=manifest.summary(), actor=actor)
        await self._store.add(record)
        await self._record(slug, Action.BACKUP_CREATED, {
            "backup_id": backup_id, "sha256": sha256, "size": size, "trigger": trigger,
            "objects": manifest.objects, "audit_events": verdict.events}, actor=actor)
        log.info("tenant %s: backup %s written (%s, %d bytes, %d objects)", slug, backup_id,
                 path, size, manifest.objects)
        return record

    async def _record(self, slug: str, action: Action, detail: dict[str, Any], *,
                      actor: str) -> None:
        """One event of the tenant's chain for what was done to its backups (the tenant
        may be DEPROVISIONED by now: its chain in the registry outlives it)."""
        if self._observations is None:
            return
        tenant = await self._registry.get(slug)
        await self._observations.observe(slug, tenant.observe(action, detail, actor=actor),
                                         expected_state=tenant.state)

    def _write(self, tenant: Tenant, data: TenantDataPort, export: bytes, chain: str,
               audit_public_key: str, events: int, head_hash: str, backup_id: str,
               now: datetime) -> tuple[Path, int, str, BackupManifest]:
        slug = tenant.slug
        secrets = self._secrets.get(slug) if self._secrets.exists(slug) else {}
        with self._files.staging() as scratch:
            members = scratch / "members"
            members.mkdir(mode=0o700)
            (members / AUDIT_EXPORT).write_bytes(export)
            postgres = data.dump_database(slug, members / DATABASE_DUMP)
            objects = data.dump_objects(slug, secrets, members)
            (members / CONFIG).write_text(json.dumps({
                "slug": slug, "display_name": tenant.display_name, "provider": tenant.provider,
                "config": dict(tenant.config)}, sort_keys=True, indent=1), encoding="utf-8")
            (members / SECRETS).write_text(json.dumps({
                DATA_KEYS: secrets.get(DATA_KEYS), SIGNING_KEY: secrets.get(SIGNING_KEY),
                _AUDIT_KEY_PEM: data.audit_signing_key(slug).decode("ascii")},
                sort_keys=True), encoding="utf-8")
            (members / INDEX_MARKER).write_text(json.dumps({
                "index": "rebuild", "from": "postgresql",
                "embedding": effective_config(tenant).embedding.model_dump(mode="json")},
                sort_keys=True), encoding="utf-8")
            listed = []
            for path in sorted(p for p in members.rglob("*") if p.is_file()):
                sha256, size = self._files.digest(path)
                listed.append(Member(path.relative_to(members).as_posix(), sha256, size))
            manifest = BackupManifest(
                backup_id=backup_id, source_slug=slug, created_at=now, audit_chain=chain,
                audit_public_key=audit_public_key, audit_events=events,
                audit_head_hash=head_hash, members=tuple(listed),
                versions={"frostbyte": __version__, "postgresql": postgres})
            log.info("tenant %s: backup %s staged (%d objects)", slug, backup_id, objects)
            path, size, sha256 = self._files.write(slug, backup_id, members, manifest, scratch)
        return path, size, sha256, manifest

    async def list_backups(self, slug: str) -> list[BackupRecord]:
        await self._registry.get(slug)  # 404 for an unknown tenant
        return await self._store.list_backups(slug)

    async def delete_backup(self, slug: str, backup_id: str, *, actor: str = SYSTEM_ACTOR
                            ) -> BackupRecord:
        record = await self._store.get(backup_id)
        if record.slug != slug:
            raise BackupNotFound(f"tenant {slug!r} has no backup {backup_id!r}")
        await asyncio.to_thread(Path(record.path).unlink, missing_ok=True)
        await self._store.delete(backup_id)
        await self._record(slug, Action.BACKUP_DELETED,
                           {"backup_id": backup_id, "sha256": record.sha256}, actor=actor)
        return record

    async def purge(self, slug: str, *, actor: str) -> dict[str, Any]:
        """Delete every backup of the tenant and then its backup key (the crypto-shred of
        its backups: a copy of an archive kept elsewhere no longer opens here)."""
        await self._registry.get(slug)
        records = await self._store.list_backups(slug)
        for record in records:
            await self.delete_backup(slug, record.backup_id, actor=actor)
        key_gone = await asyncio.to_thread(self._files.destroy_key, slug)
        await self._record(slug, Action.BACKUPS_PURGED, {
            "deleted": [r.backup_id for r in records], "backup_key_destroyed": key_gone},
            actor=actor)
        log.info("tenant %s: %d backup(s) and the backup key purged by %s", slug,
                 len(records), actor)
        return {"slug": slug, "deleted": [r.backup_id for r in records],
                "backup_key_destroyed": key_gone}

    # -- restore ----------------------------------------------------------------------------
    async def restore(self, *, new_slug: str, backup_id: str | None, archive: str | None,
                      display_name: str | None, actor: str) -> Tenant:
        """Check the archive, then create ``new_slug`` from it (module docstring)."""
        validate_slug(new_slug)
        if (backup_id is None) == (archive is None):
            raise BackupInvalid("name either a backup id or an archive path")
        if backup_id is not None:
            path = Path((await self._store.get(backup_id)).path)
        else:
            assert archive is not None
            path = Path(archive)
            if not path.is_absolute():
                raise BackupInvalid("the archive path must be absolute (a file on the control "
                                    "plane's host)")
        with contextlib.suppress(TenantNotFound):
            await self._registry.get(new_slug)
            raise TenantExists(f"slug {new_slug!r} is taken (slugs are never reused)")
        manifest, sha256, config = await asyncio.to_thread(self._check_archive, path)
        source = config.get("provider", "local")
        probe = Tenant.request(new_slug, display_name or new_slug, str(source), {},
                               actor=actor)[0]
        self._data(probe)  # 409 BACKUP_NOT_SUPPORTED before anything is recorded
        await self._check_source_key(manifest)
        recorded = await self._store.add_restore(RestoreRecord(
            slug=new_slug, source_slug=manifest.source_slug, backup_id=manifest.backup_id,
            archive_path=str(path.resolve()), archive_sha256=sha256,
            audit_chain=manifest.audit_chain))
        if not recorded:
            raise TenantExists(f"slug {new_slug!r} is taken (slugs are never reused)")
        name = display_name or f"{config.get('display_name') or manifest.source_slug} " \
                               f"(restored)"
        try:
            tenant = await self._create_tenant(new_slug, name[:200], str(source),
                                               dict(config.get("config") or {}), actor)
        except BaseException:
            await self._store.delete_restore(new_slug)
            raise
        log.info("tenant %s: restoring backup %s of %s (requested by %s)", new_slug,
                 manifest.backup_id, manifest.source_slug, actor)
        return tenant

    def _check_archive(self, path: Path) -> tuple[BackupManifest, str, dict[str, Any]]:
        """Unpack and check the archive (nothing is kept); its manifest, sha256, config."""
        if not path.is_file():
            raise BackupInvalid(f"no archive file at {path}")
        sha256, _ = self._files.digest(path)
        with self._files.staging() as scratch:
            manifest = self._files.unpack(path, scratch)
            members = scratch / "members"
            verdict = verify_export_lines(
                (members / AUDIT_EXPORT).read_bytes().splitlines(keepends=True),
                trusted_public_key=manifest.audit_public_key)
            if not verdict.ok or verdict.head_hash != manifest.audit_head_hash:
                raise BackupInvalid("the archive's audit export does not verify against its "
                                    f"audit key: {verdict.problems[:2]}")
            config = json.loads((members / CONFIG).read_text(encoding="utf-8"))
        return manifest, sha256, dict(config)

    async def _check_source_key(self, manifest: BackupManifest) -> None:
        """When the source tenant is known here, the archive's audit key must be the one
        recorded for it (an archive cannot bring its own trust)."""
        try:
            source = await self._registry.get(manifest.source_slug)
        except TenantNotFound:
            return
        if source.audit_public_key and source.audit_public_key != manifest.audit_public_key:
            raise BackupInvalid(f"the archive's audit key is not the one recorded for "
                                f"tenant {manifest.source_slug!r}")

    # -- the provisioning job's hooks ---------------------------------------------------------
    async def load_pending(self, tenant: Tenant, provider: Provider) -> str | None:
        """In the ``secrets`` step of a tenant being restored: carry the archive's keys into
        its secrets and load its data (None: no restore pending)."""
        record = await self._store.restore_of(tenant.slug)
        if record is None or record.restored_event is not None:
            return None
        data = self._data(tenant)
        # nothing may hold the database a load starts over (a retried restore)
        await asyncio.to_thread(provider.stop, tenant)
        message, revoked = await asyncio.to_thread(self._load, tenant.slug, record, data)
        await self._store.set_revoked_keys(tenant.slug, revoked)
        return message

    def _load(self, slug: str, record: RestoreRecord, data: TenantDataPort
              ) -> tuple[str, list[str]]:
        path = Path(record.archive_path)
        if self._files.digest(path)[0] != record.archive_sha256:
            raise BackupInvalid(f"the archive {path} changed since the restore was asked for")
        with self._files.staging() as scratch:
            manifest = self._files.unpack(path, scratch)
            members = scratch / "members"
            carried = json.loads((members / SECRETS).read_text(encoding="utf-8"))
            current = self._secrets.get(slug)
            values = dict(current)
            if carried.get(DATA_KEYS):
                values[DATA_KEYS] = merged_keyring(carried[DATA_KEYS], current.get(DATA_KEYS))
            if carried.get(SIGNING_KEY):
                values[SIGNING_KEY] = carried[SIGNING_KEY]
            if values != current:
                self._secrets.put(slug, values)
            revoked = data.load_database(slug, members / DATABASE_DUMP)
            objects = data.load_objects(slug, values, members)
            data.place_identity(slug, carried[_AUDIT_KEY_PEM].encode("ascii"),
                                manifest.audit_chain)
        return (f"restored backup {manifest.backup_id} of {manifest.source_slug!r}: "
                f"database ({len(revoked)} key(s) of the source revoked), {objects} "
                "object(s), data keys and audit key carried"), revoked

    async def finish_pending(self, tenant: Tenant) -> str | None:
        """In the ``activate`` step of a tenant being restored (its data plane running):
        re-project the index, open the vendor endpoint, append ``tenant.restored``."""
        record = await self._store.restore_of(tenant.slug)
        if record is None or record.restored_event is not None:
            return None
        repaired = await self._control.call(
            tenant, SYSTEM_ACTOR, lambda dp: dp.consistency(repair=True, first=5))
        await self._control.call(tenant, SYSTEM_ACTOR, lambda dp: dp.set_suspended(False))
        created = ""
        with contextlib.suppress(BackupNotFound):
            created = (await self._store.get(record.backup_id)).created_at.isoformat()
        head = await asyncio.to_thread(self._archived_head, record)
        event = await self._control.call(tenant, SYSTEM_ACTOR, lambda dp: dp.record_restored({
            "source_tenant": record.source_slug, "restored_as": tenant.slug,
            "backup_id": record.backup_id, "archive_sha256": record.archive_sha256,
            "backup_created_at": created or head[2], "source_head_hash": head[1],
            "source_events": head[0], "revoked_key_ids": list(record.revoked_key_ids)}))
        await self._store.set_restored_event(tenant.slug, event)
        return (f"index re-projected (clean: {repaired.get('clean')}); tenant.restored at "
                f"seq {event.get('seq')}")

    def _archived_head(self, record: RestoreRecord) -> tuple[int, str, str]:
        """(events, head hash, created_at) of the backup's audit export, from its manifest."""
        with self._files.staging() as scratch:
            manifest = self._files.unpack(Path(record.archive_path), scratch)
        return manifest.audit_events, manifest.audit_head_hash, manifest.created_at.isoformat()

    async def audit_chain_of(self, slug: str) -> str | None:
        """The audit chain a restored tenant continues (None: its own)."""
        record = await self._store.restore_of(slug)
        return None if record is None else record.audit_chain

    # -- schedule ---------------------------------------------------------------------------
    async def run_due(self, now: datetime | None = None) -> list[BackupRecord]:
        """One scheduler pass: back up every ACTIVE or SUSPENDED tenant whose schedule is
        due, then delete its scheduled backups beyond ``keep``. A tenant's failure is logged
        and does not stop the others."""
        now = now or datetime.now(UTC)
        made = []
        for tenant in await self._registry.list_tenants(
                [TenantState.ACTIVE, TenantState.SUSPENDED]):
            policy = effective_config(tenant).backup
            if not policy.interval_hours or self._data_ports(tenant) is None:
                continue
            try:
                records = await self._store.list_backups(tenant.slug)
                last = max((r.created_at for r in records), default=None)
                if backup_due(policy.interval_hours, last, now):
                    record = await self.backup(tenant.slug, actor=SYSTEM_ACTOR,
                                               trigger="scheduled")
                    made.append(record)
                    records = [record, *records]
                for old in beyond_retention(records, policy.keep):
                    await self.delete_backup(tenant.slug, old.backup_id)
                    log.info("tenant %s: scheduled backup %s deleted (keep %d)", tenant.slug,
                             old.backup_id, policy.keep)
            except Exception:
                log.exception("tenant %s: scheduled backup failed", tenant.slug)
        return made


async def run_scheduler(service: BackupService, *, interval_s: float) -> None:
    """Run :meth:`BackupService.run_due` every ``interval_s`` seconds until cancelled."""
    while True:
        try:
            await service.run_due()
        except Exception:
            log.exception("the backup scheduler's pass failed; trying again")
        await asyncio.sleep(interval_s)

