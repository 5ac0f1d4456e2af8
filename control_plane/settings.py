"""The control plane's one settings model. Built by the entrypoint (``python -m control_plane
serve``) or handed in by tests — never at import. Every field is an environment variable
``FROSTBYTE_CP_<FIELD>``."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_RANGE_RE = re.compile(r"^(\d{1,5})-(\d{1,5})$")


class ControlPlaneSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FROSTBYTE_CP_", extra="ignore")

    database_url: SecretStr = Field(
        description="libpq conninfo (or URI) of the control plane's own registry database."
    )
    admin_database_url: SecretStr | None = Field(
        None,
        description="libpq conninfo of a superuser (or CREATEROLE+CREATEDB) connection the "
        "local provider uses to create tenant roles and databases; default: database_url.",
    )
    admin_token_sha256: str | None = Field(
        None,
        description="Hex SHA-256 of an admin bearer token registered at start-up (the token "
        "itself is never stored). Unset: the first start creates a token and prints it once.",
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    header_timeout_s: float = Field(
        10.0, gt=0, description="Seconds a client has to send a request's line and headers; "
        "past it the connection is closed (clients trickling headers hold no connection).")
    body_timeout_s: float = Field(
        30.0, gt=0, description="Seconds a request body (at most 64 KiB) has to arrive "
        "whole; past it 408 REQUEST_TIMEOUT.")
    keep_alive_timeout_s: int = Field(
        5, gt=0, description="Seconds an idle connection is kept open between requests.")
    max_concurrency: int = Field(
        100, gt=0, description="Connections and requests the server takes at once; past it "
        "503.")
    state_dir: Path = Field(
        Path(".local"), description="Where the local provider keeps tenant folders."
    )
    data_plane_python: Path = Field(
        default_factory=lambda: Path(sys.executable),
        description="Python executable that runs `python -m data_plane` for local tenants.",
    )
    data_plane_port_range: str = Field(
        "8101-8199", description="Loopback ports the local provider hands out, inclusive."
    )
    data_plane_ready_timeout_s: float = Field(
        180.0, gt=0, description="How long a local data plane may take to report /readyz."
    )
    data_plane_stop_grace_s: float = Field(10.0, ge=0)
    local_engine: Literal["process", "podman"] = Field(
        "process", description="How provider `local` runs a tenant: `process` (processes on "
        "this machine, the default) or `podman` (the tenant's container set from images/, as "
        "provider `local-podman` does for the tenants that ask for it).")
    clamd_signatures: Path | None = Field(
        None, description="Folder of the ClamAV signatures every local tenant's clamd loads "
        "in place (freshclam's /var/lib/clamav, or an offline bundle's clamav/). Unset: "
        "what `python -m data_plane clamd-info` names: /var/lib/clamav when it holds an "
        "official main and daily database, else the project's test signatures.")
    clamd_allow_test_signatures: bool = Field(
        False, description="Let local tenants be ready with only the project's test "
        "signatures (the test suite, `make demo`): passed to their data planes as "
        "FROSTBYTE_DP_CLAMD_ALLOW_TEST_SIGNATURES. Off: such a tenant's /readyz is 503.")
    local_shared_account: bool = Field(
        False, description="Run every local (`process` engine) tenant as the control "
        "plane's own Unix user: NO ISOLATION between tenants, for development only. Unset, "
        "the control plane must run as root: each tenant gets a Unix account of its own.")
    local_tenant_memory_bytes: int = Field(
        1536 * 1024 * 1024, ge=0, description="Memory one more local tenant needs (API, "
        "worker, a parser child, clamd); a new tenant is refused (503 INSUFFICIENT_CAPACITY) "
        "when /proc/meminfo's MemAvailable is below it.")
    local_idle_stop_s: float = Field(
        300.0, ge=0, description="Seconds a local tenant may be idle before its data plane "
        "drops its heavy parts: the worker, light until its first document, re-executes "
        "itself without the pipeline; the API stops its query-embedding child (passed as "
        "FROSTBYTE_DP_IDLE_STOP_S). The API, clamd and the gateway keep running, so /readyz "
        "stays green. 0: loaded at start and kept.")
    job_concurrency: int = Field(
        4, gt=0, description="Tenant jobs (provision, start, deprovision, ...) the control "
        "plane runs at once; jobs of one tenant never overlap.")
    s3_endpoint: str | None = Field(
        None, description="The S3 server (SeaweedFS) on which the local provider gives each "
        "tenant a bucket and a key of its own; `frostbyte local up` starts one and sets it. "
        "Unset: local tenants get the filesystem test double.")
    s3_master: str | None = Field(
        None, description="The SeaweedFS master as `weed shell -master` takes it "
        "(`host:port.grpcPort`): tenants' keys are set through it.")
    s3_admin_access_key: str | None = Field(
        None, description="The S3 server's admin identity: it creates tenants' buckets and keys.")
    s3_admin_secret_key: SecretStr | None = None
    log_level: str = "INFO"
    health_poll_interval_s: float = Field(
        30.0, ge=0, description="Seconds between two health polls of every ACTIVE tenant's "
        "data plane (its readiness, recorded and exported); a local tenant found not ready "
        "is restarted, with backoff. 0: no polling.")
    drift_check_interval_s: float = Field(
        6 * 3600.0, ge=0, description="Seconds between two drift checks (a preview of "
        "`pulumi refresh`) of every hetzner tenant's stack; drift is an `infra.drift` "
        "event. 0: no drift checks.")
    backup_check_interval_s: float = Field(
        300.0, ge=0, description="Seconds between two passes of the backup scheduler, which "
        "backs up every tenant whose config's `backup.interval_hours` has passed since its "
        "last backup and prunes scheduled backups beyond `backup.keep`. 0: no scheduler.")
    console_session_ttl_s: int = Field(
        8 * 3600, ge=60, le=7 * 24 * 3600, description="Seconds an admin console session "
        "lasts after sign-in; then the admin signs in again.")
    console_secure_cookie: bool | None = Field(
        None, description="Mark the console's session cookie `Secure`. Unset: when the "
        "request came over HTTPS (the local control plane is plain HTTP on loopback, where "
        "browsers would drop a Secure cookie); set it true behind a TLS proxy.")

    # -- the hetzner provider: offered only when hetzner_token, hetzner_ssh_key_file and
    # hetzner_control_plane_addresses are all set (see docs/hetzner.md) ---------------------
    hetzner_token: SecretStr | None = Field(
        None, description="Hetzner Cloud API token; given to the Pulumi CLI as HCLOUD_TOKEN in its "
        "environment, never on a command line nor in stack config.")
    hetzner_ssh_key_file: Path | None = Field(
        None, description="The control plane's deploy key (private; its .pub beside it).")
    hetzner_control_plane_addresses: str | None = Field(
        None, description="Comma-separated public addresses SSH is allowed from.")
    hetzner_pulumi_backend_url: str | None = Field(
        None, description="Pulumi state backend; default file://<state_dir>/pulumi.")
    hetzner_pulumi_passphrase: SecretStr | None = Field(
        None, description="Passphrase of the stacks' secrets provider.")
    hetzner_network_pool: str = Field(
        "10.64.0.0/10", description="Private range tenants' networks are cut from.")
    hetzner_network_prefix: int = Field(24, ge=16, le=29)
    hetzner_image: str = "debian-12"
    hetzner_volume_size_gb: int = Field(50, ge=10, le=10240)
    hetzner_container_engine: Literal["docker", "podman", "process"] = Field(
        "docker", description="How the playbooks run the data plane: containers, or "
        "`process` (processes from a wheel of the project; see playbooks/README.md).")
    hetzner_inventory_vars: dict[str, Any] = Field(
        default_factory=dict, description="Extra Ansible variables for every tenant host, "
        "as JSON (e.g. dataplane_deploy_process_release_src for the process engine). Never "
        "secrets: those reach the playbooks only through the FIFO.")
    hetzner_endpoint_domain: str | None = Field(
        None, description="Tenant endpoints are https://<slug>.<domain>; default: the IP.")
    hetzner_up_timeout_s: float = Field(1500.0, gt=0)
    hetzner_destroy_timeout_s: float = Field(900.0, gt=0)
    hetzner_playbook_timeout_s: float = Field(1800.0, gt=0)

    @property
    def hetzner_configured(self) -> bool:
        """True when the hetzner provider has what it needs to run."""
        return bool(self.hetzner_token and self.hetzner_ssh_key_file
                    and self.hetzner_control_plane_addresses)

    @field_validator("admin_token_sha256")
    @classmethod
    def _hex_sha256(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if not _SHA256_RE.fullmatch(value):
            raise ValueError("admin_token_sha256 must be 64 hex characters (a SHA-256 digest)")
        return value

    @field_validator("data_plane_port_range")
    @classmethod
    def _port_range(cls, value: str) -> str:
        match = _RANGE_RE.fullmatch(value.strip())
        if not match:
            raise ValueError("data_plane_port_range must look like 8101-8199")
        low, high = int(match[1]), int(match[2])
        if not 1024 <= low <= high <= 65535:
            raise ValueError("data_plane_port_range must be within 1024-65535, low <= high")
        return f"{low}-{high}"

    @property
    def port_range(self) -> range:
        """The data-plane port range as a Python ``range`` (inclusive of its upper bound)."""
        low, high = (int(part) for part in self.data_plane_port_range.split("-"))
        return range(low, high + 1)

    @property
    def effective_admin_database_url(self) -> SecretStr:
        return self.admin_database_url or self.database_url
