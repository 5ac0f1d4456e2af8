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
    #: receipts by batch id (b-1, b-2, ... in the order received)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Idempotency-Key -> (the manifest part as sent, the batch it names)
    idempotency: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    #: answers given to the next POSTs of a batch instead of taking it (429, 503, ...)
    refusals: list[httpx.Response] = field(default_factory=list)
    #: GET of a batch marks its ACCEPTED documents INDEXED (when no batch_polls are left)
    index_on_poll: bool = False
    #: what GET /v1/audit/proof/{seq} answers (see tests)
    proofs: dict[int, dict[str, Any]] = field(default_factory=dict)
    export_body: bytes = b'{"manifest": true}\n{"seq": 1}\n'

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
            if self.refusals:
                request.read()
                return self.refusals.pop(0)
            parts = multipart_parts(request)
            assert parts[0].name == "manifest", "the manifest part must come first"
            manifest = json.loads(parts[0].content)
            key = request.headers.get("idempotency-key")
            if key is not None and key in self.idempotency:
                first, batch_id = self.idempotency[key]
                if first != manifest:
                    return error(409, "IDEMPOTENCY_KEY_REUSED", "another manifest")
                return httpx.Response(202, json=self.batches[batch_id],
                                      headers={"Idempotent-Replayed": "true"})
            self.manifests.append(manifest)
            self.uploads.extend(parts[1:])
            batch_id = f"b-{len(self.batches) + 1}"
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
            self.last_receipt = {"batch_id": batch_id, "received_at": "now", "documents": docs}
            self.batches[batch_id] = self.last_receipt
            if key is not None:
                self.idempotency[key] = (manifest, batch_id)
            return httpx.Response(202, json=self.last_receipt)
        if request.method == "GET" and path == "/v1/batches":
            return httpx.Response(200, json={
                "batches": [self._batch_body(b) for b in reversed(self.batches.values())],
                "limit": int(request.url.params.get("limit", 50)),
                "offset": int(request.url.params.get("offset", 0))})
        if (request.method == "GET" and path.startswith("/v1/batches/")
                and path.count("/") == 3 and path != "/v1/batches/b-1"):
            batch = self.batches.get(path.rsplit("/", 1)[1])
            if batch is None:
                return error(404, "BATCH_NOT_FOUND", path)
            if self.index_on_poll:
                for d in batch["documents"]:
                    if d["status"] == "ACCEPTED":
                        d["status"] = "INDEXED"
            return httpx.Response(200, json=self._batch_body(batch))
        if request.method == "GET" and path == "/v1/batches/b-1":
            receipt = self.batches.get("b-1", self.last_receipt)
            docs = [dict(d) for d in receipt["documents"]]
            if self.batch_polls:
                for d, (status, reason) in zip(docs, self.batch_polls.pop(0), strict=True):
                    d["status"], d["reason"] = status, reason
            elif self.index_on_poll:
                for d in docs:
                    if d["status"] == "ACCEPTED":
                        d["status"] = "INDEXED"
            receipt["documents"] = docs
            return httpx.Response(200, json=self._batch_body(receipt))
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
        if request.method == "GET" and path in ("/v1/documents", "/v1/quarantine"):
            status = "QUARANTINED" if path == "/v1/quarantine" else "INDEXED"
            return httpx.Response(200, json={"documents": [
                {"document_id": "0b5e5b2c-0000-4000-8000-000000000001", "batch_id": "b-1",
                 "name": "[bold]report[/].pdf", "status": status,
                 "reason": "MALWARE_DETECTED" if status == "QUARANTINED" else None,
                 "malware_signature": "Eicar-Test-Signature", "parser": "docling",
                 "page_count": 3, "chunk_count": 7, "created_at": "2026-12-01T00:00:00Z"}],
                "limit": int(request.url.params.get("limit", 50)),
                "offset": int(request.url.params.get("offset", 0))})
        if request.method == "GET" and path.startswith("/v1/documents/"):
            document_id = path.rsplit("/", 1)[1]
            if document_id != "0b5e5b2c-0000-4000-8000-000000000001":
                return error(404, "DOCUMENT_NOT_FOUND", f"no parsed document {document_id}")
            return httpx.Response(200, json={"document_id": document_id,
                                             "elements": [{"type": "heading", "text": "A"}]})
        if request.method == "GET" and path == "/v1/audit/events":
            after = int(request.url.params.get("after_seq", 0))
            limit = int(request.url.params.get("limit", 100))
            seqs = [s for s in range(1, 6) if s > after][:limit]
            events = [{"seq": s, "event_type": "batch.received", "actor": "vendor_key:k1",
                       "occurred_at": "2026-12-01T00:00:00Z",
                       "subject": {"kind": "batch", "id": "b-1"}} for s in seqs]
            nxt = seqs[-1] if len(seqs) == limit and seqs[-1] < 5 else None
            return httpx.Response(200, json={"events": events, "next_after_seq": nxt})
        if request.method == "GET" and path.startswith("/v1/audit/proof/"):
            seq = int(path.rsplit("/", 1)[1])
            if seq not in self.proofs:
                return error(404, "AUDIT_EVENT_NOT_FOUND", f"no audit event with seq {seq}")
            return httpx.Response(200, json=self.proofs[seq])
        if request.method == "POST" and path == "/v1/audit/export":
            return httpx.Response(200, content=self.export_body,
                                  headers={"content-type": "application/x-ndjson"})
        return error(404, "NOT_FOUND", path)

    @staticmethod
    def _batch_body(receipt: dict[str, Any]) -> dict[str, Any]:
        docs = receipt["documents"]
        done = all(d["status"] in ("INDEXED", "REJECTED", "FAILED", "QUARANTINED")
                   for d in docs)
        bad = any(d["status"] != "INDEXED" and d["reason"] != "DUPLICATE" for d in docs)
        status = ("COMPLETED_WITH_ERRORS" if bad else "COMPLETED") if done else "PROCESSING"
        return {"batch_id": receipt["batch_id"], "status": status, "documents": docs,
                "client_ref": "ref", "received_at": "now"}
