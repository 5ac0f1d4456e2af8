"""Per-tenant backups (issue 18): what one archive holds, how its integrity is checked, and
when a scheduled backup is due. Pure: no I/O; the service and the adapters do the work.

One backup is one file, ``<state_dir>/backups/<slug>/<backup_id>.tar.age``: a tar of the
members below, encrypted with age to the tenant's *backup* key (not the tenant's SOPS key:
see :mod:`control_plane.services.backups` for why that key outlives deprovisioning). Members:

    manifest.json         this module's :class:`BackupManifest` (sha256 and size of every other
                          member, the versions, the source tenant and its audit chain)
    database.dump         ``pg_dump --format=custom --no-owner --no-privileges`` of the tenant
                          database (the system of record, audit chain included)
    objects/<key>         every object of the tenant's bucket as stored (AES-GCM ciphertext
                          sealed with the tenant's data keys; keys carry no slug)
    index.json            a rebuild marker: the vector index is a projection of PostgreSQL
                          and is re-projected from it after a restore
    audit-export.jsonl    the tenant's signed audit export at backup time
    config.json           the tenant's display name, provider and config overrides
    secrets.json          what reads the data: the data keyring and the audit signing key

A restore accepts an archive only when the manifest names exactly the members present, each
with its sha256 and size (:func:`manifest_problems`); age's own authentication already
refuses a changed byte of the encrypted file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from control_plane.errors import BackupInvalid

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE_DUMP = "database.dump"
OBJECTS_PREFIX = "objects/"
INDEX_MARKER = "index.json"
AUDIT_EXPORT = "audit-export.jsonl"
CONFIG = "config.json"
SECRETS = "secrets.json"
#: the members every archive has (objects come on top, one per object)
REQUIRED_MEMBERS = (DATABASE_DUMP, INDEX_MARKER, AUDIT_EXPORT, CONFIG, SECRETS)

_SHA256 = re.compile(r"[0-9a-f]{64}")
_BACKUP_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class Member:
    """One file of the archive, as the manifest records it."""

    name: str
    sha256: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "size": self.size}


def member_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an archive member (None: it can): relative, '/'-separated, no
    empty, ``.`` or ``..`` segment, no backslash or NUL (an archive must never write outside
    the folder it is unpacked into)."""
    if not name or name.startswith("/") or "\\" in name or "\x00" in name:
        return f"member name {name!r} is not a relative path"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return f"member name {name!r} has an empty, '.' or '..' segment"
    return None


@dataclass(frozen=True, slots=True)
class BackupManifest:
    """What an archive holds and where it came from."""

    backup_id: str
    source_slug: str
    created_at: datetime
    #: the audit chain the tenant's events belong to: its slug, or, for a tenant that was
    #: itself restored, the chain it continued
    audit_chain: str
    #: the audit key (raw Ed25519, base64) the chain's checkpoints are signed with
    audit_public_key: str
    audit_events: int
    audit_head_hash: str
    members: tuple[Member, ...]
    versions: Mapping[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:  # one order, whoever listed them
        object.__setattr__(self, "members", tuple(sorted(self.members, key=lambda m: m.name)))

    @property
    def objects(self) -> int:
        return sum(1 for m in self.members if m.name.startswith(OBJECTS_PREFIX))

    @property
    def size(self) -> int:
        return sum(m.size for m in self.members)

    def summary(self) -> dict[str, Any]:
        """What a listing shows of it: counts and sizes, no member list."""
        dump = next((m.size for m in self.members if m.name == DATABASE_DUMP), 0)
        return {"source_slug": self.source_slug, "audit_chain": self.audit_chain,
                "audit_events": self.audit_events, "audit_head_hash": self.audit_head_hash,
                "objects": self.objects, "database_dump_bytes": dump,
                "members": len(self.members), "versions": dict(self.versions)}

    def to_json(self) -> dict[str, Any]:
        return {"format_version": self.format_version, "backup_id": self.backup_id,
                "source_slug": self.source_slug, "created_at": self.created_at.isoformat(),
                "audit_chain": self.audit_chain, "audit_public_key": self.audit_public_key,
                "audit_events": self.audit_events, "audit_head_hash": self.audit_head_hash,
                "versions": dict(sorted(self.versions.items())),
                "members": [m.to_json() for m in self.members]}

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), indent=1, sort_keys=True).encode("utf-8")

    @classmethod
    def parse(cls, data: bytes) -> BackupManifest:
        """Read a manifest; :class:`BackupInvalid` naming what is wrong with it."""
        try:
            raw = json.loads(data)
            if raw["format_version"] != FORMAT_VERSION:
                raise BackupInvalid(f"archive format {raw['format_version']!r} is not "
                                    f"{FORMAT_VERSION}; restore it with the version that "
                                    "wrote it")
            members = tuple(Member(str(m["name"]), str(m["sha256"]), int(m["size"]))
                            for m in raw["members"])
            manifest = cls(
                backup_id=str(raw["backup_id"]), source_slug=str(raw["source_slug"]),
                created_at=datetime.fromisoformat(raw["created_at"]),
                audit_chain=str(raw["audit_chain"]),
                audit_public_key=str(raw["audit_public_key"]),
                audit_events=int(raw["audit_events"]),
                audit_head_hash=str(raw["audit_head_hash"]), members=members,
                versions={str(k): str(v) for k, v in dict(raw.get("versions", {})).items()})
        except BackupInvalid:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupInvalid(f"the archive's manifest is unreadable: "
                                f"{type(exc).__name__}: {exc}") from None
        problems = manifest.shape_problems()
        if problems:
            raise BackupInvalid("the archive's manifest is invalid: " + "; ".join(problems[:5]))
        return manifest

    def shape_problems(self) -> list[str]:
        """What is wrong with the manifest on its own (before any member is looked at)."""
        problems = []
        if not _BACKUP_ID.fullmatch(self.backup_id):
            problems.append(f"backup id {self.backup_id!r} is not 32 hex digits")
        names = [m.name for m in self.members]
        if len(set(names)) != len(names):
            problems.append("a member is named twice")
        for member in self.members:
            if (why := member_name_problem(member.name)) is not None:
                problems.append(why)
            if member.name == MANIFEST:
                problems.append("the manifest lists itself")
            if not _SHA256.fullmatch(member.sha256) or member.size < 0:
                problems.append(f"member {member.name!r} has no valid sha256 and size")
        problems += [f"required member {name!r} is not listed"
                     for name in REQUIRED_MEMBERS if name not in names]
        return problems


def manifest_problems(manifest: BackupManifest,
                      present: Mapping[str, tuple[str, int]]) -> list[str]:
    """Compare the manifest with the members found (name → (sha256, size)), manifest
    excluded: every listed member present with its sha256 and size, nothing unexpected.
    Empty when the archive is what its manifest says."""
    listed = {m.name: m for m in manifest.members}
    problems = [f"member {name!r} is missing" for name in sorted(set(listed) - set(present))]
    problems += [f"member {name!r} is not in the manifest"
                 for name in sorted(set(present) - set(listed))]
    for name in sorted(set(listed) & set(present)):
        sha256, size = present[name]
        if (sha256, size) != (listed[name].sha256, listed[name].size):
            problems.append(f"member {name!r} does not match its checksum "
                            f"(sha256 {sha256[:12]}…, {size} bytes; the manifest says "
                            f"{listed[name].sha256[:12]}…, {listed[name].size} bytes)")
    return problems


def object_member(key: str) -> str:
    """The archive member of an object-store key (``objects/<key>``)."""
    return OBJECTS_PREFIX + key


def object_key(member: str) -> str | None:
    """The object-store key of an ``objects/`` member (None for other members)."""
    return member[len(OBJECTS_PREFIX):] if member.startswith(OBJECTS_PREFIX) else None


@dataclass(frozen=True, slots=True)
class BackupRecord:
    """A backup as the control plane lists it."""

    backup_id: str
    slug: str
    created_at: datetime
    path: str
    size: int
    sha256: str
    trigger: str  # "manual" or "scheduled"
    summary: Mapping[str, Any]
    actor: str

    def to_json(self) -> dict[str, Any]:
        return {"backup_id": self.backup_id, "slug": self.slug,
                "created_at": self.created_at.isoformat(), "path": self.path,
                "size": self.size, "sha256": self.sha256, "trigger": self.trigger,
                "manifest": dict(self.summary), "actor": self.actor}


@dataclass(frozen=True, slots=True)
class RestoreRecord:
    """A tenant brought up from a backup: where from, and the audit chain it continues."""

    slug: str
    source_slug: str
    backup_id: str
    archive_path: str
    archive_sha256: str
    audit_chain: str
    restored_event: Mapping[str, Any] | None = None
    #: the source's keys found valid in the dump and revoked before the first start
    revoked_key_ids: tuple[str, ...] = ()


# -- scheduling -----------------------------------------------------------------------------
def backup_due(interval_hours: int | None, last_backup_at: datetime | None,
               now: datetime) -> bool:
    """A scheduled backup is due when a schedule is set and no backup was made within its
    interval (a tenant never backed up is due at once)."""
    if not interval_hours:
        return False
    return last_backup_at is None or now - last_backup_at >= timedelta(hours=interval_hours)


def beyond_retention(records: Iterable[BackupRecord], keep: int) -> list[BackupRecord]:
    """The scheduled backups past the newest ``keep`` ones (oldest last): what retention
    deletes. Manual backups are the admin's to delete, never retention's."""
    scheduled = sorted((r for r in records if r.trigger == "scheduled"),
                       key=lambda r: r.created_at, reverse=True)
    return scheduled[max(keep, 0):]


def members_summary(members: Sequence[Member]) -> dict[str, int]:
    """Counts for a log line."""
    return {"members": len(members), "bytes": sum(m.size for m in members)}


# -- ports ----------------------------------------------------------------------------------
class BackupStorePort(Protocol):
    """Backup and restore records (coroutines)."""

    async def add(self, record: BackupRecord) -> None: ...

    async def list_backups(self, slug: str | None = None) -> list[BackupRecord]:
        """Newest first; every tenant's when ``slug`` is None."""
        ...

    async def get(self, backup_id: str) -> BackupRecord:
        """The backup; ``BackupNotFound`` if there is none."""
        ...

    async def by_sha256(self, sha256: str) -> BackupRecord | None: ...

    async def delete(self, backup_id: str) -> None: ...

    async def add_restore(self, record: RestoreRecord) -> bool:
        """Record a restore into ``record.slug``; False when that slug has one already."""
        ...

    async def delete_restore(self, slug: str) -> None: ...

    async def restore_of(self, slug: str) -> RestoreRecord | None: ...

    async def set_revoked_keys(self, slug: str, key_ids: Sequence[str]) -> None: ...

    async def set_restored_event(self, slug: str, event: dict[str, Any]) -> None: ...


class BackupFilesPort(Protocol):
    """The archives and the tenants' backup keys on disk. Blocking."""

    def staging(self) -> AbstractContextManager[Path]:
        """A private scratch folder, deleted on exit."""
        ...

    def write(self, slug: str, backup_id: str, members: Path, manifest: BackupManifest,
              scratch: Path) -> tuple[Path, int, str]:
        """Archive ``members`` with ``manifest``, encrypted to the tenant's backup key
        (made at its first backup); ``(path, size, sha256)``."""
        ...

    def unpack(self, archive: Path, into: Path) -> BackupManifest:
        """Decrypt and unpack ``archive`` into ``into/members``, every member checked
        against the manifest; ``BackupInvalid`` otherwise."""
        ...

    def has_key(self, slug: str) -> bool: ...

    def digest(self, path: Path) -> tuple[str, int]:
        """``(sha256 hex, size)`` of a file."""
        ...

    def destroy_key(self, slug: str) -> bool:
        """Destroy the tenant's backup key; True when verified gone."""
        ...


class TenantDataPort(Protocol):
    """A provider's tenant data, dumped into and loaded from an archive's members. Blocking."""

    def dump_database(self, slug: str, target: Path) -> str:
        """The tenant database into ``target``; the database server's version."""
        ...

    def dump_objects(self, slug: str, secrets: Mapping[str, str], members: Path) -> int:
        """Every object as stored into ``members/objects/<key>``; how many."""
        ...

    def audit_signing_key(self, slug: str) -> bytes:
        """The PEM of the tenant's audit signing key."""
        ...

    def load_database(self, slug: str, dump: Path) -> list[str]:
        """The dump into the tenant's new database, every vendor and control key in it
        revoked; the ids revoked."""
        ...

    def load_objects(self, slug: str, secrets: Mapping[str, str], members: Path) -> int: ...

    def place_identity(self, slug: str, audit_key_pem: bytes, audit_chain: str) -> None:
        """The carried audit signing key and the audit chain's name, where the tenant's
        data plane reads them at its next start."""
        ...
