"""Issue 17: a Python client generated from the control plane's served ``/openapi.json``
(openapi-python-client, unedited) creates a tenant, sees it become ACTIVE and issues a vendor
key; its errors come back as the documented envelope. The app served by uvicorn on loopback,
its registry in a real PostgreSQL database, the test FakeProvider (as the API's other
integration tests)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.openapi_support import call, generate_client, module
from tests.served_control_plane import fake_provider_control_plane

from .test_cp_api import AUTH, TOKEN


@pytest.fixture
def url(fresh_database: str, tmp_path: Path) -> Iterator[str]:
    """The control plane on loopback (uvicorn in a thread)."""
    with fake_provider_control_plane(fresh_database, tmp_path / "state", TOKEN,
                                     name="generated-client-cp") as cp:
        yield cp.url


def test_a_generated_client_creates_a_tenant_and_issues_a_vendor_key(
        url: str, tmp_path: Path) -> None:
    served = httpx.get(f"{url}/openapi.json", headers=AUTH, timeout=30)
    assert served.status_code == 200, served.text
    client_pkg = generate_client(served.json(), tmp_path / "generated", "frostbyte_cp_client")
    models = module(client_pkg, "models")
    client = client_pkg.AuthenticatedClient(base_url=url, token=TOKEN, timeout=30.0)

    created = call(client_pkg, "create_tenant", client=client, body=models.TenantCreate(
        slug="genco", display_name="Generated Co"))
    assert isinstance(created, models.TenantOut) and created.slug == "genco"
    deadline = time.monotonic() + 15
    tenant = created
    while tenant.state != models.TenantState.ACTIVE:
        assert time.monotonic() < deadline, tenant.state
        time.sleep(0.05)
        tenant = call(client_pkg, "get_tenant", "genco", client=client)
    assert tenant.endpoint

    issued = call(client_pkg, "issue_vendor_key", "genco", client=client,
                  body=models.VendorKeyCreate(scopes=[models.VendorKeyCreateScopesItem.INGEST,
                                                      models.VendorKeyCreateScopesItem.READ],
                                              label="generated"))
    assert isinstance(issued, models.VendorKeyIssued)
    assert issued.key.startswith("fbk_") and sorted(issued.scopes) == ["ingest", "read"]
    listed = call(client_pkg, "list_vendor_keys", "genco", client=client)
    assert [k.key_id for k in listed.vendor_keys] == [issued.key_id]

    # errors are the envelope, parsed into the generated model
    again = call(client_pkg, "create_tenant", client=client, body=models.TenantCreate(
        slug="genco", display_name="Again"))
    assert isinstance(again, models.ErrorEnvelope) and again.error.code == "TENANT_EXISTS"
    anonymous = client_pkg.Client(base_url=url, timeout=30.0)
    refused = call(client_pkg, "list_tenants", client=anonymous)
    assert isinstance(refused, models.ErrorEnvelope)
    assert refused.error.code == "UNAUTHENTICATED" and refused.error.request_id

