"""The admin console (SPEC §5.8, issue 17) in a real headless Chromium (Playwright, Debian's
chromium) against a served control plane: uvicorn on loopback, a real PostgreSQL registry,
the fake provider (a tenant is ACTIVE in seconds). Screenshots of each page go to
tests/artifacts/screenshots/."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, Page

from frostbyte_common.web_session import CONSOLE_COOKIE
from tests.browser_support import CHROMIUM, chromium, same_origin_page
from tests.conftest import create_database, drop_database
from tests.served_control_plane import fake_provider_control_plane

from .fakes import FakeProvider

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

ADMIN_TOKEN = "console-admin-token"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@dataclass
class Served:
    url: str
    database_url: str
    provider: FakeProvider

    def api(self, method: str, path: str, *, headers: dict[str, str] | None = None,
            json: object = None) -> httpx.Response:
        return httpx.request(method, self.url + path, headers=AUTH if headers is None
                             else headers, json=json, timeout=30)

    def new_token(self, name: str, role: str) -> tuple[str, str]:
        made = self.api("POST", "/v1/admin/tokens", json={"name": name, "role": role})
        assert made.status_code == 201, made.text
        return made.json()["token_id"], made.json()["token"]

    def wait_state(self, slug: str, state: str) -> None:
        deadline = time.monotonic() + 30
        while self.api("GET", f"/v1/tenants/{slug}").json()["state"] != state:
            assert time.monotonic() < deadline, f"{slug} never reached {state}"
            time.sleep(0.2)


@pytest.fixture(scope="module")
def served(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    name, database_url = create_database(pg_admin_url, prefix="fbconsole")
    try:
        with fake_provider_control_plane(database_url, tmp_path_factory.mktemp("cp"),
                                         ADMIN_TOKEN, name="console-control-plane") as cp:
            plane = Served(cp.url, database_url, cp.provider)
            created = plane.api("POST", "/v1/tenants",
                                json={"slug": "acme", "display_name": "Acme"})
            assert created.status_code == 202, created.text
            plane.wait_state("acme", "ACTIVE")
            yield plane
    finally:
        drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # no request may leave the control plane's origin (no CDN, no font)
    with same_origin_page(browser, "http://127.0.0.1") as tab:
        yield tab


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"admin-console-{name}.png"), full_page=True)


def sign_in(page: Page, served: Served, token: str) -> None:
    page.goto(served.url + "/")
    page.get_by_label("Admin token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Tenants").wait_for()


def csrf_of(page: Page) -> str:
    value = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert value
    return value


def test_sign_in_sets_a_strict_httponly_cookie_and_sign_out_ends_the_session(
        page: Page, served: Served) -> None:
    page.goto(served.url + "/")
    shot(page, "sign-in")
    page.get_by_label("Admin token").fill("fbat_wrong_token")
    page.get_by_role("button", name="Sign in").click()
    assert "UNAUTHENTICATED" in page.get_by_role("alert").inner_text()

    sign_in(page, served, ADMIN_TOKEN)
    row = page.locator("#tenants tr[data-slug=acme]")
    assert "ACTIVE" in row.inner_text()
    shot(page, "tenants")
    [cookie] = [c for c in page.context.cookies() if c["name"] == CONSOLE_COOKIE]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/" and cookie["secure"] is False  # plain HTTP on loopback
    assert page.evaluate("document.cookie") == ""
    # only the session id's digest is stored
    with psycopg.connect(served.database_url) as conn:
        stored = [r[0] for r in conn.execute("SELECT sha256 FROM console_sessions")]
    assert hashlib.sha256(cookie["value"].encode()).hexdigest() in stored
    assert cookie["value"] not in stored

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    replayed = served.api("GET", "/v1/tenants",
                          headers={"Cookie": f"{CONSOLE_COOKIE}={cookie['value']}"})
    assert replayed.status_code == 401 and replayed.json()["error"]["code"] == "UNAUTHENTICATED"


def cookie_session(served: Served, token: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=served.url, timeout=30)
    signed = client.post("/console/session", json={"token": token})
    assert signed.status_code == 200, signed.text
    page = client.get("/")
    match = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page.text)
    assert match, page.text[:500]
    return client, match.group(1)


def test_a_change_made_with_the_cookie_needs_the_pages_csrf_token(served: Served) -> None:
    client, csrf = cookie_session(served, ADMIN_TOKEN)
    try:
        assert client.get("/v1/tenants").status_code == 200
        body = {"slug": "csrf-one", "display_name": "CSRF"}
        for headers in ({}, {"X-CSRF-Token": "0" * 64}):
            refused = client.post("/v1/tenants", json=body, headers=headers)
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"]["code"] == "CSRF_TOKEN_INVALID"
        assert served.api("GET", "/v1/tenants/csrf-one").status_code == 404
        forged_out = client.post("/console/session/end")  # sign-out wants it too
        assert forged_out.status_code == 403
        accepted = client.post("/v1/tenants", json=body, headers={"X-CSRF-Token": csrf})
        assert accepted.status_code == 202, accepted.text
        assert served.api("GET", "/v1/tenants/csrf-one").json()["provider"] == "local"
    finally:
        client.close()
    # a bearer request is unchanged: no CSRF token, no cookie
    assert served.api("POST", "/v1/tenants/csrf-one/cancel").status_code in (202, 409)


def test_a_viewer_sees_the_tenants_but_cannot_act(page: Page, served: Served) -> None:
    _, viewer = served.new_token("console-viewer", "viewer")
    sign_in(page, served, viewer)
    assert "read only" in page.locator("header").inner_text()
    assert "ACTIVE" in page.locator("#tenants tr[data-slug=acme]").inner_text()
    assert page.locator("#create-tenant").count() == 0
    page.get_by_role("link", name="acme").click()
    page.get_by_role("heading", name="Tenant acme").wait_for()
    shot(page, "tenant-viewer")
    labels = page.locator("main button").all_inner_texts()
    assert labels == ["Verify the chain", "Load the quarantine list"], labels
    # the page's own CSRF token does not make a viewer an admin
    forged = page.evaluate(
        """async (csrf) => { const r = await fetch('/v1/tenants/acme/suspend',
             {method: 'POST', headers: {'X-CSRF-Token': csrf}});
             return [r.status, (await r.json()).error.code]; }""", csrf_of(page))
    assert forged == [403, "INSUFFICIENT_ROLE"]
    assert served.api("GET", "/v1/tenants/acme").json()["state"] == "ACTIVE"
    # reading works, verification included
    page.get_by_role("button", name="Verify the chain").click()
    page.get_by_text("Chain verified").wait_for()


def test_a_revoked_token_and_an_expired_session_end_the_session(served: Served) -> None:
    token_id, token = served.new_token("console-revoked", "admin")
    client, _ = cookie_session(served, token)
    try:
        assert client.get("/v1/tenants").status_code == 200
        assert served.api("DELETE", f"/v1/admin/tokens/{token_id}").status_code == 200
        assert client.get("/v1/tenants").status_code == 401
        assert 'id="sign-in"' in client.get("/").text
    finally:
        client.close()
    client, _ = cookie_session(served, ADMIN_TOKEN)
    try:
        assert client.get("/v1/tenants").status_code == 200
        sid = client.cookies[CONSOLE_COOKIE]
        with psycopg.connect(served.database_url) as conn:
            conn.execute("UPDATE console_sessions SET expires_at = now() - interval '1 second'"
                         " WHERE sha256 = %s", (hashlib.sha256(sid.encode()).hexdigest(),))
        assert client.get("/v1/tenants").status_code == 401
    finally:
        client.close()


def test_the_console_is_usable_with_the_keyboard_and_every_control_has_a_visible_label(
        page: Page, served: Served) -> None:
    page.goto(served.url + "/")
    # the token field has the focus: type, Enter
    assert page.evaluate("document.activeElement.id") == "token"
    page.keyboard.type(ADMIN_TOKEN)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Tenants").wait_for()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    # Tab reaches the tenant's link; Enter opens it
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "acme":
            break
    else:
        pytest.fail("Tab never reached the tenant's link")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Tenant acme").wait_for()
    shot(page, "tenant")
    unlabelled = page.evaluate("""() => Array.from(document.querySelectorAll(
        'input:not([type=hidden]), select, textarea, button')).filter(c => {
          if (c.closest('dialog')) return false;
          if (c.tagName === 'BUTTON') return !c.innerText.trim();
          return !Array.from(c.labels || []).some(l => l.offsetParent !== null
                                                       && l.innerText.trim());
        }).map(c => c.outerHTML)""")
    assert unlabelled == []
    # the confirmation dialog: Escape cancels, nothing changes
    page.get_by_role("button", name="Suspend").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    assert "Suspend acme?" in dialog.inner_text()
    shot(page, "confirm")
    page.keyboard.press("Escape")
    assert not dialog.is_visible()
    assert served.api("GET", "/v1/tenants/acme").json()["state"] == "ACTIVE"
    # a narrow window: nothing wider than the screen
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "tenant-narrow")


def confirm(page: Page, expected: str) -> None:
    dialog = page.get_by_role("dialog")
    assert expected in dialog.inner_text()
    dialog.get_by_role("button", name="Confirm").click()


@pytest.mark.slow
def test_an_admin_runs_a_tenants_whole_life_from_the_console(
        page: Page, served: Served) -> None:
    """Create (watched ACTIVE in the live job log), a vendor key shown once, suspend
    (cancelled, then confirmed) and resume, the chain verified, a quarantined document
    purged, secrets rotated (the new key shown once), deprovisioned to the end."""
    sign_in(page, served, ADMIN_TOKEN)
    page.get_by_label("Slug").fill("globex")
    page.get_by_label("Display name").fill("Globex <b>Corp</b>")
    page.get_by_label("Config (optional JSON)").fill(
        '{"intake": {"max_batch_files": 500}}')
    served.provider.release.clear()  # provisioning waits: the page shows it running
    page.get_by_role("button", name="Create tenant").click()
    confirm(page, "Create this tenant")
    page.get_by_role("heading", name="Tenant globex").wait_for()
    live = page.locator("#job-live")
    live.filter(has_text="Live: the tenant is PROVISIONING").wait_for()
    page.locator("#job-output").filter(has_text="globex: provisioning").wait_for()
    assert "apply: running" in page.locator("#job-steps").inner_text()
    shot(page, "provisioning")
    served.provider.release.set()
    page.locator("#tenant-state").filter(has_text="ACTIVE").wait_for()
    page.locator("#job-summary").filter(has_text="succeeded").wait_for()
    # the page reloads on the new state; the display name was shown as text, not HTML
    page.get_by_role("button", name="Suspend").wait_for()
    assert "Globex <b>Corp</b>" in page.locator("#tenant").inner_text()
    assert served.api("GET", "/v1/tenants/globex").json()["config"]["intake"][
        "max_batch_files"] == 500

    # a vendor key: shown once, in a dialog; listed afterwards without the key
    page.get_by_label("Label (optional)").fill("dana")
    page.get_by_role("button", name="Issue vendor key").click()
    confirm(page, "It is shown once")
    secret = page.locator("#secret-values input")
    secret.wait_for()
    key = secret.input_value()
    assert len(key) > 30
    shot(page, "key-shown-once")
    page.get_by_role("button", name="I have stored it").click()
    page.locator("#vendor-keys td", has_text="dana").wait_for()
    assert key not in page.content()
    [(_, digest, scopes, _label)] = [v for v in served.provider.keys.values()
                                       if v[0] == "globex" and v[3] == "dana"]
    assert digest == hashlib.sha256(key.encode()).hexdigest() and scopes == ("ingest", "read")

    # suspend: cancelled first (nothing happens), then confirmed; then resume
    page.get_by_role("button", name="Suspend").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    assert served.api("GET", "/v1/tenants/globex").json()["state"] == "ACTIVE"
    page.get_by_role("button", name="Suspend").click()
    confirm(page, "Suspend globex?")
    page.locator("#tenant-state").filter(has_text="SUSPENDED").wait_for()
    assert "globex" in served.provider.suspended
    page.get_by_role("button", name="Resume").click()
    confirm(page, "Resume globex?")
    page.locator("#tenant-state").filter(has_text="ACTIVE").wait_for()
    assert "globex" not in served.provider.suspended

    # the event chain verifies; a quarantined document is purged
    page.get_by_role("button", name="Verify the chain").click()
    page.get_by_text(re.compile(r"Chain verified: \d+ events")).wait_for()
    document_id = served.provider.quarantine("globex", "invoice.pdf")
    page.get_by_role("button", name="Load the quarantine list").click()
    page.locator("#quarantine td", has_text=document_id).wait_for()
    shot(page, "quarantine")
    page.get_by_role("button", name="Purge invoice.pdf").click()
    confirm(page, "Its bytes are deleted")
    page.get_by_role("heading", name="Tenant globex").wait_for()
    deadline = time.monotonic() + 10
    while document_id in served.provider.quarantined.get("globex", {}):
        assert time.monotonic() < deadline, "the purge never reached the data plane"
        time.sleep(0.1)
    assert ("globex", "admin:admin", "document.purged") in served.provider.audit

    # rotation: the re-issued vendor key is shown once; the old one is refused
    page.get_by_role("button", name="Rotate secrets").click()
    confirm(page, "the new ones are shown once")
    rotated = page.locator("#secret-values input")
    rotated.wait_for()
    new_key = rotated.input_value()
    assert new_key != key and len(new_key) > 30
    page.get_by_role("button", name="I have stored it").click()
    page.get_by_role("heading", name="Tenant globex").wait_for()
    digests = {v[1] for v in served.provider.keys.values() if v[0] == "globex"}
    assert hashlib.sha256(new_key.encode()).hexdigest() in digests
    assert hashlib.sha256(key.encode()).hexdigest() not in digests

    # deprovisioning, watched in the live job log to its end
    page.get_by_role("button", name="Deprovision").click()
    confirm(page, "This cannot be undone")
    page.locator("#tenant-state").filter(has_text="DEPROVISIONED").wait_for(timeout=60_000)
    page.locator('#tenant[data-state="DEPROVISIONED"]').wait_for()  # drawn again for it
    page.locator("#job-summary").filter(has_text="deprovision job").wait_for()
    assert "succeeded" in page.locator("#job-summary").inner_text()
    assert page.locator("main .actions button").count() == 0
