"""Backups (issue 18): the manifest and its checks (pure), the schedule, the keyring a
restore carries, and the encrypted archive on disk (age, real) — a changed byte, another
control plane's archive or a member the manifest does not name is refused."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from control_plane.adapters.backup_archive import BackupFiles
from control_plane.domain.backups import (
    AUDIT_EXPORT,
    CONFIG,
    DATABASE_DUMP,
    INDEX_MARKER,
    SECRETS,
    BackupManifest,
    BackupRecord,
    Member,
    backup_due,
    beyond_retention,
    manifest_problems,
    member_name_problem,
    object_key,
    object_member,
)
from control_plane.domain.lifecycle import Tenant, TenantState
from control_plane.errors import BackupInvalid
from control_plane.services.backups import BackupService, merged_keyring
from control_plane.services.provisioning import JobRunner
from control_plane.services.provisioning_steps import job_plans
from frostbyte_common.data_keys import DataKeyring
from tests.unit.control_plane.doubles import InMemoryRegistry
from tests.unit.control_plane.test_provisioning_steps import ADMIN, World

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def _member(name: str, data: bytes) -> Member:
    return Member(name, hashlib.sha256(data).hexdigest(), len(data))


CONTENTS = {DATABASE_DUMP: b"PGDMP dump", INDEX_MARKER: b'{"index":"rebuild"}',
            AUDIT_EXPORT: b'{"manifest":{}}\n', CONFIG: b"{}", SECRETS: b'{"k":"v"}',
            object_member("raw/ab/cd/abcd"): b"FBEO ciphertext"}


def _manifest(contents: dict[str, bytes] = CONTENTS, **changes: object) -> BackupManifest:
    fields: dict[str, object] = dict(
        backup_id="0" * 31 + "a", source_slug="acme", created_at=NOW, audit_chain="acme",
        audit_public_key="k" * 43 + "=", audit_events=3, audit_head_hash="f" * 64,
        members=tuple(_member(n, d) for n, d in contents.items()),
        versions={"frostbyte": "1.0", "postgresql": "15.8"})
    fields.update(changes)
    return BackupManifest(**fields)  # type: ignore[arg-type]


def _present(contents: dict[str, bytes]) -> dict[str, tuple[str, int]]:
    return {n: (hashlib.sha256(d).hexdigest(), len(d)) for n, d in contents.items()}


def test_a_manifest_round_trips_and_summarises() -> None:
    manifest = _manifest()
    again = BackupManifest.parse(manifest.to_bytes())
    assert again == manifest
    summary = again.summary()
    assert (summary["objects"], summary["members"], summary["database_dump_bytes"]) == (
        1, 6, len(CONTENTS[DATABASE_DUMP]))
    assert summary["audit_chain"] == "acme" and summary["versions"]["postgresql"] == "15.8"


def test_the_members_found_must_be_exactly_those_listed() -> None:
    manifest = _manifest()
    assert manifest_problems(manifest, _present(CONTENTS)) == []
    altered = dict(CONTENTS, **{DATABASE_DUMP: b"PGDMP dumq"})
    [problem] = manifest_problems(manifest, _present(altered))
    assert "'database.dump' does not match its checksum" in problem
    missing = {n: d for n, d in CONTENTS.items() if n != SECRETS}
    assert manifest_problems(manifest, _present(missing)) == ["member 'secrets.json' is missing"]
    extra = dict(CONTENTS, **{"objects/raw/zz": b"planted"})
    assert manifest_problems(manifest, _present(extra)) == [
        "member 'objects/raw/zz' is not in the manifest"]
    # same bytes, another length claimed: refused too
    truncated = _present(CONTENTS) | {CONFIG: (hashlib.sha256(b"{}").hexdigest(), 3)}
    assert len(manifest_problems(manifest, truncated)) == 1


@pytest.mark.parametrize(("name", "bad"), [
    ("objects/raw/ab", False), ("database.dump", False), ("../etc/passwd", True),
    ("/etc/passwd", True), ("objects//x", True), ("objects/./x", True), ("a\\b", True),
    ("a\x00b", True), ("", True)])
def test_member_names_never_leave_the_folder(name: str, bad: bool) -> None:
    assert (member_name_problem(name) is not None) is bad


def test_a_manifest_that_cannot_be_right_is_refused_when_read() -> None:
    listed = _manifest().to_json()
    for change, message in (
            ({"format_version": 2}, "archive format 2"),
            ({"backup_id": "not-hex"}, "is not 32 hex digits"),
            ({"members": [m for m in listed["members"] if m["name"] != CONFIG]},
             "required member 'config.json' is not listed"),
            ({"members": [*listed["members"], {"name": "../x", "sha256": "0" * 64,
                                                "size": 1}]}, "'..' segment"),
            ({"members": [*listed["members"], listed["members"][0]]}, "named twice"),
            ({"audit_events": "many"}, "unreadable")):
        with pytest.raises(BackupInvalid, match=message):
            BackupManifest.parse(json.dumps(listed | change).encode())
    with pytest.raises(BackupInvalid, match="unreadable"):
        BackupManifest.parse(b"not json")


def test_object_members_map_back_to_their_keys() -> None:
    assert object_key(object_member("raw/ab/cd/x")) == "raw/ab/cd/x"
    assert object_key(DATABASE_DUMP) is None


def _record(hours_ago: float, trigger: str = "scheduled") -> BackupRecord:
    return BackupRecord(backup_id=f"{int(hours_ago * 10):032x}", slug="acme",
                        created_at=NOW - timedelta(hours=hours_ago), path="/x", size=1,
                        sha256="0" * 64, trigger=trigger, summary={}, actor="control-plane")


def test_a_scheduled_backup_is_due_once_its_interval_passed() -> None:
    assert not backup_due(None, None, NOW)  # no schedule: never
    assert backup_due(24, None, NOW)  # never backed up: at once
    assert not backup_due(24, NOW - timedelta(hours=23, minutes=59), NOW)
    assert backup_due(24, NOW - timedelta(hours=24), NOW)


def test_retention_keeps_the_newest_scheduled_backups_and_every_manual_one() -> None:
    records = [_record(1), _record(30, "manual"), _record(25), _record(49), _record(73)]
    assert [r.created_at for r in beyond_retention(records, 2)] == [
        NOW - timedelta(hours=49), NOW - timedelta(hours=73)]
    assert beyond_retention(records, 7) == []


def test_a_restore_carries_the_archived_data_keys_before_its_own_current_key() -> None:
    archived = DataKeyring.generate().rotated()
    fresh = DataKeyring.generate()
    merged = DataKeyring.parse(merged_keyring(archived.serialize(), fresh.serialize()))
    assert merged.ids == (*archived.ids, fresh.current_id)
    assert all(merged.key(k) == archived.key(k) for k in archived.ids)
    # run again (the step retried): nothing added twice
    assert merged_keyring(archived.serialize(), merged.serialize()) == merged.serialize()


def _staged(folder: Path, contents: dict[str, bytes] = CONTENTS) -> Path:
    members = folder / "members"
    for name, data in contents.items():
        (members / name).parent.mkdir(parents=True, exist_ok=True)
        (members / name).write_bytes(data)
    return members


def test_an_archive_opens_with_its_tenants_backup_key_and_nothing_else(tmp_path: Path) -> None:
    files = BackupFiles(tmp_path / "state")
    manifest = _manifest()
    with files.staging() as scratch:
        path, size, sha256 = files.write("acme", manifest.backup_id, _staged(scratch),
                                         manifest, scratch)
    assert path == tmp_path / "state" / "backups" / "acme" / f"{manifest.backup_id}.tar.age"
    assert (path.stat().st_mode & 0o777, files.key_file("acme").stat().st_mode & 0o777) == (
        0o600, 0o600)
    assert (size, sha256) == (path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())
    assert b"PGDMP" not in path.read_bytes()  # encrypted
    with files.staging() as scratch:
        assert files.unpack(path, scratch) == manifest
        assert (scratch / "members" / DATABASE_DUMP).read_bytes() == CONTENTS[DATABASE_DUMP]

    flipped = bytearray(path.read_bytes())
    flipped[len(flipped) // 2] ^= 0x01
    tampered = tmp_path / "tampered.tar.age"
    tampered.write_bytes(bytes(flipped))
    with files.staging() as scratch, pytest.raises(BackupInvalid, match="does not decrypt"):
        files.unpack(tampered, scratch)
    # another control plane (other backup keys) cannot open it; nor can this one once the
    # tenant's backup key is destroyed (the crypto-shred of its backups)
    with BackupFiles(tmp_path / "other").staging() as scratch, \
            pytest.raises(BackupInvalid, match="holds no backup key"):
        BackupFiles(tmp_path / "other").unpack(path, scratch)
    assert files.destroy_key("acme") and not files.has_key("acme")
    files.recipient("someone-else")
    with files.staging() as scratch, pytest.raises(BackupInvalid, match="any backup key"):
        files.unpack(path, scratch)


def test_an_archive_whose_members_are_not_its_manifests_is_refused(tmp_path: Path) -> None:
    files = BackupFiles(tmp_path / "state")
    manifest = _manifest()
    with files.staging() as scratch:
        altered = dict(CONTENTS, **{SECRETS: b'{"k":"w"}'})  # written after the manifest
        path, _, _ = files.write("acme", manifest.backup_id, _staged(scratch, altered),
                                 manifest, scratch)
    with files.staging() as scratch, \
            pytest.raises(BackupInvalid, match=r"'secrets\.json' does not match its checksum"):
        files.unpack(path, scratch)


# -- the scheduler's pass ----------------------------------------------------------------------
class _Store:
    def __init__(self, records: list[BackupRecord]) -> None:
        self.records = {r.backup_id: r for r in records}

    async def add(self, record: BackupRecord) -> None:
        self.records[record.backup_id] = record

    async def list_backups(self, slug: str | None = None) -> list[BackupRecord]:
        return sorted((r for r in self.records.values() if slug in (None, r.slug)),
                      key=lambda r: r.created_at, reverse=True)

    async def get(self, backup_id: str) -> BackupRecord:
        return self.records[backup_id]

    async def delete(self, backup_id: str) -> None:
        del self.records[backup_id]


def test_a_scheduler_pass_backs_up_what_is_due_prunes_and_survives_a_failure(
        tmp_path: Path) -> None:
    registry = InMemoryRegistry()
    schedule = {"backup": {"interval_hours": 24, "keep": 2}}
    for slug, config in (("daily", schedule), ("off", {}), ("broken", schedule),
                         ("fresh", schedule)):
        tenant, _ = Tenant.request(slug, slug, "local", config, actor="admin")
        registry.tenants[slug] = dataclasses.replace(tenant, state=TenantState.ACTIVE)
    old = [dataclasses.replace(_record(h), slug="daily", path=str(tmp_path / f"{h}"))
           for h in (25, 49)]
    manual = dataclasses.replace(_record(100, "manual"), slug="daily")
    recent = dataclasses.replace(_record(2), slug="fresh")
    for record in old:
        Path(record.path).write_bytes(b"archive")
    store = _Store([*old, manual, recent])
    made: list[str] = []

    class Service(BackupService):
        async def backup(self, slug: str, *, actor: str, trigger: str = "manual"
                         ) -> BackupRecord:
            if slug == "broken":
                raise RuntimeError("pg_dump failed")
            made.append(slug)
            record = dataclasses.replace(_record(0, trigger), slug=slug,
                                         backup_id=f"{len(made):032x}")
            await store.add(record)
            return record

    service = Service(registry, cast(Any, store), cast(Any, None), lambda t: cast(Any, t),
                      cast(Any, None), cast(Any, None), cast(Any, None))
    done = asyncio.run(service.run_due(NOW))
    assert [r.slug for r in done] == made == ["daily"]  # "broken" logged, "fresh" not due
    left = {r.created_at: r.trigger for r in store.records.values() if r.slug == "daily"}
    # keep 2 scheduled (the new one and 25 h ago), the one of 49 h deleted with its file;
    # the manual one stays
    assert sorted(left.values()) == ["manual", "scheduled", "scheduled"]
    assert NOW - timedelta(hours=49) not in left and not Path(old[1].path).exists()


# -- the provisioning job of a tenant being restored -------------------------------------------
class _Hooks:
    """Records when the provisioning job asks for the restore's two halves."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.calls: list[tuple[str, str, str | None]] = []

    async def load_pending(self, tenant: Tenant, provider: Any) -> str | None:
        # the secrets exist already (made just before, in the same step)
        assert self.world.secrets.exists(tenant.slug)
        self.calls.append(("load", tenant.state.value, tenant.endpoint))
        return "restored backup x of 'acme'" if tenant.slug == "restored" else None

    async def finish_pending(self, tenant: Tenant) -> str | None:
        # the data plane runs (its endpoint known) and the tenant is not ACTIVE yet
        stored = await self.world.registry.get(tenant.slug)
        self.calls.append(("finish", stored.state.value, tenant.endpoint))
        return None


def test_a_restore_loads_before_the_first_start_and_finishes_before_active() -> None:
    world = World()
    hooks = _Hooks(world)
    plans = job_plans(world.registry, world.secrets, world.archiver, None, hooks)
    runner = JobRunner(world.registry, world.store, world.queue, {"local": world.provider},
                       plans)
    for slug in ("restored", "plain"):
        tenant = asyncio.run(world.requested(slug))
        job = asyncio.run(runner.enqueue(tenant, ADMIN))
        asyncio.run(runner.run(job.job_id))
        assert world.store.jobs[job.job_id].status == "succeeded"
        [secrets] = [s for s in asyncio.run(world.store.steps(job.job_id))
                     if s.step == "secrets"]
        assert (secrets.message or "").endswith(
            "; restored backup x of 'acme'" if slug == "restored" else "made")
    endpoint = world.provider.endpoint("restored")
    assert hooks.calls[:2] == [("load", "PROVISIONING", None),
                               ("finish", "PROVISIONING", endpoint)]
