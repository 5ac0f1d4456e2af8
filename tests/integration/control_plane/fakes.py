"""A fake Provider for control-plane tests: records calls, provisions instantly — and its
data planes' control routes (``/control/v1``) as an ``httpx.MockTransport``, which answer
only the control key the provider installed for that tenant."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from control_plane.domain.lifecycle import Tenant
from control_plane.errors import DataPlaneError, ProvisioningFailed
from control_plane.providers.base import JobOutput
from data_plane.domain.embedding_models import MINILM, find_model
from frostbyte_common import audit_checkpoint, audit_export
from frostbyte_common.tenant_config import TenantConfig


def fake_export(slug: str, *, tampered: bool = False) -> bytes:
    """A valid (empty: no events yet, nothing to sign) audit export of ``slug``; tampered,
    its manifest claims an event the file does not hold."""
    body = audit_export.manifest(tenant=slug, events=[], checkpoint=None,
                                 exported_at="2026-01-01T00:00:00+00:00")
    if tampered:
        body["count"] = 1
    return "".join(audit_export.export_lines(body, [])).encode()


def error(status: int, code: str) -> httpx.Response:
    """An answer of a fake data plane in the error envelope."""
    return httpx.Response(status, json={"error": {"code": code, "message": code,
                                                  "request_id": "fake"}})


class FakeProvider:
    """Tenants whose slug starts with ``fail`` fail to provision; ``nokey`` tenants refuse
    vendor keys (not the control plane's own control key). Provisioning, stopping and
    deprovisioning print a line of tool output each (``<slug>: <what> #<n>``, n counting every
    call), timed by this machine's clock."""

    name = "local"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.keys: dict[str, tuple[str, str, tuple[str, ...], str | None]] = {}
        self.configs: dict[str, TenantConfig] = {}
        self.healthy: set[str] = set()
        self.gone: set[str] = set()
        self.release = threading.Event()  # cleared: provisioning waits (up to hold_s)
        self.release.set()
        self.hold_s = 10.0
        self.endpoints: dict[str, str] = {}
        # the fake data planes: suspension, quarantined documents, audit (slug, actor, event)
        self.suspended: set[str] = set()
        self.quarantined: dict[str, dict[str, dict[str, Any]]] = {}
        self.audit: list[tuple[str, str, str]] = []
        # the key each fake data plane signs its audit with, and the rotations it recorded
        self.audit_keys: dict[str, Ed25519PrivateKey] = {}
        self.rotations: list[tuple[str, dict[str, Any]]] = []
        # re-embeddings: each one switches at once (the real one's states and shapes)
        self.reembeds: dict[str, dict[str, Any]] = {}
        self.transport = httpx.MockTransport(self._control_route)
        # audit export: "down" answers 503, "tampered" a body that does not verify
        self.export_fails: dict[str, str] = {}
        self.open_channels = 0
        self.output: dict[str, list[tuple[datetime, str]]] = {}
        self._printed = itertools.count(1)

    def _print(self, slug: str, what: str) -> None:
        self.output.setdefault(slug, []).append(
            (datetime.now(UTC), f"{slug}: {what} #{next(self._printed)}"))

    def quarantine(self, slug: str, name: str) -> str:
        """Put a quarantined document in the tenant's fake data plane; its id."""
        document_id = str(uuid.uuid4())
        self.quarantined.setdefault(slug, {})[document_id] = {
            "document_id": document_id, "name": name, "status": "QUARANTINED",
            "reason": "MALWARE_DETECTED"}
        return document_id

    def _control_route(self, request: httpx.Request) -> httpx.Response:
        presented = request.headers.get("authorization", "").removeprefix("Bearer ")
        sha = hashlib.sha256(presented.encode()).hexdigest()
        owners = [slug for slug, digest, scopes, _ in self.keys.values()
                  if digest == sha and scopes == ("control",)]
        base = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
        if not owners or self.endpoints.get(owners[0]) != base:
            return error(401, "UNAUTHENTICATED")
        slug, actor = owners[0], f"admin:{request.headers['x-frostbyte-actor']}"
        path = request.url.path.removeprefix("/control/v1")
        if path == "/suspension" and request.method == "PUT":
            wanted = json.loads(request.content)["suspended"]
            changed = wanted != (slug in self.suspended)
            if changed:
                self.audit.append((slug, actor, "tenant.suspended" if wanted
                                   else "tenant.resumed"))
            (self.suspended.add if wanted else self.suspended.discard)(slug)
            return httpx.Response(200, json={"suspended": wanted, "changed": changed})
        if path == "/audit/key" and request.method == "GET":
            public = audit_checkpoint.public_key_text(self.audit_key(slug))
            return httpx.Response(200, json={"key_id": audit_checkpoint.key_id_of(public),
                                             "public_key": public})
        if path == "/audit/rotation" and request.method == "POST":
            self.audit.append((slug, actor, "secrets.rotated"))
            rotation = json.loads(request.content)
            self.rotations.append((slug, rotation))
            key_id = audit_checkpoint.key_id_of(
                audit_checkpoint.public_key_text(self.audit_key(slug)))
            return httpx.Response(201, json={"seq": len(self.audit),
                                             "event_type": "secrets.rotated",
                                             "payload": {**rotation, "audit_key_id": key_id}})
        if path == "/audit/export" and request.method == "POST":
            how = self.export_fails.get(slug)
            if how == "down":
                return error(503, "SERVICE_UNAVAILABLE")
            self.audit.append((slug, actor, "audit.exported"))
            return httpx.Response(200, content=fake_export(slug, tampered=how == "tampered"),
                                  headers={"content-type": "application/x-ndjson"})
        if path == "/reembed":
            return self._reembed(slug, actor, request)
        docs = self.quarantined.setdefault(slug, {})
        if path == "/quarantine" and request.method == "GET":
            return httpx.Response(200, json={"documents": list(docs.values()),
                                             "limit": 50, "offset": 0})
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == "quarantine" and request.method == "POST":
            doc = docs.pop(parts[2], None)
            if doc is None:
                return error(404, "DOCUMENT_NOT_FOUND")
            status, event = (("ACCEPTED", "document.released") if parts[3] == "release"
                             else ("PURGED", "document.purged"))
            self.audit.append((slug, actor, event))
            return httpx.Response(200, json={"document_id": parts[2], "status": status})
        return error(404, "NOT_FOUND")

    def _reembed(self, slug: str, actor: str, request: httpx.Request) -> httpx.Response:
        """``/control/v1/reembed`` of the real data plane, done at once: POST switches the
        active collection to the model (422 for a model the registry lacks), GET reports."""
        latest = self.reembeds.get(slug)
        active = latest["model"] if latest else {"name": MINILM.name, "version": "fake",
                                                  "dimension": MINILM.dimension}
        if request.method == "POST":
            try:
                wanted = json.loads(request.content)["model"]
            except (ValueError, KeyError, TypeError):
                return error(422, "VALIDATION_FAILED")
            spec = find_model(wanted) if isinstance(wanted, str) else None
            if spec is None:
                return error(422, "EMBEDDING_MODEL_UNKNOWN")
            now = datetime.now(UTC).isoformat()
            model = {"name": spec.name, "version": spec.version or "fake",
                     "dimension": spec.dimension}
            latest = self.reembeds[slug] = {
                "reembed_id": str(uuid.uuid4()), "state": "SWITCHED",
                "collection": f"chunks_{uuid.uuid4().hex[:8]}", "model": model,
                "from": {"collection": "chunks", "model": active["name"]},
                "chunks_total": 0, "chunks_done": 0, "error": None, "actor": actor,
                "started_at": now, "finished_at": now}
            self.audit.append((slug, actor, "embedding.switched"))
            active = model
        elif request.method != "GET":
            return error(405, "METHOD_NOT_ALLOWED")
        return httpx.Response(202 if request.method == "POST" else 200, json={
            "reembed": latest,
            "active": {"collection": latest["collection"] if latest else "chunks",
                       "model": active}})

    def audit_key(self, slug: str) -> Ed25519PrivateKey:
        return self.audit_keys.setdefault(slug, Ed25519PrivateKey.generate())

    def provision(self, tenant: Tenant, config: TenantConfig) -> str:
        self.calls.append(("provision", tenant.slug))
        self._print(tenant.slug, "provisioning")
        self.release.wait(timeout=self.hold_s)
        if tenant.slug.startswith("fail"):
            raise ProvisioningFailed("the fake disk is full")
        self.configs[tenant.slug] = config
        self.healthy.add(tenant.slug)
        return self.endpoints.setdefault(tenant.slug,
                                         f"http://127.0.0.1:{8100 + len(self.configs)}")

    def start(self, tenant: Tenant, config: TenantConfig) -> str:
        self.calls.append(("start", tenant.slug))
        self.healthy.add(tenant.slug)
        assert tenant.endpoint is not None
        return tenant.endpoint

    def is_healthy(self, tenant: Tenant) -> bool:
        return tenant.slug in self.healthy

    def tls_fingerprint(self, tenant: Tenant) -> str | None:
        return None  # the fake endpoints serve plain HTTP

    def apply_secrets(self, tenant: Tenant, config: TenantConfig) -> str:
        self.calls.append(("apply_secrets", tenant.slug))
        self.healthy.add(tenant.slug)
        assert tenant.endpoint is not None
        return tenant.endpoint

    def stop(self, tenant: Tenant) -> list[str]:
        self.calls.append(("stop", tenant.slug))
        self._print(tenant.slug, "stopping")
        self.healthy.discard(tenant.slug)
        return [tenant.slug]

    @contextlib.contextmanager
    def control_channel(self, tenant: Tenant) -> Iterator[str]:
        """The fake data plane is reachable on its endpoint, like a local one; counts the
        channels open so tests can see each one closed."""
        if not tenant.endpoint:
            raise DataPlaneError(f"tenant {tenant.slug!r} has no data plane endpoint")
        self.open_channels += 1
        try:
            yield tenant.endpoint
        finally:
            self.open_channels -= 1

    def install_vendor_key(
        self, tenant: Tenant, key_id: str, sha256: str, scopes: Sequence[str], label: str | None
    ) -> None:
        self.calls.append(("install_vendor_key", tenant.slug))
        if tenant.slug.startswith("nokey") and tuple(scopes) != ("control",):
            raise DataPlaneError("the fake data plane refused the key")
        self.keys[key_id] = (tenant.slug, sha256, tuple(scopes), label)

    def revoke_vendor_key(self, tenant: Tenant, key_id: str) -> None:
        self.calls.append(("revoke_vendor_key", tenant.slug))
        self.keys.pop(key_id, None)

    def deprovision(self, tenant: Tenant) -> None:
        self.calls.append(("deprovision", tenant.slug))
        self._print(tenant.slug, "destroying")
        self.healthy.discard(tenant.slug)
        self.gone.add(tenant.slug)

    def verify_deprovisioned(self, tenant: Tenant) -> dict[str, bool]:
        """``leaky`` tenants keep their database."""
        gone = tenant.slug in self.gone
        return {"database": gone and not tenant.slug.startswith("leaky"), "files": gone}

    def job_output(self, tenant: Tenant, since: datetime, until: datetime | None,
                   limit: int) -> JobOutput:
        lines = [text for at, text in self.output.get(tenant.slug, [])
                 if at >= since and (until is None or at <= until)]
        return JobOutput(lines=tuple(lines[-limit:] if limit > 0 else []), total=len(lines))
