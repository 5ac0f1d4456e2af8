"""`GET /v1/tenants/{slug}/quarantine` checks its `offset` itself: one past PostgreSQL's
bigint is the admin's error (422) at the control plane, instead of a request the tenant's
data plane refuses with 422 and the control plane then reports as its own 502."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.integration.control_plane.test_cp_api import (  # noqa: F401
    AUTH,
    active,
    assert_error,
    client,
    provider,
)


def test_an_offset_past_a_bigint_is_422(client: TestClient) -> None:  # noqa: F811
    active(client, "offsets")
    too_far = client.get("/v1/tenants/offsets/quarantine", params={"offset": 2**63},
                         headers=AUTH)
    assert_error(too_far, 422, "VALIDATION_FAILED")
    last = client.get("/v1/tenants/offsets/quarantine", params={"offset": 2**63 - 1},
                      headers=AUTH)
    assert last.status_code == 200, last.text
