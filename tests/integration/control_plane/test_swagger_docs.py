"""``/docs`` (issue 17) in a real headless Chromium (Playwright, Debian's chromium): Swagger UI
served by the control plane itself (no request leaves its origin), whose document wants an
admin token — typed into the page, or the admin console's session — and whose Authorize
button makes "Try it out" call a route with the token. Served control plane: uvicorn on
loopback, a real PostgreSQL registry, the fake provider. A screenshot goes to
tests/artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser_support import CHROMIUM, chromium, same_origin_page
from tests.conftest import create_database, drop_database
from tests.served_control_plane import fake_provider_control_plane

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

ADMIN_TOKEN = "docs-admin-token"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def url(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    name, database_url = create_database(pg_admin_url, prefix="fbdocs")
    try:
        with fake_provider_control_plane(database_url, tmp_path_factory.mktemp("cp"),
                                         ADMIN_TOKEN, name="docs-control-plane") as cp:
            created = httpx.post(f"{cp.url}/v1/tenants",
                                 json={"slug": "docsco", "display_name": "D"},
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)
            assert created.status_code == 202, created.text
            yield cp.url
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


def test_authorize_in_swagger_then_try_a_route(page: Page, url: str) -> None:
    page.goto(f"{url}/docs")
    # the document wants a token: the page asks for it
    token = page.get_by_label("Admin token")
    expect(token).to_be_visible()
    token.fill("not-a-token")
    page.get_by_role("button", name="Show the API").click()
    expect(page.get_by_role("alert")).to_contain_text("Refused (401)")
    token.fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Show the API").click()
    expect(page.locator("h2.title")).to_contain_text("Frostbyte control plane")

    # Swagger's own Authorize: log out of the token the page handed it, authorize again
    page.locator("button.btn.authorize").first.click()
    modal = page.locator(".modal-ux")
    modal.get_by_role("button", name="Logout").click()
    modal.locator("input").fill(ADMIN_TOKEN)
    modal.get_by_role("button", name="Authorize", exact=True).click()
    modal.get_by_role("button", name="Close").click()

    operation = page.locator("#operations-tenants-list_tenants")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    answer = operation.locator(".live-responses-table .response")
    expect(answer.locator(".response-col_status")).to_contain_text("200")
    expect(answer.locator(".response-col_description")).to_contain_text("docsco")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "api-docs-control-plane.png"), full_page=False)


def test_the_consoles_session_opens_the_docs(page: Page, url: str) -> None:
    page.goto(f"{url}/")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Tenants").wait_for()
    page.goto(f"{url}/docs")
    # same origin: the session cookie fetches the document, no token asked
    expect(page.locator("h2.title")).to_contain_text("Frostbyte control plane")
    expect(page.get_by_label("Admin token")).to_be_hidden()
