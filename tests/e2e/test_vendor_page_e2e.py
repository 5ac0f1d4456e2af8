"""The vendor page's long flow in headless Chromium against a real served data plane (API
and worker processes, issue 17): sign in with a key, upload the ``samples/`` folder (hashed
in the browser, sent to ``POST /v1/batches``), watch the batch finish, open its report and
download it, search and see a citation with the retrieval proof, erase a document (with
its confirmation), sign out. A screenshot of
each page is kept under ``tests/artifacts/screenshots/``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import (
    SCREENSHOTS,
    UNLABELLED_CONTROLS_JS,
    chromium,
    screenshot,
)
from tests.e2e.harness import ROOT, DataPlaneHarness

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SAMPLES = ROOT / "samples"
FINAL = re.compile(r"^COMPLETED(_WITH_ERRORS)?$")


@pytest.fixture(scope="module")
def plane(module_database: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataPlaneHarness]:
    with DataPlaneHarness("webpage", module_database,
                          tmp_path_factory.mktemp("dp")) as harness:
        yield harness


@pytest.fixture(scope="module")
def page(plane: DataPlaneHarness) -> Iterator[Any]:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900},
                                      accept_downloads=True)
        tab = context.new_page()
        tab.set_default_timeout(30_000)
        yield tab
        context.close()


def test_sign_in_upload_the_samples_folder_follow_the_batch_read_the_report_search_sign_out(
        page: Any, plane: DataPlaneHarness) -> None:
    samples = sorted(p.name for p in SAMPLES.iterdir() if not p.name.startswith("."))
    page.goto(plane.url + "/")
    page.get_by_label("Vendor key").fill(plane.key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Documents for webpage").wait_for()

    # upload the folder: every file hashed here and sent, each with its outcome
    page.locator("#folder").set_input_files(str(SAMPLES))
    page.get_by_label("Client reference").fill("browser samples")
    page.get_by_role("button", name="Upload").click()
    page.locator("#status").filter(has_text="Upload done").wait_for(timeout=120_000)
    assert page.locator("#total-progress").evaluate("p => p.value") == 1
    rows = page.locator("#upload-files tbody tr")
    assert sorted(rows.locator("td:nth-child(1)").all_inner_texts()) == samples
    assert all(o.startswith("ACCEPTED")
               for o in rows.locator("td:nth-child(4)").all_inner_texts())
    screenshot(page, "vendor-upload")

    # the batch's status follows by itself until it is final
    batch = page.locator("#batch-table tbody tr", has_text="browser samples")
    batch.locator(".badge").filter(has_text=FINAL).wait_for(timeout=420_000)
    # every file, and the e-mails' attachments as documents of their own
    assert int(batch.locator("td:nth-child(3)").inner_text()) > len(samples)
    screenshot(page, "vendor-batches")

    # the report in the page, and its downloads (with the session cookie alone)
    batch.get_by_role("button", name="Show report of browser samples").click()
    report = page.locator("#report-table tbody tr")
    report.first.wait_for()
    outcome = dict(zip(report.locator("td:nth-child(1)").all_inner_texts(),
                       report.locator("td:nth-child(2)").all_inner_texts(), strict=True))
    assert set(samples) <= set(outcome), outcome
    assert outcome["incident-response-runbook.md"] == "INDEXED", outcome
    with page.expect_download() as csv_download:
        page.locator("#report-csv").click()
    csv_text = Path(csv_download.value.path()).read_text(encoding="utf-8")
    assert all(name in csv_text for name in samples)
    html = page.context.request.get(plane.url +
                                    page.locator("#report-html").get_attribute("href"))
    assert html.status == 200 and "text/html" in html.headers["content-type"]
    assert "incident-response-runbook.md" in html.text()
    screenshot(page, "vendor-report")

    # search: a hit cites its document, heading path and page; the proof is shown
    page.get_by_label("Query").fill("Who declares a security incident and how fast?")
    page.get_by_role("button", name="Search").click()
    citation = page.locator("#hits .citation").first
    citation.wait_for()
    assert any(name in citation.inner_text() for name in samples), citation.inner_text()
    cited = page.locator("#hits .citation").all_inner_texts()
    assert any(" — " in c for c in cited), cited  # document — heading path (— page)
    assert '"query_sha256"' in page.locator("#proof-json").text_content()
    page.locator("#proof summary").click()
    assert page.evaluate(UNLABELLED_CONTROLS_JS) == []
    screenshot(page, "vendor-search")

    # the page as the README shows it: the batch, its report, the search above the fold
    page.locator("#batches-title").scroll_into_view_if_needed()
    page.evaluate("window.scrollTo(0, document.getElementById('batches').offsetTop - 8)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "vendor-page-readme.png"))

    # erasing a document asks first: dismissed, nothing happens; accepted, it is gone
    erase = page.get_by_role("button", name="Erase parking-permit-faq.txt")
    erase.wait_for()
    page.once("dialog", lambda dialog: dialog.dismiss())
    erase.click()
    page.locator("#status").filter(has_text="Nothing was erased").wait_for()
    page.once("dialog", lambda dialog: dialog.accept())
    erase.click()
    page.locator("#status").filter(has_text="Erased").wait_for()
    erase.wait_for(state="detached")

    # the quarantine list (audit scope) answered, then sign out
    page.locator("#quarantine-table tbody tr").first.wait_for()
    assert "failed" not in page.locator("#status").inner_text()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    assert plane.client().get("/v1/batches").status_code == 200  # the key itself still works
