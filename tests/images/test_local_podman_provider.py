"""The local provider's podman engine (SPEC §4) on the images `make images` built: a tenant
provisioned as its own container set, reached over HTTPS verified with the control plane's CA,
its vendor keys installed inside the set, a rotation that re-keys the set's database and
re-issues its certificate, and a deprovision that leaves no container, volume, network or
secret file behind."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tomllib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from control_plane.domain.lifecycle import Tenant, TenantState
from control_plane.domain.tenant_secrets import generate_tenant_secrets
from control_plane.providers.local import port_free
from control_plane.providers.local_podman import LocalPodmanProvider, project_name
from frostbyte_common import tls
from frostbyte_common.tenant_config import TenantConfig
from frostbyte_common.vendor_keys import generate_key
from tests.e2e.harness import search_hits, submit, wait_batch
from tests.unit.control_plane.doubles import InMemorySecrets

pytestmark = pytest.mark.images

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _images_present() -> bool:
    out = subprocess.run(["podman", "image", "exists", f"localhost/frostbyte/gateway:{VERSION}"],
                         env={"CONTAINERS_CONF": str(ROOT / "images/containers.conf"),
                              "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}, check=False)
    return out.returncode == 0


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[LocalPodmanProvider]:
    if shutil.which("podman") is None or not _images_present():
        pytest.skip("the image set is not built here: run `make images` (make test-images does)")
    start = next(p for p in range(18600, 18700, 5) if all(
        port_free("127.0.0.1", q) for q in range(p, p + 5)))
    yield LocalPodmanProvider(state_dir=tmp_path / "state", port_range=range(start, start + 5),
                              secrets=InMemorySecrets(), ready_timeout_s=900,
                              allow_test_signatures=True)  # the set gets the test ones


def _tenant(slug: str) -> Tenant:
    now = datetime.now(UTC)
    return Tenant(slug=slug, display_name=slug, provider="local-podman",
                  state=TenantState.PROVISIONING, config={}, created_at=now, updated_at=now)


def test_a_tenant_as_its_own_container_set(provider: LocalPodmanProvider) -> None:
    tenant = _tenant(f"pod{uuid.uuid4().hex[:6]}")
    secrets = provider._secrets
    secrets.put(tenant.slug, generate_tenant_secrets())
    try:
        tenant.endpoint = provider.provision(tenant, TenantConfig())
        port = int(tenant.endpoint.rsplit(":", 1)[1])
        ca = provider._authority.certificate_pem()
        trust = tls.client_context(ca)
        presented = ssl.get_server_certificate(("127.0.0.1", port))
        assert provider.tls_fingerprint(tenant) == tls.fingerprint(presented)
        assert tls.signed_by(presented, ca)
        containers = provider._containers(tenant.slug)
        assert {c.split("_")[1] if "_" in c else c for c in containers} >= {"gateway", "api"}
        # only the gateway publishes a port; the secrets are files in memory, not on disk
        published = subprocess.run(["podman", "ps", "--filter",
                                    f"label=com.docker.compose.project={project_name(tenant.slug)}",
                                    "--format", "{{.Names}} {{.Ports}}"],
                                   env=provider._engine.env, capture_output=True, text=True,
                                   check=True).stdout.splitlines()
        assert [line.split()[0] for line in published if "->" in line] == [
            n for n in containers if "gateway" in n]
        assert str(provider._secrets_dir(tenant.slug)).startswith("/dev/shm/")

        key = generate_key()
        provider.install_vendor_key(tenant, key.key_id, key.sha256, ["ingest", "read"], "pod")
        with httpx.Client(base_url=tenant.endpoint, verify=trust, timeout=120,
                          headers={"Authorization": f"Bearer {key.key}"}) as client:
            batch = submit(client, [ROOT / "samples" / "parking-permit-faq.txt"])
            done = wait_batch(client, batch["batch_id"], 600)
            assert {d["status"] for d in done["documents"]} == {"INDEXED"}, done
            hits = search_hits(client, "who can apply for a parking permit")
            assert hits[0]["document_name"] == "parking-permit-faq.txt"

        first = provider.tls_fingerprint(tenant)
        secrets.put(tenant.slug, generate_tenant_secrets(previous=secrets.get(tenant.slug)))
        assert provider.apply_secrets(tenant, TenantConfig()) == tenant.endpoint
        assert provider.tls_fingerprint(tenant) not in (None, first)
        with httpx.Client(base_url=tenant.endpoint, verify=trust, timeout=60,
                          headers={"Authorization": f"Bearer {key.key}"}) as client:
            assert client.get("/v1/documents").status_code == 200  # data and keys kept
        provider.revoke_vendor_key(tenant, key.key_id)
        with httpx.Client(base_url=tenant.endpoint, verify=trust, timeout=60) as client:
            assert client.get("/v1/documents", headers={
                "Authorization": f"Bearer {key.key}"}).status_code == 401
    finally:
        provider.deprovision(tenant)
    assert provider.verify_deprovisioned(tenant) == {
        "containers": True, "volumes": True, "networks": True, "secret_files": True,
        "endpoint": True, "tenant_dir": True}
