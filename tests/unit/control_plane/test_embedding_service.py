"""A tenant's embedding model and online key through the control plane (issue 18): a
re-embedding runs on the data plane as the admin who asked, and once the data plane reports
the switch the tenant's config names the new model (without a re-apply, which would
restart the data plane that already serves it); the data plane's refusals reach the admin
as they are; the embeddings API key is kept in the tenant's secrets, applied to its data
plane, kept by a rotation, and never logged."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from control_plane.adapters.data_plane_control import DataPlaneControl
from control_plane.domain.ports import DataPlaneClient
from control_plane.domain.tenant_config import effective_config
from control_plane.domain.tenant_secrets import EMBEDDING_API_KEY, generate_tenant_secrets
from control_plane.errors import EmbeddingModelUnknown, ReembedInProgress, TenantNotActive
from control_plane.services.embedding import check_api_key
from frostbyte_common.errors import ValidationFailed
from tests.unit.control_plane.test_services import ADMIN, FakeDataPlanes, Plane, run

NEW = "nomic-ai/nomic-embed-text-v1.5"
KEY = "sk-or-v1-" + "7f" * 24


class ReembeddingPlanes(FakeDataPlanes):
    """The fake data planes, with the re-embedding routes: the state they report is set by
    the test (``state``), the active model follows a switch."""

    def __init__(self, provider: Any) -> None:
        super().__init__(provider)
        self.state = "RUNNING"
        self.started: list[tuple[str, str]] = []  # (actor, model)

    def __call__(self, base_url: str, control_key: str, *, actor: str) -> DataPlaneClient:
        base = super().__call__(base_url, control_key, actor=actor)
        planes = self

        class Client(type(base)):  # type: ignore[misc]
            async def start_reembed(self, model: str) -> dict[str, Any]:
                self._check(f"reembed {model}")
                if model == "no-such-model":
                    raise EmbeddingModelUnknown("unknown embedding model 'no-such-model'")
                planes.started.append((actor, model))
                return planes.answer()

            async def reembed_status(self) -> dict[str, Any]:
                self._check("reembed status")
                return planes.answer()

        return Client()  # type: ignore[no-any-return,unused-ignore]

    def answer(self) -> dict[str, Any]:
        switched = self.state == "SWITCHED"
        model = {"name": NEW, "version": "1.5", "dimension": 768}
        old = {"name": "all-MiniLM-L6-v2", "version": "0.1.0", "dimension": 384}
        return {"reembed": {"reembed_id": "r1", "state": self.state, "model": model,
                            "chunks_done": 10 if switched else 3, "chunks_total": 10,
                            "actor": f"admin:{ADMIN}"},
                "active": {"collection": "c2" if switched else "c1",
                           "model": model if switched else old}}


@pytest.fixture
def plane(tmp_path: Path) -> Plane:
    plane = Plane(tmp_path)
    planes = ReembeddingPlanes(plane.provider)
    plane.data_planes = planes
    plane.services.control._clients = planes  # the fake data planes with re-embedding
    return plane


def test_reembed_runs_on_the_data_plane_and_the_config_names_the_model_once_switched(
        plane: Plane) -> None:
    tenant = run(plane.active())
    embedding = plane.services.embedding
    assert embedding is not None
    planes: ReembeddingPlanes = plane.data_planes  # type: ignore[assignment]
    answer = run(embedding.reembed("acme", NEW, actor="alice"))
    assert answer["reembed"]["state"] == "RUNNING"
    assert planes.started == [("alice", NEW)]
    assert planes.calls[-1] == (tenant.endpoint, "alice", f"reembed {NEW}")
    # while it runs, the config still names the model search uses
    run(embedding.reembed_status("acme", actor="alice"))
    assert effective_config(run(plane.registry.get("acme"))).embedding.model == \
        "all-MiniLM-L6-v2"
    planes.state = "SWITCHED"
    queued = len(plane.queue.deferred)
    applied = plane.provider.count("apply_secrets") + plane.provider.count("start")
    run(embedding.reembed_status("acme", actor="alice"))
    after = run(plane.registry.get("acme"))
    assert effective_config(after).embedding.model == NEW
    assert after.state.value == "ACTIVE"
    # recorded, not re-applied: no job, no restart of the data plane that serves it already
    assert len(plane.queue.deferred) == queued
    assert plane.provider.count("apply_secrets") + plane.provider.count("start") == applied


def test_the_data_planes_refusals_reach_the_admin(plane: Plane) -> None:
    run(plane.active())
    embedding = plane.services.embedding
    assert embedding is not None
    with pytest.raises(EmbeddingModelUnknown):
        run(embedding.reembed("acme", "no-such-model", actor="alice"))
    run(plane.services.lifecycle.suspend("acme", actor=ADMIN))
    with pytest.raises(TenantNotActive):
        run(embedding.reembed("acme", NEW, actor="alice"))


@pytest.mark.parametrize(("status", "code", "error"), [
    (409, "REEMBED_IN_PROGRESS", ReembedInProgress),
    (422, "EMBEDDING_MODEL_UNKNOWN", EmbeddingModelUnknown),
])
def test_the_control_client_passes_the_refusals_on_typed(
        status: int, code: str, error: type[Exception]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/control/v1/reembed"
        return httpx.Response(status, json={"error": {"code": code, "message": "no"}})

    client = DataPlaneControl("http://dp", "fbkey", actor="alice",
                              transport=httpx.MockTransport(answer))
    with pytest.raises(error):
        run(client.start_reembed("x"))


def test_the_embedding_key_is_kept_applied_and_never_logged(
        plane: Plane, caplog: pytest.LogCaptureFixture) -> None:
    run(plane.active())
    embedding = plane.services.embedding
    assert embedding is not None
    caplog.set_level(logging.DEBUG)
    applied = plane.provider.count("apply_secrets")
    done = run(embedding.set_embedding_key("acme", KEY, actor="alice"))
    assert done == {"tenant": "acme", "stored": True, "applied": True, "replaced": False}
    assert plane.secrets.get("acme")[EMBEDDING_API_KEY] == KEY
    assert plane.provider.count("apply_secrets") == applied + 1
    assert KEY not in caplog.text and KEY not in str(done)
    # a rotation re-issues what it makes, and keeps the key an admin set
    run(plane.services.rotation.rotate("acme", actor=ADMIN))
    assert plane.secrets.get("acme")[EMBEDDING_API_KEY] == KEY
    assert KEY not in caplog.text
    again = run(embedding.set_embedding_key("acme", KEY[::-1], actor="alice"))
    assert again["replaced"] is True


def test_a_bad_key_is_refused_without_being_echoed() -> None:
    for bad in ("short", "has space in it", "x" * 513, "tab\tinside-the-key"):
        with pytest.raises(ValidationFailed) as refused:
            check_api_key(bad)
        assert bad not in str(refused.value)
    assert check_api_key(KEY) == KEY


def test_fresh_secrets_carry_no_embedding_key_and_rotation_keeps_one() -> None:
    assert EMBEDDING_API_KEY not in generate_tenant_secrets()
    rotated = generate_tenant_secrets({**generate_tenant_secrets(), EMBEDDING_API_KEY: KEY})
    assert rotated[EMBEDDING_API_KEY] == KEY


def test_a_local_tenants_data_plane_gets_the_key_from_its_secrets(tmp_path: Path) -> None:
    from control_plane.providers.local import LocalProvider
    from frostbyte_common.tenant_config import TenantConfig

    provider = LocalProvider(admin_conninfo="host=/x", state_dir=tmp_path, python=Path("py"),
                             port_range=range(9000, 9001))
    env = provider.child_env("acme", TenantConfig(), 9000, "dbname=fb_acme",
                             secrets={EMBEDDING_API_KEY: KEY})
    assert env["FROSTBYTE_DP_ONLINE_EMBEDDING_API_KEY"] == KEY
    offline = provider.child_env("acme", TenantConfig(), 9000, "dbname=fb_acme", secrets={})
    assert "FROSTBYTE_DP_ONLINE_EMBEDDING_API_KEY" not in offline


def test_local_tenants_find_the_baked_models_the_control_plane_was_given(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from control_plane.providers.local import LocalProvider
    from frostbyte_common.tenant_config import TenantConfig

    monkeypatch.setenv("FROSTBYTE_DP_EMBEDDING_MODELS_DIR", "/opt/frostbyte/models")
    provider = LocalProvider(admin_conninfo="host=/x", state_dir=tmp_path, python=Path("py"),
                             port_range=range(9000, 9001))
    env = provider.child_env("acme", TenantConfig(), 9000, "dbname=fb_acme", secrets={})
    assert env["FROSTBYTE_DP_EMBEDDING_MODELS_DIR"] == "/opt/frostbyte/models"
