"""The shape of both OpenAPI documents (issue 17): what Swagger and a client generator need.

Each document is read from its app object, as ``/openapi.json`` serves it: every operation
has a stable ``operationId`` and (but the probes) the bearer security scheme; every 4xx/5xx
is the error envelope; statuses and reasons are enums with the wire values; every property
has a description; the vendor's document has no internal route; ``POST /v1/batches``
describes its multipart body."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from data_plane.domain.intake import BatchStatus, DocStatus, Reason

METHODS = ("get", "post", "put", "patch", "delete")
ENVELOPE = "#/components/schemas/ErrorEnvelope"


@pytest.fixture(scope="module")
def data_plane_doc() -> dict[str, Any]:
    from data_plane.api.app import create_app
    from data_plane.settings import DataPlaneSettings

    return create_app(DataPlaneSettings(tenant="shape", database_url=SecretStr("dbname=x"),
                                        object_store_root=Path("/nonexistent"))).openapi()


@pytest.fixture(scope="module")
def control_plane_doc() -> dict[str, Any]:
    from control_plane.api.app import create_app
    from control_plane.settings import ControlPlaneSettings

    return create_app(ControlPlaneSettings(database_url=SecretStr("dbname=x"))).openapi()


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in doc["paths"].items()
            for method, op in item.items() if method in METHODS]


def check_common_shape(doc: dict[str, Any], *, scheme: str, open_paths: set[str]) -> None:
    ops = operations(doc)
    ids = [op.get("operationId") for _, _, op in ops]
    assert all(ids), [f"{m} {p}" for m, p, op in ops if not op.get("operationId")]
    assert len(set(ids)) == len(ids), ids
    schemes = doc["components"]["securitySchemes"]
    assert schemes[scheme] == {"type": "http", "scheme": "bearer",
                               "description": schemes[scheme]["description"]}
    for method, path, op in ops:
        where = f"{method.upper()} {path}"
        params = {p["name"].lower() for p in op.get("parameters", [])}
        assert "authorization" not in params, where
        if path in open_paths:
            assert not op.get("security"), where
        else:
            assert op.get("security") == [{scheme: []}], where
            assert {"401", "403"} <= set(op["responses"]), where
        assert op.get("summary") and op.get("description"), where
        for status, response in op["responses"].items():
            if status[0] in "45":
                schema = response["content"]["application/json"]["schema"]
                if where == "GET /readyz" and status == "503":  # readiness says what is not
                    continue
                assert schema == {"$ref": ENVELOPE}, (where, status)
            elif status.startswith("2") and "application/json" in response.get("content", {}):
                schema = response["content"]["application/json"]["schema"]
                assert "$ref" in schema, (where, status, schema)  # a named model, not {}
        if params or "requestBody" in op:
            assert "422" in op["responses"], where
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for name, schema in doc["components"]["schemas"].items():
        for prop, spec in schema.get("properties", {}).items():
            assert spec.get("description"), f"{name}.{prop} has no description"


def test_the_data_plane_document(data_plane_doc: dict[str, Any]) -> None:
    doc = data_plane_doc
    check_common_shape(doc, scheme="VendorKey", open_paths={"/healthz", "/readyz"})
    assert not [p for p in doc["paths"] if p.startswith("/control/") or p == "/metrics"]
    ids = {op["operationId"] for _, _, op in operations(doc)}
    assert {"submit_batch", "list_batches", "get_batch", "get_report", "list_documents",
            "get_document", "delete_document", "search", "verify_audit_chain",
            "list_audit_events", "list_quarantine"} <= ids
    schemas = doc["components"]["schemas"]
    assert schemas["DocStatus"]["enum"] == [s.value for s in DocStatus]
    assert schemas["Reason"]["enum"] == [r.value for r in Reason]
    assert schemas["BatchStatus"]["enum"] == [s.value for s in BatchStatus]

    submit = doc["paths"]["/v1/batches"]["post"]
    body = submit["requestBody"]["content"]["multipart/form-data"]
    assert body["schema"]["required"] == ["manifest", "files"]
    assert body["schema"]["properties"]["manifest"]["$ref"] == "#/components/schemas/Manifest"
    assert body["schema"]["properties"]["files"]["items"]["format"] == "binary"
    assert body["encoding"]["manifest"]["contentType"] == "application/json"
    assert {"202", "401", "403", "409", "413", "422", "429"} <= set(submit["responses"])
    assert submit["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Receipt"}

    erase = doc["paths"]["/v1/documents/{document_id}"]["delete"]
    assert "202" in erase["responses"] and {"404", "409"} <= set(erase["responses"])
    report = doc["paths"]["/v1/batches/{batch_id}/report"]["get"]["responses"]["200"]
    assert {"application/json", "text/html", "text/csv"} <= set(report["content"])


def test_the_control_plane_document(control_plane_doc: dict[str, Any]) -> None:
    doc = control_plane_doc
    check_common_shape(doc, scheme="AdminToken",
                       open_paths={"/healthz", "/readyz", "/v1/tls/ca"})
    ids = {op["operationId"] for _, _, op in operations(doc)}
    assert {"create_tenant", "list_tenants", "get_tenant", "issue_vendor_key",
            "list_vendor_keys", "revoke_vendor_key", "rotate_secrets"} <= ids
    create = doc["paths"]["/v1/tenants"]["post"]
    assert {"202", "409", "422"} <= set(create["responses"])
    slug = doc["components"]["schemas"]["TenantCreate"]["properties"]["slug"]
    assert slug["pattern"] and slug["maxLength"] == 30
    assert doc["components"]["schemas"]["TenantState"]["enum"]
