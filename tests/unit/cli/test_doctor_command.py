"""``frostbyte doctor``: what it asks the control plane, what the operator reads, and the exit
code cron relies on (0 clean, 1 drift left)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from typer.testing import CliRunner

from frostbyte_cli.main import Deps, app
from tests.unit.cli.fakes import NO_WAIT

CP_ENV = {"FROSTBYTE_URL": "http://cp.test", "FROSTBYTE_ADMIN_TOKEN": "admin-secret"}
KINDS = ("objects_without_rows", "rows_without_objects", "chunks_missing_from_index",
         "points_extra_in_index", "documents_stuck")


def report(*, repair: bool, lost_raw: bool = True) -> dict[str, Any]:
    """A tenant with one document whose raw bytes are gone and one missing from the index
    (repaired when ``repair``)."""
    kinds: dict[str, dict[str, Any]] = {
        k: {"kind": k, "found": 0, "repaired": 0, "remaining": 0, "first": []} for k in KINDS}
    if lost_raw:
        kinds["rows_without_objects"].update(found=1, remaining=1, first=[{
            "subject": "doc-lost", "detail": "raw object raw/ab/cd/abcd is missing",
            "repair": None, "repaired": False}])
    kinds["chunks_missing_from_index"].update(
        found=1, repaired=int(repair), remaining=int(not repair), first=[{
            "subject": "doc-unindexed", "detail": "3 of its 3 points are missing",
            "repair": "reproject", "repaired": repair}])
    remaining = sum(k["remaining"] for k in kinds.values())
    return {"clean": remaining == 0, "repair": repair, "kinds": list(kinds.values()),
            "audit_seq": 42 if repair else None}


def invoke(args: list[str], answer: dict[str, Any]) -> tuple[Any, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer)

    obj = Deps(transport=httpx.MockTransport(handle), retry=NO_WAIT, poll_interval=0,
               width=200)
    return CliRunner().invoke(app, args, obj=obj, env=CP_ENV), seen


def test_a_check_shows_each_kind_and_exits_1_while_drift_remains() -> None:
    result, seen = invoke(["doctor", "acme"], report(repair=False))

    assert result.exit_code == 1, result.output
    assert [(r.method, r.url.path, r.url.params["first"]) for r in seen] == [
        ("GET", "/v1/tenants/acme/consistency", "20")]
    for kind in KINDS:
        assert kind in result.stdout
    assert "doc-lost" in result.stdout and "reported only" in result.stdout
    assert "doc-unindexed" in result.stdout
    assert "2 drift finding(s) remain" in result.stdout and "--repair" in result.stdout


def test_repair_posts_and_reports_what_is_left_with_its_audit_event() -> None:
    result, seen = invoke(["doctor", "acme", "--repair"], report(repair=True))

    assert result.exit_code == 1
    assert [(r.method, r.url.path) for r in seen] == [
        ("POST", "/v1/tenants/acme/consistency/repair")]
    assert "reproject: done" in result.stdout
    assert "1 drift finding(s) remain" in result.stdout and "audit event 42" in result.stdout


def test_a_clean_tenant_exits_0_and_json_is_the_report() -> None:
    clean = report(repair=True, lost_raw=False)

    result, _ = invoke(["doctor", "acme", "--repair", "--json"], clean)

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == clean
