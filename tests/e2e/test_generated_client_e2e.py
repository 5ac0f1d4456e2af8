"""Issue 17: a Python client generated from the data plane's served ``/openapi.json``
(openapi-python-client, unedited) submits ``samples/`` files as a batch, follows its status to
the end, reads the acceptance report and searches with citations — against a real tenant
(API and worker processes, PostgreSQL, SeaweedFS, the embedding model) as
:class:`DataPlaneHarness` serves it; and ``/docs`` on that endpoint in a real browser."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import DataPlaneHarness
from tests.openapi_support import call, generate_client, module
from tests.seaweedfs_fixture import S3Tenant

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
FILES = ("incident-response-runbook.md", "parking-permit-faq.txt")


@pytest.fixture(scope="module")
def plane(module_database: str, module_bucket: S3Tenant,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataPlaneHarness]:
    with DataPlaneHarness("genclient", module_database, tmp_path_factory.mktemp("dp"),
                          s3=module_bucket) as harness:
        yield harness


def test_a_generated_client_submits_follows_reports_and_searches(
        plane: DataPlaneHarness, tmp_path: Path) -> None:
    served = httpx.get(f"{plane.url}/openapi.json", timeout=30,
                       headers={"Authorization": f"Bearer {plane.key}"})
    assert served.status_code == 200, served.text
    client_pkg = generate_client(served.json(), tmp_path / "generated", "frostbyte_dp_client")
    models = module(client_pkg, "models")
    types = module(client_pkg, "types")
    client = client_pkg.AuthenticatedClient(base_url=plane.url, token=plane.key,
                                            timeout=120.0)

    paths = [SAMPLES / name for name in FILES]
    manifest = models.Manifest(client_ref="generated-client", files=[
        models.ManifestFile(name=p.name, sha256=hashlib.sha256(p.read_bytes()).hexdigest(),
                            size=p.stat().st_size) for p in paths])
    handles = [p.open("rb") for p in paths]
    try:
        receipt = call(client_pkg, "submit_batch", client=client, body=models.SubmitBatchBody(
            manifest=manifest, files=[types.File(payload=h, file_name=p.name)
                                      for p, h in zip(paths, handles, strict=True)]))
    finally:
        for h in handles:
            h.close()
    assert isinstance(receipt, models.Receipt), receipt
    assert [d.status for d in receipt.documents] == [models.DocStatus.ACCEPTED] * 2

    deadline = time.monotonic() + 600
    batch = call(client_pkg, "get_batch", receipt.batch_id, client=client)
    while batch.status not in (models.BatchStatus.COMPLETED,
                               models.BatchStatus.COMPLETED_WITH_ERRORS):
        assert time.monotonic() < deadline, batch
        time.sleep(1)
        batch = call(client_pkg, "get_batch", receipt.batch_id, client=client)
    assert batch.status == models.BatchStatus.COMPLETED, batch
    assert {d.status for d in batch.documents} == {models.DocStatus.INDEXED}

    report = call(client_pkg, "get_report", receipt.batch_id, client=client)
    assert isinstance(report, models.Report)
    assert report.counts.files == 2 and report.counts.chunks > 0
    assert sorted(d.name for d in report.documents) == sorted(FILES)

    found = call(client_pkg, "search", client=client, body=models.SearchRequest(
        query="How do I get a parking permit?", top_k=3))
    assert isinstance(found, models.SearchResponse), found
    assert found.hits and found.hits[0].document_name == "parking-permit-faq.txt"
    assert found.proof.chunk_hashes == [h.content_sha256 for h in found.hits]

    # a documented error comes back parsed as the envelope
    missing = call(client_pkg, "get_batch", "00000000-0000-0000-0000-000000000000",
                   client=client)
    assert isinstance(missing, models.ErrorEnvelope)
    assert missing.error.code == "BATCH_NOT_FOUND"


def test_docs_authorize_then_try_a_route_in_a_browser(plane: DataPlaneHarness) -> None:
    """``/docs`` on the tenant endpoint in headless Chromium: the vendor key typed into the
    page loads the document, Swagger's Authorize takes the key again, "Try it out" lists the
    batches (200); signed in to the vendor page, the session alone opens it. No request
    leaves the endpoint's origin."""
    from playwright.sync_api import expect, sync_playwright

    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.on("request", lambda r: outside.append(r.url)
                    if not r.url.startswith((plane.url, "data:")) else None)
            page.goto(f"{plane.url}/docs")
            page.get_by_label("Vendor key").fill(plane.key)
            page.get_by_role("button", name="Show the API").click()
            expect(page.locator("h2.title")).to_contain_text("Frostbyte data plane")
            page.locator("button.btn.authorize").first.click()
            modal = page.locator(".modal-ux")
            modal.get_by_role("button", name="Logout").click()
            modal.locator("input").fill(plane.key)
            modal.get_by_role("button", name="Authorize", exact=True).click()
            modal.get_by_role("button", name="Close").click()
            operation = page.locator("#operations-intake-list_batches")
            operation.locator(".opblock-summary").click()
            operation.get_by_role("button", name="Try it out").click()
            operation.get_by_role("button", name="Execute").click()
            answer = operation.locator(".live-responses-table .response")
            expect(answer.locator(".response-col_status")).to_contain_text("200")
            expect(answer.locator(".response-col_description")).to_contain_text('"batches"')
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "api-docs-data-plane.png"))

            signed_in = browser.new_context().new_page()
            signed_in.goto(f"{plane.url}/")
            signed_in.get_by_label("Vendor key").fill(plane.key)
            signed_in.get_by_role("button", name="Sign in").click()
            signed_in.get_by_role("heading", name="Documents for genclient").wait_for()
            signed_in.goto(f"{plane.url}/docs")
            expect(signed_in.locator("h2.title")).to_contain_text("Frostbyte data plane")
            expect(signed_in.get_by_label("Vendor key")).to_be_hidden()
        finally:
            browser.close()
    assert not outside, f"requests outside the origin (a CDN?): {outside}"
