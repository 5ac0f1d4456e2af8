"""An in-memory stand-in for both APIs, served through ``httpx.MockTransport``."""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from frostbyte_cli.client import RetryPolicy

NO_WAIT = RetryPolicy(attempts=3, backoff=lambda attempt: 0.0, sleep=lambda seconds: None)


@dataclass
class Part:
    name: str
    filename: str | None
    content: bytes


def multipart_parts(request: httpx.Request) -> list[Part]:
    """The parts of a multipart/form-data request body, in order."""
    body = request.read()
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    parts = []
    for part in message.iter_parts():
        parts.append(Part(name=str(part.get_param("name", header="content-disposition")),
                          filename=part.get_filename(),
                          content=part.get_payload(decode=True) or b""))
    return parts


def error(status: int, code: str, message: str = "nope") -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message,
                                                  "request_id": "req-123"}})


@dataclass
class FakeApis:
    """Control plane at http://cp.test, one tenant endpoint at http://acme.test.

    ``tenant_states`` is the sequence of states successive GETs of a new tenant report;
    ``batch_polls`` the successive document statuses of the last submitted batch."""

    admin_token: str = "admin-secret"
    vendor_key: str = "fbk_test"
    tenants: dict[str, dict[str, Any]] = field(default_factory=dict)
    tenant_states: list[str] = field(default_factory=lambda: ["PROVISIONING", "ACTIVE"])
    batch_polls: list[list[tuple[str, str | None]]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    manifests: list[dict[str, Any]] = field(default_factory=list)
    uploads: list[Part] = field(default_factory=list)
    known_hashes: set[str] = field(default_factory=set)
    search_hits: int = 2
    last_receipt: dict[str, Any] = field(default_factory=dict)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        host = request.url.host
        token = request.headers.get("authorization", "")
        if host == "cp.test":
            if token != f"Bearer {self.admin_token}":
                return error(401, "UNAUTHENTICATED", "admin token required")
            return self._control_plane(request)
        if host == "acme.test":
            if token != f"Bearer {self.vendor_key}":
                return error(401, "UNAUTHENTICATED", "the vendor key is not valid")
            return self._tenant(request)
        raise httpx.ConnectError("no route", request=request)

    # -- control plane --
    def _tenant_body(self, slug: str) -> dict[str, Any]:
        t = self.tenants[slug]
        return {"slug": slug, "display_name": t["display_name"], "state": t["state"],
                "provider": "local",
                "endpoint": "http://acme.test" if t["state"] == "ACTIVE" else None,
                "config": {}, "created_at": "2025-01-01T00:00:00Z",
                "updated_at": "2025-01-01T00:00:00Z"}

    def _control_plane(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path == "/v1/tenants":
            body = json.loads(request.content)
            if body["slug"] in self.tenants:
                return error(409, "TENANT_EXISTS", f"tenant {body['slug']} exists")
            self.tenants[body["slug"]] = {"display_name": body["display_name"],
                                          "state": "REQUESTED",
                                          "states": list(self.tenant_states)}
            return httpx.Response(202, json=self._tenant_body(body["slug"]))
        if request.method == "GET" and path == "/v1/tenants":
            return httpx.Response(200, json={"tenants": [self._tenant_body(s)
                                                         for s in self.tenants]})
        parts = path.split("/")
        slug = parts[3] if len(parts) > 3 else ""
        if slug not in self.tenants:
            return error(404, "TENANT_NOT_FOUND", f"no tenant {slug}")
        if request.method == "GET" and len(parts) == 4:
            t = self.tenants[slug]
            if t["states"]:
                t["state"] = t["states"].pop(0)
            return httpx.Response(200, json=self._tenant_body(slug))
        if request.method == "POST" and path.endswith("/vendor-keys"):
            body = json.loads(request.content)
            return httpx.Response(201, json={"key_id": "k1", "key": self.vendor_key,
                                             "scopes": body["scopes"],
                                             "label": body.get("label")})
        return error(404, "NOT_FOUND", path)

    # -- tenant endpoint --
    def _tenant(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path == "/v1/batches":
            parts = multipart_parts(request)
            assert parts[0].name == "manifest", "the manifest part must come first"
            manifest = json.loads(parts[0].content)
            self.manifests.append(manifest)
            self.uploads.extend(parts[1:])
            docs = []
            for i, part in enumerate(parts[1:]):
                sha = hashlib.sha256(part.content).hexdigest()
                declared = manifest["files"][i]["sha256"]
                if sha in self.known_hashes:
                    status, reason = "REJECTED", "DUPLICATE"
                elif sha != declared:
                    status, reason = "REJECTED", "CHECKSUM_MISMATCH"
                else:
                    status, reason = "ACCEPTED", None
                docs.append({"name": part.filename, "document_id": f"doc-{i}", "sha256": sha,
                             "declared_sha256": declared, "status": status, "reason": reason})
            self.last_receipt = {"batch_id": "b-1", "received_at": "now", "documents": docs}
            return httpx.Response(202, json=self.last_receipt)
        if request.method == "GET" and path == "/v1/batches/b-1":
            docs = [dict(d) for d in self.last_receipt["documents"]]
            if self.batch_polls:
                for d, (status, reason) in zip(docs, self.batch_polls.pop(0), strict=True):
                    d["status"], d["reason"] = status, reason
            done = all(d["status"] in ("INDEXED", "REJECTED", "FAILED", "QUARANTINED")
                       for d in docs)
            bad = any(d["status"] != "INDEXED" and d["reason"] != "DUPLICATE" for d in docs)
            status = ("COMPLETED_WITH_ERRORS" if bad else "COMPLETED") if done else "PROCESSING"
            self.last_receipt["documents"] = docs
            return httpx.Response(200, json={"batch_id": "b-1", "status": status,
                                             "documents": docs})
        if request.method == "GET" and path == "/v1/batches/b-1/report":
            fmt = request.url.params.get("format", "json")
            if fmt == "csv":
                return httpx.Response(200, text="name,status\na.txt,INDEXED\n",
                                      headers={"content-type": "text/csv"})
            if fmt == "html":
                return httpx.Response(200, text="<html>report</html>")
            return httpx.Response(200, json={"batch_id": "b-1", "counts": {"files": 1}})
        if request.method == "POST" and path == "/v1/search":
            body = json.loads(request.content)
            hits = [{"chunk_id": f"c{i}", "document_id": "doc-0",
                     "document_name": "annual-safety-report.pdf",
                     "text": "Fire extinguishers were inspected.",
                     "text_enveloped": "<document>…</document>",
                     "heading_path": ["Findings", "Extinguishers"], "page": 2, "sheet": None,
                     "score": 0.8123 - i / 10, "content_sha256": f"{i}" * 64}
                    for i in range(min(self.search_hits, body["top_k"]))]
            return httpx.Response(200, json={
                "hits": hits,
                "proof": {"query_sha256": hashlib.sha256(body["query"].encode()).hexdigest(),
                          "index": {"model": "all-MiniLM-L6-v2", "version": "1",
                                    "dimension": 384},
                          "chunk_hashes": [h["content_sha256"] for h in hits],
                          "audit_seq": 42, "audit_hash": "ab" * 32}})
        if request.method == "GET" and path == "/v1/audit/verify":
            return httpx.Response(200, json={"ok": True, "events": 42, "head_hash": "ab" * 32})
        return error(404, "NOT_FOUND", path)
