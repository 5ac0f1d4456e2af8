"""Issue 17: a Python client generated from the data plane's served ``/openapi.json``
(openapi-python-client, unedited) submits ``samples/`` files as a batch, follows its status to
the end, reads the acceptance report and searches with citations — against a real tenant
(API and worker processes, PostgreSQL, SeaweedFS, the embedding model) as
:class:`DataPlaneHarness` serves it."""

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
