"""A data plane restored from a backup (issue 18) continues the source tenant's audit chain:
``FROSTBYTE_DP_AUDIT_CHAIN`` names it, and ``POST /control/v1/audit/restored`` appends
``tenant.restored`` (control credential only, ids and hashes only) at its end; the chain, its
checkpoints signed before and after, and an export all verify against the one key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from pydantic import SecretStr

from data_plane import host_commands
from data_plane.adapters.postgres import TenantDatabase
from data_plane.domain.records import NewEvent
from data_plane.services.access import AccessService
from data_plane.services.audit import AuditService
from data_plane.settings import DataPlaneSettings
from frostbyte_common import vendor_keys
from frostbyte_common.audit_checkpoint import key_id_of, public_key_text
from frostbyte_common.audit_export import verify_export_lines
from tests.integration.data_plane.test_control_routes import _app

SOURCE, RESTORED = "acme", "acme-restored"


@pytest.fixture
def source_db(fresh_database: str) -> Iterator[TenantDatabase]:
    database = TenantDatabase(fresh_database, SOURCE, max_size=2)
    database.open()
    database.migrate()
    try:
        yield database
    finally:
        database.close()


def test_the_restored_data_plane_appends_to_the_chain_it_continues(
        fresh_database: str, source_db: TenantDatabase, tmp_path: Path) -> None:
    signing = Ed25519PrivateKey.generate()  # the source's key, carried by the restore
    source = AuditService(source_db.audit, signing_key=signing)
    for n in range(3):
        source_db.audit.record(NewEvent("dana", "batch.received", "batch", f"b{n}", {"n": n}))
    before = source.checkpoint_now()
    assert before is not None and before.tree_size == 3

    settings = DataPlaneSettings(tenant=RESTORED, audit_chain=SOURCE,
                                 database_url=SecretStr(fresh_database),
                                 object_store_root=tmp_path / "objects")
    with host_commands.one_connection_database(settings) as restored_db:  # a host command's
        assert restored_db.tenant == SOURCE
        control_key, vendor_key = vendor_keys.generate_key(), vendor_keys.generate_key()
        access = AccessService(restored_db)
        access.install(control_key.key_id, control_key.sha256, ["control"], "control")
        access.install(vendor_key.key_id, vendor_key.sha256, ["ingest", "read", "audit"], "v")
        audit = AuditService(restored_db.audit, signing_key=signing)
        body = {"source_tenant": SOURCE, "restored_as": RESTORED, "backup_id": uuid.uuid4().hex,
                "archive_sha256": "ab" * 32, "backup_created_at": "2026-12-02T10:00:00+00:00",
                "source_head_hash": "cd" * 32, "source_events": 3,
                "revoked_key_ids": ["0a1b2c3d4e5f"]}
        control = {"Authorization": f"Bearer {control_key.key}", "X-Frostbyte-Actor": "alice"}
        with TestClient(_app(restored_db, audit)) as api:
            vendor = {"Authorization": f"Bearer {vendor_key.key}", "X-Frostbyte-Actor": "dana"}
            refused = api.post("/control/v1/audit/restored", json=body, headers=vendor)
            assert refused.json()["error"]["code"] == "INSUFFICIENT_SCOPE"
            for bad in ({**body, "object_data_keys": "k1:c2VjcmV0"},
                        {**body, "archive_sha256": "not a hash"}):
                assert api.post("/control/v1/audit/restored", json=bad,
                                headers=control).status_code == 422
            recorded = api.post("/control/v1/audit/restored", json=body, headers=control)
            assert recorded.status_code == 201, recorded.text
            event = recorded.json()
        assert (event["event_type"], event["actor"]) == ("tenant.restored", "admin:alice")
        assert event["payload"] == {**body, "audit_key_id": key_id_of(public_key_text(signing))}
        # appended after the source's events (and the key installs), in the source's chain
        assert event["seq"] > before.tree_size and event["tenant"] == SOURCE
        after = audit.checkpoint_now()
        assert after is not None and after.tree_size == event["seq"]
        verdict = audit.verify()
        assert verdict["ok"] is True and verdict["checkpoints"] == 2, verdict
        export = list(audit.export(actor="admin:alice"))
        offline = verify_export_lines([line.encode() for line in export],
                                      trusted_public_key=public_key_text(signing))
        assert offline.ok, offline.problems
