"""R6: schemathesis fuzzes every operation of both OpenAPI documents against the real apps,
with valid credentials, and no request may get a server error (5xx).

* The data plane: a real tenant (API and worker processes, PostgreSQL, SeaweedFS, the
  embedding model, the embedded index) as :class:`DataPlaneHarness` serves it; ``/v1`` calls
  carry a vendor key with every vendor scope (``ingest,read,audit``), ``/control/v1`` calls the
  control credential and ``X-Frostbyte-Actor``.
* The control plane: its real app served by uvicorn on loopback, its registry in a real
  PostgreSQL database, calls with the bootstrap admin token. Its provider is the test
  :class:`FakeProvider` (the same as the API's integration tests): a fuzzed ``POST
  /v1/tenants`` or lifecycle action must not start real tenants (processes, databases,
  buckets) by the dozen; everything above the provider is the production code.

Each document is read from the app object, so it does not depend on who may read
``/openapi.json``: the control plane's as published (``app.openapi()``), the data plane's with
the internal routes the vendor's document leaves out (``/control/v1/*``, ``/metrics``:
:func:`frostbyte_common.openapi.full_document`). Every operation is fuzzed, none is left out;
the documents themselves describe the multipart body of ``POST /v1/batches``, the manifest's
sha256 form and the tenant slug rule (issue 17). Path ids that the fuzzer makes well-formed are
pointed at a batch, a document and a tenant that exist, so handlers get past their 404.
Examples are bounded and derandomized (the same cases on every run); ``deadline=None``: the
first search loads the model.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error

from tests.conftest import create_database, drop_database
from tests.e2e.harness import DataPlaneHarness, submit, wait_batch
from tests.seaweedfs_fixture import S3Tenant

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

# Per operation and generation mode (valid and invalid data): 55 operations x 2 x 15 cases, plus
# schemathesis's coverage cases (boundaries, missing parts), run in three to six minutes on two
# cores.
FUZZ = settings(max_examples=15, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
ADMIN_TOKEN = "fuzz-admin-token"  # the test control plane's bootstrap token
TENANT = "fuzzed"  # the control plane's one tenant: valid fuzzed slugs are replaced by it
CONTROL_PREFIX = "/control/v1"  # and /metrics: the control credential's routes
SLUG_PATTERN = "^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"
#: The status codes each fuzzed operation answered ("data plane GET /v1/documents": {200, 422}).
ANSWERS: dict[str, set[int]] = {}


def data_plane_openapi() -> dict[str, Any]:
    """The data plane's OpenAPI document, as its app (any tenant's) describes itself, with
    its internal routes."""
    from data_plane.api.app import create_app
    from data_plane.api.schemas import describe_manifest
    from data_plane.settings import DataPlaneSettings
    from frostbyte_common.openapi import full_document

    app = create_app(DataPlaneSettings(
        tenant="fuzz", database_url=SecretStr("dbname=unused"),
        object_store_root=Path("/nonexistent")))
    document = full_document(app, scheme="VendorKey", extend=describe_manifest)
    assert "requestBody" in document["paths"]["/v1/batches"]["post"]
    assert "/control/v1/suspension" in document["paths"] and "/metrics" in document["paths"]
    return document


def control_plane_openapi() -> dict[str, Any]:
    """The control plane's OpenAPI document, as its app describes itself."""
    from control_plane.api.app import create_app
    from control_plane.settings import ControlPlaneSettings

    document = create_app(
        ControlPlaneSettings(database_url=SecretStr("dbname=unused"))).openapi()
    # the slug rule (frostbyte_common.slugs) is described: valid cases create tenants
    slug = document["components"]["schemas"]["TenantCreate"]["properties"]["slug"]
    assert slug["pattern"] == SLUG_PATTERN and slug["maxLength"] == 30
    return document


# Built when the module is collected (the apps are only built, not started): schemathesis's
# fixture-loaded schemas (`from_fixture`) do not run on pytest 9.2, which renamed the node
# attribute they rewrite.
data_plane_api = schemathesis.openapi.from_dict(data_plane_openapi())
control_plane_api = schemathesis.openapi.from_dict(control_plane_openapi())


@pytest.fixture(scope="module")
def plane(module_database: str, module_bucket: S3Tenant,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataPlaneHarness]:
    with DataPlaneHarness("fuzz", module_database, tmp_path_factory.mktemp("dp"),
                          s3=module_bucket) as harness:
        yield harness


@pytest.fixture(scope="module")
def known_ids(plane: DataPlaneHarness, tmp_path_factory: pytest.TempPathFactory
              ) -> dict[str, str]:
    """A batch and a document that exist: well-formed ids in fuzzed paths are replaced by them
    (a random UUID only ever reaches the 404 branch)."""
    note = tmp_path_factory.mktemp("files") / "fuzz-note.md"
    note.write_text("# Fuzzing\n\nOne document, so that reads, reports and erasure have one.\n")
    with plane.client() as client:
        receipt = submit(client, [note], client_ref="fuzz")
        wait_batch(client, receipt["batch_id"], timeout=300)
    return {"batch_id": str(receipt["batch_id"]),
            "document_id": str(receipt["documents"][0]["document_id"])}


def use_known(case: schemathesis.Case, known: dict[str, str], valid: Callable[[str], bool]
              ) -> None:
    """Point the case's path at things that exist where the fuzzer made a valid value."""
    for name, value in known.items():
        generated = case.path_parameters.get(name) if case.path_parameters else None
        if isinstance(generated, str) and valid(generated):
            case.path_parameters[name] = value


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@pytest.fixture(scope="module")
def control_plane(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[str]:
    from tests.served_control_plane import fake_provider_control_plane

    name, database_url = create_database(pg_admin_url, prefix="fbfuzzcp")
    try:
        with fake_provider_control_plane(database_url, tmp_path_factory.mktemp("cp"),
                                         ADMIN_TOKEN, name="fuzzed-control-plane") as cp:
            assert httpx.get(f"{cp.url}/readyz", timeout=10).status_code == 200
            created = httpx.post(f"{cp.url}/v1/tenants",
                                 json={"slug": TENANT, "display_name": "Fuzz"},
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)
            assert created.status_code == 202, created.text
            yield cp.url
    finally:
        drop_database(pg_admin_url, name)


@data_plane_api.parametrize()
@FUZZ
def test_data_plane_api_has_no_server_errors(case: schemathesis.Case, plane: DataPlaneHarness,
                                             known_ids: dict[str, str]) -> None:
    use_known(case, known_ids, is_uuid)
    if case.path.startswith(CONTROL_PREFIX) or case.path == "/metrics":
        headers = {"Authorization": f"Bearer {plane.control_key}",
                   "X-Frostbyte-Actor": "fuzz-admin"}
    else:
        headers = {"Authorization": f"Bearer {plane.key}"}
    try:
        response = case.call_and_validate(base_url=plane.url, headers=headers, timeout=120,
                                          checks=[not_a_server_error])
        ANSWERS.setdefault(f"data plane {case.operation.label}", set()).add(response.status_code)
    finally:
        if case.path == f"{CONTROL_PREFIX}/suspension" and case.method.upper() == "PUT":
            # a fuzzed suspension would turn every later /v1 case into a 403: resume
            with plane.control_client("fuzz-admin") as control:
                resumed = control.put(f"{CONTROL_PREFIX}/suspension", json={"suspended": False})
            assert resumed.status_code == 200, resumed.text


@control_plane_api.parametrize()
@FUZZ
def test_control_plane_api_has_no_server_errors(case: schemathesis.Case,
                                                control_plane: str) -> None:
    use_known(case, {"slug": TENANT}, lambda slug: re.fullmatch(SLUG_PATTERN, slug) is not None)
    response = case.call_and_validate(
        base_url=control_plane, timeout=60, checks=[not_a_server_error],
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    ANSWERS.setdefault(f"control plane {case.operation.label}", set()).add(response.status_code)


def test_the_fuzzed_requests_got_past_authentication() -> None:
    """Every operation fuzzed above was answered at least once by its route: a 401/403 for
    every case (405s come from the fuzzer trying other methods) would mean the fuzzer never got
    past authentication (a credential the apps stopped accepting), and the tests above would
    pass without testing anything."""
    if not ANSWERS:
        pytest.skip("no fuzzing test ran in this session")
    for label, codes in sorted(ANSWERS.items()):
        print(f"{label}: {sorted(codes)}")  # shown with -s: what the fuzzing reached
    only_refused = {label: sorted(codes) for label, codes in ANSWERS.items()
                    if codes - {405} <= {401, 403}}
    assert not only_refused, only_refused
