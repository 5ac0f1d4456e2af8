"""``frostbyte batch submit`` of folders: recursion, batches within the limits, a derived
Idempotency-Key per batch that makes a re-run a replay, Retry-After honoured on 429/503."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from frostbyte_cli.client import RetryPolicy
from frostbyte_cli.main import Deps, app
from tests.unit.cli.fakes import NO_WAIT, FakeApis, error
from tests.unit.cli.test_commands import TENANT_ENV, invoke


def folder_of(tmp_path: Path, count: int, *, per_folder: int = 4) -> Path:
    root = tmp_path / "outgoing"
    for i in range(count):
        path = root / f"dept-{i // per_folder}" / f"note-{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"note {i}\n")
    return root


def submit(fake: FakeApis, *args: str, retry: RetryPolicy | None = None) -> Any:
    if retry is None:
        return invoke(fake, ["batch", "submit", *args], TENANT_ENV)
    obj = Deps(transport=fake.transport(), retry=retry, poll_interval=0, width=200)
    return CliRunner().invoke(app, ["batch", "submit", *args], obj=obj, env=TENANT_ENV)


def test_a_folder_over_the_file_limit_goes_in_several_batches_each_file_accounted_for(
        tmp_path: Path) -> None:
    fake = FakeApis(index_on_poll=True)
    root = folder_of(tmp_path, 25)
    result = submit(fake, str(root), "--max-batch-files", "10", "--json")
    assert result.exit_code == 0, result.output
    assert [len(m["files"]) for m in fake.manifests] == [10, 10, 5]
    body = json.loads(result.stdout)
    assert [b["batch_id"] for b in body["batches"]] == ["b-1", "b-2", "b-3"]
    assert all(b["status"] == "COMPLETED" for b in body["batches"])
    assert sorted(d["path"] for d in body["documents"]) == sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*.txt"))
    assert {d["status"] for d in body["documents"]} == {"INDEXED"}
    sent = [r for r in fake.requests if r.method == "POST"]
    keys = [r.headers["idempotency-key"] for r in sent]
    assert len(set(keys)) == 3 and all(k.startswith("fbcli1-") for k in keys)
    assert len({m["client_ref"] for m in fake.manifests}) == 3
    assert all(m["client_ref"].startswith("frostbyte-cli-") for m in fake.manifests)
    assert fake.manifests[0]["files"][0]["metadata"] == {"path": "dept-0/note-0.txt"}


def test_running_the_same_command_again_replays_instead_of_sending_twice(
        tmp_path: Path) -> None:
    fake = FakeApis(index_on_poll=True)
    root = folder_of(tmp_path, 12)
    first = submit(fake, str(root), "--max-batch-files", "5", "--json")
    again = submit(fake, str(root), "--max-batch-files", "5", "--json")
    assert first.exit_code == again.exit_code == 0, again.output
    assert len(fake.manifests) == 3  # the re-run created no batch
    body = json.loads(again.stdout)
    assert [b["replayed"] for b in body["batches"]] == [True, True, True]
    assert [b["batch_id"] for b in body["batches"]] == [
        b["batch_id"] for b in json.loads(first.stdout)["batches"]]
    people = submit(fake, str(root), "--max-batch-files", "5")
    assert people.stdout.count("replayed (received before)") == 3


def test_files_of_one_name_in_two_folders_go_in_different_batches(tmp_path: Path) -> None:
    fake = FakeApis(index_on_poll=True)
    root = tmp_path / "in"
    for dept in ("hr", "sales"):
        (root / dept).mkdir(parents=True)
        (root / dept / "README.md").write_text(f"# {dept}\n")
    result = submit(fake, str(root), "--json")
    assert result.exit_code == 0, result.output
    assert [[(f["name"], f["metadata"]["path"]) for f in m["files"]] for m in fake.manifests] == [
        [("README.md", "hr/README.md")], [("README.md", "sales/README.md")]]


def test_429_waits_the_retry_after_then_sends_again(tmp_path: Path) -> None:
    slept: list[float] = []
    fake = FakeApis(index_on_poll=True)
    fake.refusals = [httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {
        "code": "TOO_MANY_BATCHES", "message": "4 batches in flight", "request_id": "r"}}),
        httpx.Response(503, headers={"Retry-After": "2"}, json={"error": {
            "code": "DATABASE_UNAVAILABLE", "message": "down", "request_id": "r"}})]
    retry = RetryPolicy(attempts=5, backoff=lambda n: 99.0, max_retry_after=60.0,
                        sleep=slept.append)
    result = submit(fake, str(folder_of(tmp_path, 3)), retry=retry)
    assert result.exit_code == 0, result.output
    assert slept == [7.0, 2.0]  # exactly the server's Retry-After, never the backoff
    assert "429 TOO_MANY_BATCHES (Retry-After 7)" in result.stderr
    assert len(fake.manifests) == 1 and len(fake.uploads) == 3
    assert [u.content for u in fake.uploads] == [b"note 0\n", b"note 1\n", b"note 2\n"]


def test_a_retry_after_longer_than_the_bound_gives_up_at_once_with_exit_7(
        tmp_path: Path) -> None:
    slept: list[float] = []
    fake = FakeApis()
    fake.refusals = [httpx.Response(429, headers={"Retry-After": "3600"}, json={"error": {
        "code": "TOO_MANY_BATCHES", "message": "busy", "request_id": "r"}})]
    retry = RetryPolicy(attempts=5, max_retry_after=120.0, sleep=slept.append)
    result = submit(fake, str(folder_of(tmp_path, 2)), "--json", retry=retry)
    assert result.exit_code == 7
    assert json.loads(result.stderr)["error"]["code"] == "TOO_MANY_BATCHES"
    assert slept == [] and fake.manifests == []


def test_a_dropped_connection_is_retried_with_the_same_key_and_whole_files(
        tmp_path: Path) -> None:
    fake = FakeApis(index_on_poll=True)
    seen_keys: list[str] = []
    drops = [1]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            seen_keys.append(request.headers["idempotency-key"])
            if drops:
                drops.pop()
                request.read()
                raise httpx.RemoteProtocolError("server disconnected", request=request)
        return fake.handle(request)

    obj = Deps(transport=httpx.MockTransport(handler), retry=NO_WAIT, poll_interval=0)
    root = folder_of(tmp_path, 2)
    result = CliRunner().invoke(app, ["batch", "submit", str(root)], obj=obj,
                                env={**TENANT_ENV, "FROSTBYTE_STATE_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert len(seen_keys) == 2 and seen_keys[0] == seen_keys[1]
    assert [hashlib.sha256(u.content).hexdigest() for u in fake.uploads] == [
        f["sha256"] for f in fake.manifests[0]["files"]]


def test_a_failure_after_some_batches_says_which_went_in(tmp_path: Path) -> None:
    fake = FakeApis(index_on_poll=True)
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            calls["n"] += 1
            if calls["n"] > 1:
                request.read()
                return error(422, "INVALID_MANIFEST", "nope")
        return fake.handle(request)

    result = CliRunner().invoke(
        app, ["batch", "submit", str(folder_of(tmp_path, 4)), "--max-batch-files", "2"],
        obj=Deps(transport=httpx.MockTransport(handler), retry=NO_WAIT, poll_interval=0),
        env=TENANT_ENV)
    assert result.exit_code == 2
    flat = " ".join(result.stderr.split())
    assert "INVALID_MANIFEST" in flat and "1 of 2 batch(es) were received" in flat
    assert "b-1" in flat and "run the same command again" in flat
