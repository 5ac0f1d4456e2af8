"""The vendor web page (SPEC §5.8, issue 17) in a real headless Chromium: sign-in and
sign-out, the session cookie's flags, CSRF, the session's end (expiry, revoked key), the
sections each scope shows, keyboard use and labels, both window widths.

A real data-plane app (``create_app``) with its request guard, served by uvicorn on
loopback; its sessions, keys and batches in a real PostgreSQL database. The parsing and
search stack is not built (no model is loaded): the upload test answers the page's batch
requests itself, to see what the page sends; the long flow against a whole data plane is
``tests/e2e/test_vendor_page_e2e.py``."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr

from data_plane.adapters.objectstore_fs import FilesystemObjectStore
from data_plane.adapters.postgres import TenantDatabase
from data_plane.adapters.web_sessions import PgWebSessions
from data_plane.api.app import create_app
from data_plane.services.access import AccessService
from data_plane.services.catalogue import CatalogueService
from data_plane.services.health import HealthService
from data_plane.services.intake_quarantine import QuarantineService
from data_plane.services.reports import ReportService
from data_plane.services.suspension import SuspensionService
from data_plane.services.web_sessions import WebSessionService
from data_plane.settings import DataPlaneSettings
from frostbyte_common import vendor_keys
from frostbyte_common.tenant_config import TenantConfig
from frostbyte_common.web_session import VENDOR_COOKIE
from frostbyte_common.web_session import session_digest as session_sha256
from tests.browser_support import (
    ACTIVE_JS,
    FOCUSABLE_JS,
    UNLABELLED_CONTROLS_JS,
    chromium,
    same_origin_page,
    screenshot,
)
from tests.conftest import create_database, drop_database
from tests.e2e.harness import free_port

SCOPES = {"full": ["ingest", "read", "audit"], "reader": ["read"], "ingester": ["ingest"],
          "auditor": ["audit"]}


@dataclass
class Plane:
    url: str
    db: TenantDatabase
    access: AccessService
    keys: dict[str, str]
    key_ids: dict[str, str]

    def issue(self, name: str, scopes: list[str]) -> str:
        key = vendor_keys.generate_key()
        self.access.install(key.key_id, key.sha256, scopes, name)
        self.keys[name], self.key_ids[name] = key.key, key.key_id
        return key.key


@pytest.fixture(scope="module")
def plane(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    name, conninfo = create_database(pg_admin_url)
    work = tmp_path_factory.mktemp("vendor-page")
    db = TenantDatabase(conninfo, "acme")
    db.open()
    db.migrate()
    # small batch limits, so that the page's splitting shows with a few files
    config = TenantConfig.model_validate({"intake": {"max_batch_files": 2,
                                                     "max_file_bytes": 4096}})
    settings = DataPlaneSettings(tenant="acme", database_url=SecretStr(conninfo),
                                 object_store_root=work / "objects", work_dir=work / "work",
                                 tenant_config=config)
    app = create_app(settings)
    access = AccessService(db)
    store = FilesystemObjectStore(work / "objects")
    reports = ReportService(db, embedding_model={"model": "none", "version": "0",
                                                  "dimension": 0})
    app.state.services = SimpleNamespace(
        access=access, suspension=SuspensionService(db, ttl_s=0.0),
        health=HealthService(db, None), reports=reports,
        catalogue=CatalogueService(db, store, reports),
        quarantine=QuarantineService(db, store, None, work / "quarantine"),  # type: ignore[arg-type]
        web_sessions=WebSessionService(access, PgWebSessions(db), ttl_s=3600))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off",
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    served = Plane(url=url, db=db, access=access, keys={}, key_ids={})
    for who, scopes in SCOPES.items():
        served.issue(who, scopes)
    try:
        yield served
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.close()
        drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any, plane: Plane) -> Iterator[Any]:
    with same_origin_page(browser, plane.url) as tab:
        tab.set_default_timeout(10_000)
        yield tab


def sign_in(page: Any, plane: Plane, who: str) -> None:
    page.goto(plane.url + "/")
    page.get_by_label("Vendor key").fill(plane.keys[who])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Documents for acme").wait_for()


def session_cookie(page: Any) -> dict[str, Any]:
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert VENDOR_COOKIE in cookies, cookies
    return cookies[VENDOR_COOKIE]


def in_page_fetch(page: Any, method: str, path: str, *, token: bool, form: str | None = None,
                  json_body: str | None = None) -> dict[str, Any]:
    """A request made by script in the page (so with the cookie): its status and code."""
    return page.evaluate(
        """async ([method, path, token, form, json]) => {
             const headers = {};
             if (token) headers['X-CSRF-Token'] =
                 document.querySelector('meta[name="csrf-token"]').content;
             let body;
             if (form !== null) { headers['Content-Type'] = 'application/x-www-form-urlencoded';
                                  body = form; }
             if (json !== null) { headers['Content-Type'] = 'application/json'; body = json; }
             const r = await fetch(path, {method, headers, body, redirect: 'manual'});
             let code = null;
             try { code = (await r.json()).error.code; } catch (e) {}
             return {status: r.status, code};
           }""", [method, path, token, form, json_body])


def test_sign_in_opens_a_session_in_a_strict_http_only_cookie_and_sign_out_ends_it(
        page: Any, plane: Plane) -> None:
    page.goto(plane.url + "/")
    assert page.get_by_role("heading", name="Sign in").is_visible()
    screenshot(page, "vendor-sign-in")
    sign_in(page, plane, "full")
    cookie = session_cookie(page)
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"], cookie["path"]) == \
        (True, True, "Strict", "/")
    # the page's script cannot read it, and the database holds only its hash
    assert VENDOR_COOKIE not in page.evaluate("document.cookie")
    with plane.db.transaction() as conn:
        stored = conn.execute("SELECT session_sha256, key_id, scopes FROM web_sessions"
                              " WHERE session_sha256 = %s",
                              (session_sha256(cookie["value"]),)).fetchone()
        leaked = conn.execute("SELECT count(*) AS n FROM web_sessions WHERE session_sha256 = %s",
                              (cookie["value"],)).fetchone()
    assert stored is not None and stored["key_id"] == plane.key_ids["full"]
    assert sorted(stored["scopes"]) == ["audit", "ingest", "read"] and leaked["n"] == 0
    # the cookie is a credential for the API itself: the report route too (a GET)
    assert httpx.get(f"{plane.url}/v1/batches", cookies={VENDOR_COOKIE: cookie["value"]}
                     ).status_code == 200

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    assert VENDOR_COOKIE not in {c["name"] for c in page.context.cookies()}
    # the old cookie, replayed, no longer opens anything
    replayed = httpx.get(f"{plane.url}/v1/batches",
                         cookies={VENDOR_COOKIE: cookie["value"]})
    assert replayed.status_code == 401, replayed.text


def test_a_wrong_key_is_refused_on_the_form(page: Any, plane: Plane) -> None:
    page.goto(plane.url + "/")
    page.get_by_label("Vendor key").fill("fbk_nope_" + "x" * 40)
    with page.expect_response(lambda r: r.url.endswith("/session")) as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 401
    assert "not a valid vendor key" in page.get_by_role("alert").inner_text()
    assert page.context.cookies() == []


def test_another_sites_form_cannot_sign_the_browser_in(plane: Plane) -> None:
    answer = httpx.post(f"{plane.url}/session", data={"key": plane.keys["full"]},
                        headers={"Sec-Fetch-Site": "cross-site"})
    assert answer.status_code == 403 and "set-cookie" not in answer.headers
    same = httpx.post(f"{plane.url}/session", data={"key": plane.keys["full"]},
                      headers={"Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 303 and VENDOR_COOKIE in same.cookies


def test_a_change_made_with_the_cookie_needs_the_csrf_token(page: Any, plane: Plane) -> None:
    sign_in(page, plane, "full")
    search = '{"query": "x"}'
    assert in_page_fetch(page, "POST", "/v1/search", token=False, json_body=search) == \
        {"status": 403, "code": "CSRF_TOKEN_INVALID"}
    assert in_page_fetch(page, "DELETE", f"/v1/documents/{uuid.uuid4()}", token=False) == \
        {"status": 403, "code": "CSRF_TOKEN_INVALID"}
    assert in_page_fetch(page, "POST", "/session/end", token=False, form="csrf_token=forged"
                         ) == {"status": 403, "code": "CSRF_TOKEN_INVALID"}
    # a batch upload (a streamed body) is refused on its headers
    assert in_page_fetch(page, "POST", "/v1/batches", token=False, form="x=1") == \
        {"status": 403, "code": "CSRF_TOKEN_INVALID"}
    # still signed in: none of them got through; reading needs no token
    assert in_page_fetch(page, "GET", "/v1/batches", token=False)["status"] == 200
    # with the token the sign-out form's post goes through (and ends the session)
    ended = in_page_fetch(page, "POST", "/session/end", token=True, form="")
    assert ended["status"] in (0, 303), ended  # an opaque redirect answer
    assert in_page_fetch(page, "GET", "/v1/batches", token=False)["status"] == 401


def multipart_parts(body: bytes, content_type: str) -> list[tuple[str, str | None, bytes]]:
    """(name, filename, bytes) of each part of a multipart/form-data body."""
    boundary = re.search(r"boundary=(.+)", content_type).group(1)  # type: ignore[union-attr]
    parts = []
    for chunk in body.split(b"--" + boundary.encode())[1:-1]:
        head, _, data = chunk[2:].partition(b"\r\n\r\n")
        disposition = head.decode()
        name = re.search(r'name="([^"]*)"', disposition).group(1)  # type: ignore[union-attr]
        filename = re.search(r'filename="([^"]*)"', disposition)
        parts.append((name, filename.group(1) if filename else None, data[:-2]))
    return parts


def test_the_page_hashes_a_folder_and_sends_it_in_batches_within_the_limits(
        page: Any, plane: Plane, tmp_path: Path) -> None:
    folder = tmp_path / "invoices"
    (folder / "2025").mkdir(parents=True)
    files = {"a.txt": b"alpha\n", "b.md": b"# beta\n", "c.csv": b"x,y\n1,2\n",
             "2025/d.txt": b"delta\n", "2025/a.txt": b"another alpha\n",
             ".DS_Store": b"hidden", "big.txt": b"x" * 5000}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    sent: list[dict[str, Any]] = []

    def receive(route: Any) -> None:
        """The batch route: records what the page sent and answers each file ACCEPTED."""
        request = route.request
        parts = multipart_parts(request.post_data_buffer, request.headers["content-type"])
        manifest = json.loads(parts[0][2])
        sent.append({"headers": request.headers, "manifest": manifest,
                     "files": {filename: data for name, filename, data in parts[1:]
                               if name == "files"}})
        route.fulfill(status=202, content_type="application/json", body=json.dumps({
            "batch_id": str(uuid.uuid4()), "received_at": "2026-01-01T00:00:00Z",
            "documents": [{"name": f["name"], "sha256": f["sha256"],
                           "declared_sha256": f["sha256"], "status": "ACCEPTED"}
                          for f in manifest["files"]]}))

    sign_in(page, plane, "full")
    page.route(re.compile(r".*/v1/batches$"), receive)
    page.get_by_label("A whole folder").set_input_files(str(folder))
    page.get_by_label("Client reference").fill("march")
    page.get_by_role("button", name="Upload").click()
    page.locator("#status").filter(has_text="Upload done").wait_for()

    # 5 files within the limits, 2 per batch, never one name twice in a batch (as the CLI
    # names them: the base name, the path in the folder as metadata); the hidden file and
    # the too large one stay here
    assert [b["manifest"]["client_ref"] for b in sent] == \
        [f"march (part {i} of 3)" for i in (1, 2, 3)]
    got = []
    for batch in sent:
        assert batch["headers"]["x-csrf-token"] and batch["headers"]["idempotency-key"]
        names = [e["name"] for e in batch["manifest"]["files"]]
        assert len(names) <= 2 and len(set(names)) == len(names), names
        # one file part per manifest entry, named as it (their bytes: the e2e flow, where
        # the server checks each against its sha256; interception does not show them)
        assert list(batch["files"]) == names
        for entry in batch["manifest"]["files"]:
            path = entry.get("metadata", {}).get("path", entry["name"])
            data = files[path]
            assert entry["sha256"] == hashlib.sha256(data).hexdigest()
            assert entry["size"] == len(data)
            got.append((entry["name"], path))
    assert sorted(got) == [("a.txt", "2025/a.txt"), ("a.txt", "a.txt"), ("b.md", "b.md"),
                           ("c.csv", "c.csv"), ("d.txt", "2025/d.txt")]
    outcomes = dict(zip(page.locator("#upload-files tbody td:nth-child(1)").all_inner_texts(),
                        page.locator("#upload-files tbody td:nth-child(4)").all_inner_texts(),
                        strict=True))
    assert outcomes.pop("big.txt").startswith("not sent: larger than")
    assert outcomes == dict.fromkeys(
        ["a.txt", "b.md", "c.csv", "2025/a.txt", "2025/d.txt"], "ACCEPTED")
    assert page.locator("#total-progress").evaluate("p => p.value") == 1
    screenshot(page, "vendor-upload-split")


def test_a_bearer_request_needs_no_csrf_token(plane: Plane) -> None:
    answer = httpx.delete(f"{plane.url}/v1/documents/{uuid.uuid4()}",
                          headers={"Authorization": f"Bearer {plane.keys['reader']}"})
    # judged on its scope, as before: no CSRF check for a request without the cookie
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "INSUFFICIENT_SCOPE"


def test_a_revoked_key_ends_its_sessions(page: Any, plane: Plane) -> None:
    plane.issue("leaving", ["read"])
    sign_in(page, plane, "leaving")
    assert plane.access.revoke(plane.key_ids["leaving"])
    page.reload()
    assert page.get_by_role("heading", name="Sign in").is_visible()
    assert "session has ended" in page.get_by_role("alert").inner_text()


def test_an_expired_session_signs_the_vendor_out(page: Any, plane: Plane) -> None:
    sign_in(page, plane, "reader")
    cookie = session_cookie(page)
    with plane.db.transaction() as conn:
        conn.execute("UPDATE web_sessions SET expires_at = now() - interval '1 second'"
                     " WHERE session_sha256 = %s", (session_sha256(cookie["value"]),))
    assert httpx.get(f"{plane.url}/v1/batches", cookies={VENDOR_COOKIE: cookie["value"]}
                     ).status_code == 401
    page.reload()
    assert page.get_by_role("heading", name="Sign in").is_visible()


def test_signing_out_of_a_page_whose_session_has_ended_is_clean(page: Any,
                                                                  plane: Plane) -> None:
    sign_in(page, plane, "reader")
    with plane.db.transaction() as conn:
        conn.execute("DELETE FROM web_sessions WHERE session_sha256 = %s",
                     (session_sha256(session_cookie(page)["value"]),))
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    assert page.context.cookies() == []


@pytest.mark.parametrize(("who", "shown", "hidden"), [
    ("full", ["upload", "batches", "search", "documents", "quarantine"], []),
    ("reader", ["batches", "search", "documents"], ["upload", "quarantine", "erase-form"]),
    ("ingester", ["upload", "documents", "erase-form"],
     ["batches", "search", "quarantine", "document-table"]),
    ("auditor", ["quarantine"], ["upload", "batches", "search", "documents"]),
])
def test_the_scopes_decide_what_is_shown(page: Any, plane: Plane, who: str,
                                         shown: list[str], hidden: list[str]) -> None:
    sign_in(page, plane, who)
    for section in shown:
        assert page.locator(f"#{section}").is_visible(), section
    for section in hidden:
        assert page.locator(f"#{section}").count() == 0, section
    page.wait_for_load_state("networkidle")
    assert "failed" not in page.locator("#status").inner_text()
    if who == "reader":  # and the API decides again: no upload without ingest
        assert in_page_fetch(page, "POST", "/v1/batches", token=True, form="x=1") == \
            {"status": 403, "code": "INSUFFICIENT_SCOPE"}


def test_every_control_has_a_visible_label_and_the_keyboard_reaches_it(
        page: Any, plane: Plane) -> None:
    page.goto(plane.url + "/")
    assert page.evaluate(UNLABELLED_CONTROLS_JS) == []
    # signing in with the keyboard alone: the key field has the focus
    page.keyboard.type(plane.keys["full"])
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Documents for acme").wait_for()
    page.wait_for_load_state("networkidle")
    assert page.evaluate(UNLABELLED_CONTROLS_JS) == []
    wanted = page.evaluate(FOCUSABLE_JS)
    reached = []
    for _ in range(len(wanted) + 5):
        page.keyboard.press("Tab")
        reached.append(page.evaluate(ACTIVE_JS))
    for control in wanted:
        assert control in reached, (control, reached)
    screenshot(page, "vendor-page")
    # and out again: Tab to "Sign out", Enter
    page.locator("#sign-out").focus()
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Sign in").wait_for()


def test_the_page_fits_a_narrow_window(browser: Any, plane: Plane) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 800})
    try:
        tab = context.new_page()
        sign_in(tab, plane, "full")
        tab.wait_for_load_state("networkidle")
        overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{overflow} px wider than the window"
        screenshot(tab, "vendor-page-narrow")
    finally:
        context.close()


def test_the_page_is_open_but_everything_else_still_wants_a_credential(plane: Plane) -> None:
    assert httpx.get(plane.url + "/").status_code == 200
    assert httpx.get(plane.url + "/static/app.js").status_code == 200
    for path in ("/v1/batches", "/static/other.js", "/anything"):
        assert httpx.get(plane.url + path).status_code == 401, path
    # a session cookie that was never issued is no credential
    assert httpx.get(plane.url + "/v1/batches", cookies={VENDOR_COOKIE: "made-up"}
                     ).status_code == 401
