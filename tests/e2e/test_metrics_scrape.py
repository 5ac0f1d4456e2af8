"""Issue 18's metrics, scraped as Prometheus would after a real run of both planes: a data
plane (its API and its worker, separate processes, on a real PostgreSQL) takes a batch
through intake, parsing, embedding and indexing; a served control plane (the fake provider)
provisions one tenant, fails another and polls their health. Every family the two metric
registries define must then have samples on the endpoints — the list comes from the
registries themselves, so a family added without being fed fails here — and the figures
the run moved must have moved."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from control_plane.adapters.metrics import PrometheusControlPlaneMetrics
from control_plane.api.app import create_app
from control_plane.settings import ControlPlaneSettings
from data_plane.adapters.metrics import PrometheusMetrics
from tests.conftest import create_database, drop_database
from tests.e2e.harness import ROOT, DataPlaneHarness, submit, wait_batch
from tests.integration.control_plane.fakes import FakeProvider
from tests.served_control_plane import serve

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ADMIN_TOKEN = "fb_admin_metrics-e2e-" + "m" * 32
#: family -> its samples (sample name, labels, value)
Samples = dict[str, list[tuple[str, dict[str, str], float]]]


def families(registry: CollectorRegistry) -> set[str]:
    """The names of the families a registry defines."""
    return {family.name for family in registry.collect()}


def data_plane_families() -> set[str]:
    metrics = PrometheusMetrics()
    metrics.watch_queue(list, ())  # the families read at the scrape
    return families(metrics.registry)


def scrape(url: str, token: str) -> Samples:
    response = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"},
                         timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: [(s.name, s.labels, s.value) for s in family.samples
                          if not s.name.endswith("_created")]
            for family in text_string_to_metric_families(response.text)}


def value(samples: Samples, family: str, suffix: str = "", **labels: str) -> float:
    """The sum of ``family``'s samples named ``family + suffix`` with these labels."""
    return sum(v for name, got, v in samples.get(family, [])
               if name == family + suffix and labels.items() <= got.items())


def assert_every_family_has_samples(samples: Samples, defined: set[str], plane: str) -> None:
    empty = sorted(name for name in defined if not samples.get(name))
    assert not empty, f"{plane}: families without a sample after the run: {empty}"


@pytest.fixture(scope="module")
def data_plane(module_database: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataPlaneHarness]:
    with DataPlaneHarness("metrics-e2e", module_database,
                          tmp_path_factory.mktemp("dp")) as plane:
        yield plane


def test_both_planes_export_every_family_after_a_real_run(
        data_plane: DataPlaneHarness, pg_admin_url: str, tmp_path: Path) -> None:
    # -- the data plane: one document indexed, one refused at intake ------------------------
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with data_plane.client() as client:
        receipt = submit(client, [ROOT / "samples" / "parking-permit-faq.txt", empty])
        batch = wait_batch(client, receipt["batch_id"], timeout=300)
        assert {d["status"] for d in batch["documents"]} == {"INDEXED", "REJECTED"}
        assert client.get("/metrics").status_code == 403  # a vendor key is refused
    seen = scrape(data_plane.url, data_plane.control_key)
    assert_every_family_has_samples(seen, data_plane_families(), "data plane")
    # what the run moved: the API's requests, the worker's stages (another process)
    assert value(seen, "frostbyte_http_requests", "_total", route="/v1/batches/{batch_id}",
                 status="200") >= 1
    assert not [labels for _, labels, _ in seen["frostbyte_http_requests"]
                if receipt["batch_id"] in labels["route"]]  # templates, never raw paths
    assert value(seen, "frostbyte_documents_final", "_total", status="INDEXED") == 1
    assert value(seen, "frostbyte_documents_final", "_total", status="REJECTED",
                 reason="EMPTY_FILE") == 1
    assert value(seen, "frostbyte_intake_documents", "_total", status="ACCEPTED") == 1
    for stage in ("parse", "chunk", "embed", "index"):
        assert value(seen, "frostbyte_stage_duration_seconds", "_count", stage=stage) >= 1
    assert value(seen, "frostbyte_embedding_chunks", "_total") >= 1
    assert value(seen, "frostbyte_embedding_seconds", "_total") > 0
    assert value(seen, "frostbyte_audit_appends", "_total") >= 2
    assert {labels["queue"] for _, labels, _ in seen["frostbyte_queue_depth"]} >= {
        "process", "index"}

    # -- the control plane: one tenant ACTIVE and polled, one FAILED -------------------------
    name, database_url = create_database(pg_admin_url, prefix="fbmetrics")
    provider = FakeProvider()
    try:
        app = create_app(
            ControlPlaneSettings(
                database_url=database_url, state_dir=tmp_path / "cp",
                admin_token_sha256=hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest(),
                health_poll_interval_s=0.5),
            providers=lambda _settings: {"local": provider},
            data_plane_transport=provider.transport)
        with serve(app, "metrics-control-plane") as url:
            auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            for slug in ("acme", "failco"):
                created = httpx.post(f"{url}/v1/tenants", headers=auth, timeout=30,
                                     json={"slug": slug, "display_name": slug.title()})
                assert created.status_code == 202, created.text
            assert httpx.get(f"{url}/metrics", timeout=30).status_code == 401  # no token
            cp = scrape(url, ADMIN_TOKEN)
            deadline = time.monotonic() + 120
            while not (value(cp, "frostbyte_cp_tenant_ready", tenant="acme") == 1
                       and value(cp, "frostbyte_cp_tenants", state="FAILED") == 1):
                assert time.monotonic() < deadline, f"the control plane never got there: {cp}"
                time.sleep(0.5)
                cp = scrape(url, ADMIN_TOKEN)
    finally:
        drop_database(pg_admin_url, name)
    assert_every_family_has_samples(
        cp, families(PrometheusControlPlaneMetrics().registry), "control plane")
    assert value(cp, "frostbyte_cp_tenants", state="ACTIVE") == 1
    assert value(cp, "frostbyte_cp_health_checks", "_total", tenant="acme", result="ready") >= 1
    for outcome in ("succeeded", "failed"):
        assert value(cp, "frostbyte_cp_job_duration_seconds", "_count", operation="provision",
                     outcome=outcome) == 1
    assert value(cp, "frostbyte_cp_job_failures", "_total", operation="provision") == 1
    assert value(cp, "frostbyte_cp_provider_errors", "_total", provider="local",
                 operation="provision") == 1
