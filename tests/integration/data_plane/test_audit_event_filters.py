"""`GET /v1/audit/events` on a real PostgreSQL chain: a text filter PostgreSQL cannot hold
(a NUL character, as schemathesis sent in tests/e2e/test_openapi_fuzz.py) is the caller's
error, 422 in the error envelope, not a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.integration.data_plane.test_audit_api import _app, chain_db  # noqa: F401


@pytest.mark.parametrize("name", ["document_id", "batch_id", "type", "actor"])
def test_a_filter_with_a_nul_character_is_422(chain_db: str, name: str) -> None:  # noqa: F811
    with TestClient(_app(chain_db), raise_server_exceptions=False) as client:
        response = client.get("/v1/audit/events", params={name: "doc\x00ument"})
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_FAILED" and name in error["message"]
        assert error["request_id"]
        # the same filter without the NUL is an ordinary (empty) answer
        assert client.get("/v1/audit/events", params={name: "document"}).json()["events"] == []
