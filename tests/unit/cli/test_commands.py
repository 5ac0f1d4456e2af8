"""The ``frostbyte`` commands through CliRunner, with the HTTP transport injected."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from frostbyte_cli.main import Deps, app
from tests.unit.cli.fakes import NO_WAIT, FakeApis

CP_ENV = {"FROSTBYTE_URL": "http://cp.test", "FROSTBYTE_ADMIN_TOKEN": "admin-secret"}
TENANT_ENV = {"FROSTBYTE_ENDPOINT": "http://acme.test", "FROSTBYTE_KEY": "fbk_test"}


@pytest.fixture
def fake() -> FakeApis:
    return FakeApis()


def invoke(fake: FakeApis, args: list[str], env: dict[str, str] | None = None,
           cwd: Path | None = None, **deps: Any) -> Any:
    obj = Deps(transport=fake.transport(), retry=NO_WAIT, poll_interval=0, width=200,
               cwd=cwd, **deps)
    clean = {k: None for k in ("FROSTBYTE_URL", "FROSTBYTE_ADMIN_TOKEN", "FROSTBYTE_ENDPOINT",
                               "FROSTBYTE_KEY", "FROSTBYTE_STATE_DIR", "DATABASE_URL")}
    return CliRunner().invoke(app, args, obj=obj, env={**clean, **(env or {})})


def samples(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text("alpha")
    (folder / "b.md").write_text("# beta")
    (folder / ".hidden").write_text("skip me")
    return folder


def test_tenants_create_waits_until_active(fake: FakeApis) -> None:
    result = invoke(fake, ["tenants", "create", "acme", "--json"], CP_ENV)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["state"] == "ACTIVE"
    posted = json.loads(fake.requests[0].content)
    assert posted == {"slug": "acme", "display_name": "acme", "provider": "local"}


def test_tenants_create_existing_is_an_error_with_the_code(fake: FakeApis) -> None:
    fake.tenants["acme"] = {"display_name": "A", "state": "ACTIVE", "states": []}
    result = invoke(fake, ["tenants", "create", "acme"], CP_ENV)
    assert result.exit_code == 5  # conflict (409)
    assert "TENANT_EXISTS" in result.stderr and "req-123" in result.stderr


def test_flags_override_environment(fake: FakeApis) -> None:
    result = invoke(fake, ["tenants", "list", "--admin-token", "wrong"], CP_ENV)
    assert result.exit_code == 3  # auth (401)
    assert "UNAUTHENTICATED" in result.stderr


def test_admin_token_falls_back_to_the_local_state(fake: FakeApis, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / ".local").mkdir()
    (tmp_path / ".local" / "admin_token").write_text("admin-secret\n")
    fake.tenants["acme"] = {"display_name": "A", "state": "ACTIVE", "states": []}
    sub = tmp_path / "deep" / "er"
    sub.mkdir(parents=True)
    result = invoke(fake, ["tenants", "list"], {"FROSTBYTE_URL": "http://cp.test"}, cwd=sub)
    assert result.exit_code == 0, result.output
    assert "acme" in result.stdout and "http://acme.test" in result.stdout


def test_missing_admin_token_says_what_to_do(fake: FakeApis, tmp_path: Path) -> None:
    result = invoke(fake, ["tenants", "list"], cwd=tmp_path)
    assert result.exit_code == 2  # usage: a setting is missing
    assert "NO_ADMIN_TOKEN" in result.stderr and "frostbyte local up" in result.stderr


def test_keys_create_prints_the_key_once_with_a_warning(fake: FakeApis) -> None:
    fake.tenants["acme"] = {"display_name": "A", "state": "ACTIVE", "states": []}
    result = invoke(fake, ["keys", "create", "acme", "--scope", "ingest", "--scope", "read",
                           "--label", "ops"], CP_ENV)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("fbk_test") == 1
    assert "shown once" in result.stdout
    assert "FROSTBYTE_ENDPOINT=http://acme.test" in result.stdout
    assert json.loads(fake.requests[0].content) == {"scopes": ["ingest", "read"],
                                                    "label": "ops"}
    as_json = invoke(fake, ["keys", "create", "acme", "--scope", "audit", "--json"], CP_ENV)
    body = json.loads(as_json.stdout)
    assert (body["key"], body["endpoint"], body["scopes"]) == ("fbk_test", "http://acme.test",
                                                               ["audit"])


def test_keys_create_needs_a_scope(fake: FakeApis) -> None:
    result = invoke(fake, ["keys", "create", "acme"], CP_ENV)
    assert result.exit_code == 2 and "--scope" in result.stderr


def test_batch_submit_all_indexed_exits_0(fake: FakeApis, tmp_path: Path) -> None:
    fake.batch_polls = [[("PROCESSING", None), ("ACCEPTED", None)],
                        [("INDEXED", None), ("INDEXED", None)]]
    result = invoke(fake, ["batch", "submit", str(samples(tmp_path)), "--client-ref", "r1"],
                    TENANT_ENV)
    assert result.exit_code == 0, result.output
    assert [f["name"] for f in fake.manifests[0]["files"]] == ["a.txt", "b.md"]
    assert "INDEXED" in result.stdout and "2 document(s): 2 INDEXED" in result.stdout


def test_batch_submit_duplicates_only_exits_0(fake: FakeApis, tmp_path: Path) -> None:
    folder = samples(tmp_path)
    fake.known_hashes = {hashlib.sha256(b"alpha").hexdigest()}
    fake.batch_polls = [[("REJECTED", "DUPLICATE"), ("INDEXED", None)]]
    result = invoke(fake, ["batch", "submit", str(folder / "a.txt"), str(folder / "b.md")],
                    TENANT_ENV)
    assert result.exit_code == 0, result.output
    assert "already ingested" in result.stdout


def test_batch_submit_with_a_real_rejection_exits_6(fake: FakeApis, tmp_path: Path) -> None:
    fake.batch_polls = [[("INDEXED", None), ("FAILED", "PARSE_FAILED")]]
    result = invoke(fake, ["batch", "submit", str(samples(tmp_path)), "--json"], TENANT_ENV)
    assert result.exit_code == 6  # partial batch
    body = json.loads(result.stdout)
    assert body["batches"][0]["status"] == "COMPLETED_WITH_ERRORS"
    assert body["documents"][1]["reason"] == "PARSE_FAILED"
    assert body["exit_code"] == 6 and result.stderr == ""


def test_batch_submit_without_endpoint_explains(fake: FakeApis, tmp_path: Path) -> None:
    result = invoke(fake, ["batch", "submit", str(samples(tmp_path))])
    assert result.exit_code == 2  # usage: FROSTBYTE_ENDPOINT and FROSTBYTE_KEY unset
    assert "FROSTBYTE_ENDPOINT" in result.stderr and "FROSTBYTE_KEY" in result.stderr


def test_batch_report_to_file(fake: FakeApis, tmp_path: Path) -> None:
    fake.last_receipt = {"batch_id": "b-1", "documents": []}
    out = tmp_path / "report.csv"
    result = invoke(fake, ["batch", "report", "b-1", "--format", "csv", "--output", str(out)],
                    TENANT_ENV)
    assert result.exit_code == 0, result.output
    assert out.read_text() == "name,status\na.txt,INDEXED\n"
    as_json = invoke(fake, ["batch", "report", "b-1"], TENANT_ENV)
    assert json.loads(as_json.stdout)["batch_id"] == "b-1"


def test_search_prints_hits_and_proof(fake: FakeApis) -> None:
    result = invoke(fake, ["search", "fire extinguisher inspection", "--top-k", "3"],
                    TENANT_ENV)
    assert result.exit_code == 0, result.output
    for expected in ("annual-safety-report.pdf", "Findings › Extinguishers", "p. 2", "0.812",
                     "Retrieval proof", "all-MiniLM-L6-v2", "384-d", "audit_seq", "42"):
        assert expected in result.stdout, expected
    assert json.loads(fake.requests[0].content) == {"query": "fire extinguisher inspection",
                                                    "top_k": 3}


def test_search_json_with_filters(fake: FakeApis) -> None:
    result = invoke(fake, ["search", "q", "--json", "--document-id", "d1"], TENANT_ENV)
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)["hits"]) == 2
    assert json.loads(fake.requests[0].content)["filters"] == {"document_ids": ["d1"]}


def test_audit_verify(fake: FakeApis) -> None:
    result = invoke(fake, ["audit", "verify"], TENANT_ENV)
    assert result.exit_code == 0 and "intact" in result.stdout


@dataclass
class FakeRuntime:
    calls: list[tuple[str, Path, Any]] = field(default_factory=list)

    def up(self, project_root: Path, *, database_url: str | None = None,
           port: int = 8000) -> Any:
        self.calls.append(("up", project_root, database_url))

        @dataclass(frozen=True)
        class Info:
            control_plane_url: str
            admin_token: str
            database: str
            state_dir: Path
            pids: dict[str, int]

        return Info(f"http://127.0.0.1:{port}", "tok", "DATABASE_URL",
                    project_root / ".local", {"control_plane": 1})

    def down(self, project_root: Path) -> list[str]:
        self.calls.append(("down", project_root, None))
        return ["control plane (pid 1)"]


def test_local_up_json_prints_one_object(fake: FakeApis, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    runtime = FakeRuntime()
    result = invoke(fake, ["local", "up", "--json"], {"DATABASE_URL": "postgresql://x/y"},
                    cwd=tmp_path, local_runtime=runtime)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["control_plane_url"] == "http://127.0.0.1:8000"
    assert body["admin_token"] == "tok"
    assert runtime.calls == [("up", tmp_path.resolve(), "postgresql://x/y")]
    down = invoke(fake, ["local", "down"], cwd=tmp_path, local_runtime=runtime)
    assert down.exit_code == 0 and "stopped control plane" in down.stdout
