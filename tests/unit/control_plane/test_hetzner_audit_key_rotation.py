"""A Hetzner tenant's secret rotation keeps its audit signing key (finding 6 of issue 16).

The control plane's services run over the real hetzner provider with fakes of its two
runners (no Pulumi, no servers), and a stand-in for the tenant's server whose data plane is
the real :class:`~data_plane.services.audit.AuditService` over an in-memory chain, signing
with the ``signing_key`` the latest ``site.yml`` deploy carried. Before the fix a rotation
deployed a new key and ``GET /v1/audit/verify`` refused every checkpoint signed before it."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from control_plane.adapters.certificate_authority import FileCertificateAuthority
from control_plane.domain.lifecycle import Tenant, TenantState
from control_plane.domain.ports import AuditArchive, DataPlaneClient, QuarantineAction
from control_plane.providers.hetzner.provider import HetznerOptions, HetznerProvider
from control_plane.wiring import ControlPlane, build_control_plane
from data_plane.domain.records import NewEvent
from data_plane.services.audit import AuditService
from frostbyte_common.audit_checkpoint import load_signing_key, public_key_text
from tests.doubles.persistence import InMemoryTenantDatabase
from tests.unit.control_plane.doubles import (
    InMemoryAdminTokens,
    InMemoryJobStore,
    InMemoryRegistry,
    InMemorySecrets,
    RecordingQueue,
)
from tests.unit.control_plane.test_hetzner_provider import (
    PUBLIC_KEY,
    TOKEN,
    FakePlaybooks,
    FakeStacks,
)

CONFIG = {"network": {"allowed_cidrs": ["198.51.100.0/24"]}}


class Server:
    """The tenant's server as the playbooks leave it: its audit chain outlives restarts, and
    its data plane signs with the ``signing_key`` of the last deploy that carried secrets."""

    def __init__(self, playbooks: FakePlaybooks) -> None:
        self._playbooks = playbooks
        self.db = InMemoryTenantDatabase("acme")

    def deployed_signing_key(self) -> str:
        deploys = [run["secrets"] for run in self._playbooks.runs if run["secrets"]]
        return str(deploys[-1]["signing_key"])

    def audit(self) -> AuditService:
        key = load_signing_key(self.deployed_signing_key().encode())
        return AuditService(self.db.audit, signing_key=key)

    def clients(self, base_url: str, control_key: str, *, actor: str) -> DataPlaneClient:
        server = self

        class Client:
            async def set_suspended(self, suspended: bool) -> dict[str, Any]:
                return {"suspended": suspended, "changed": True}

            async def quarantine(self, *, limit: int, offset: int) -> dict[str, Any]:
                return {"documents": [], "limit": limit, "offset": offset}

            async def quarantine_action(self, document_id: uuid.UUID,
                                        action: QuarantineAction) -> dict[str, Any]:
                raise AssertionError("not used")

            async def audit_export(self) -> bytes:
                lines = server.audit().export(actor=f"admin:{actor}")
                return "".join(lines).encode()

            async def audit_key(self) -> dict[str, str]:
                return server.audit().public_key()

            async def record_rotation(self, rotation: dict[str, Any]) -> dict[str, Any]:
                return server.audit().record_rotation(actor=f"admin:{actor}",
                                                      rotation=rotation).to_json()

            async def record_restored(self, restore: dict[str, Any]) -> dict[str, Any]:
                raise AssertionError("not used")

            async def consistency(self, *, repair: bool, first: int) -> dict[str, Any]:
                raise AssertionError("not used")

        return Client()


class Archive:
    def __init__(self) -> None:
        self.trusted: dict[str, str] = {}

    def store(self, slug: str, data: bytes, *, trusted_public_key: str,
              audit_chain: str | None = None) -> AuditArchive:
        self.trusted[slug] = trusted_public_key
        return AuditArchive(Path(f"/archive/{slug}.jsonl"), "ab" * 32, 1)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def hetzner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
            ) -> tuple[ControlPlane, Server, InMemoryRegistry, RecordingQueue]:
    playbooks = FakePlaybooks()
    secrets = InMemorySecrets()
    options = HetznerOptions(hcloud_token=TOKEN, ssh_public_key=PUBLIC_KEY,
                             ssh_private_key_file=tmp_path / "id_ed25519",
                             control_plane_addresses=("203.0.113.10",))
    provider = HetznerProvider(options, stacks=FakeStacks(), playbooks=playbooks,
                               secrets=secrets, state_dir=tmp_path / "state",
                               sleep=lambda _s: None)

    @contextlib.contextmanager
    def channel(tenant: Tenant) -> Iterator[str]:  # the SSH forward, without ssh
        yield "http://127.0.0.1:18443"

    monkeypatch.setattr(provider, "control_channel", channel)
    server, registry, queue = Server(playbooks), InMemoryRegistry(), RecordingQueue()
    services = build_control_plane(
        registry=registry, admin_token_store=InMemoryAdminTokens(),
        job_store=InMemoryJobStore(), queue=queue, providers={"hetzner": provider},
        secrets=secrets, clients=server.clients, archive=Archive(),
        certificates=FileCertificateAuthority(tmp_path / "ca"))
    return services, server, registry, queue


async def _run_queued(services: ControlPlane, queue: RecordingQueue) -> None:
    while queue.deferred:
        job_id, _ = queue.deferred.pop(0)
        await services.runner.run(job_id)


def test_rotation_keeps_the_key_and_earlier_checkpoints_verify(
    hetzner: tuple[ControlPlane, Server, InMemoryRegistry, RecordingQueue],
) -> None:
    services, server, registry, queue = hetzner
    run(services.lifecycle.create("acme", "Acme", "hetzner", CONFIG, actor="admin"))
    run(_run_queued(services, queue))
    tenant = run(registry.get("acme"))
    assert tenant.state is TenantState.ACTIVE
    first_key = server.deployed_signing_key()

    # the tenant's life before the rotation, signed
    for n in range(3):
        server.db.audit.record(NewEvent("worker", "document.indexed", "document", f"d{n}",
                                        {"n": n}))
    assert server.audit().checkpoint_now() is not None

    job_id, _ = run(services.rotation.rotate("acme", actor="alice"))

    verdict = server.audit().verify()  # GET /v1/audit/verify
    assert verdict["ok"] is True, verdict.get("problem")
    assert verdict["checkpoints"] == 1
    assert server.deployed_signing_key() == first_key  # the host got the same key again
    # ... which is the key the control plane recorded at provisioning
    assert run(registry.get("acme")).audit_public_key == public_key_text(
        load_signing_key(first_key.encode()))
    [rotated] = [e for e in server.db.audit.events() if e.event_type == "secrets.rotated"]
    assert rotated.actor == "admin:alice" and rotated.payload["job_id"] == job_id
    assert server.audit().checkpoint_now() is not None  # and new ones sign on
    assert server.audit().verify()["ok"] is True
