"""The ``hetzner`` provider: a Pulumi stack ``tenant-<slug>`` per tenant, then Ansible.

    provision    allocate the tenant's network block → (refresh, when re-applying) → up
                 → outputs recorded → playbook site.yml (host + deploy, waits for /readyz)
                 → endpoint. A failed first ``up`` is rolled back with ``destroy``; a failed
                 re-apply keeps the running tenant (never destroy a live data plane).
    stop/start   playbooks stop.yml / start.yml; health: health.yml (over SSH: the control
                 plane is not on the tenant's vendor allow-list)
    control      an SSH local forward to the data plane's loopback port for the duration of
                 a call to its control routes (:mod:`.tunnel`); port 443 stays closed to us
    deprovision  playbook wipe.yml (best effort: the server and volume are destroyed next
                 anyway) → destroy → remove the stack → release the block
    TLS          with the control plane's CA: every deploy with secrets makes sure the
                 tenant's SOPS secrets hold a server key and certificate (``tls_key``,
                 ``tls_cert``) issued by that CA for the server's address (and its DNS name,
                 with an endpoint domain); missing, for other names, from another CA or near
                 expiry, they are issued anew and kept there before the playbook runs. The
                 gateway on the vendor port serves them (the container set's, or the process
                 engine's nginx); ``tls_fingerprint`` is the kept one's.

Pulumi's and Ansible's output goes, line by line, to the tenant's job log
(``<state>/hetzner/tenants/<slug>/job.log``, each line ``<UTC time, µs> [<source>] <text>``)
and the ``control_plane.providers.hetzner`` logger; :meth:`HetznerProvider.job_output` reads
a job's window of it back for the API's job log. ``ConcurrentUpdateError`` (someone else is
updating the stack) is retried with capped backoff, then reported as :class:`StackBusy`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from control_plane.adapters.releases import reported_version
from control_plane.domain.health import DriftedResource
from control_plane.domain.lifecycle import Tenant
from control_plane.domain.ports import CertificateAuthority, SecretStore
from control_plane.domain.releases import image_tag, plan_update
from control_plane.domain.tenant_secrets import with_data_keys
from control_plane.errors import ProvisioningFailed, ReleaseNotFound, UpdateRolledBack
from control_plane.providers.base import JobOutput
from control_plane.providers.hetzner.ansible import PlaybookFailed, PlaybookRunner, build_inventory
from control_plane.providers.hetzner.stack import (
    HCLOUD_TOKEN_ENV,
    OutputSink,
    StackBusy,
    StackConfig,
    StackError,
    StackNotFound,
    StackRunner,
    Timeouts,
)
from control_plane.providers.hetzner.tunnel import ControlChannelDown, SshTunnels, TunnelTarget
from control_plane.settings import ControlPlaneSettings
from frostbyte_common import tls
from frostbyte_common.firewall import build_policy, nftables_ruleset
from frostbyte_common.network_plan import HETZNER_RESOLVERS, allocate_block
from frostbyte_common.retry import ExponentialBackoff, RetriesExhausted, RetryPolicy
from frostbyte_common.tenant_config import TenantConfig
from frostbyte_common.version import __version__

log = logging.getLogger("control_plane.providers.hetzner")
T = TypeVar("T")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# a job-log line: its UTC time (µs; whole seconds in logs written before) and its source
# the message of a failed Ansible task, as its output line shows it
_ANSIBLE_MSG = re.compile(r'"msg": "((?:[^"\\]|\\.)*)"')
_STAMPED = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z) \[")


def job_log_line(at: datetime, what: str, text: str) -> str:
    """One line of the job log (without its newline)."""
    return f"{at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')} [{what}] {text}"


def job_output_window(lines: Iterable[str], since: datetime, until: datetime | None,
                      limit: int) -> JobOutput:
    """The job-log ``lines`` stamped from ``since`` to ``until`` (inclusive; open-ended when
    None), their last ``limit`` kept. A line without a stamp continues the line before it
    and goes with it; lines before the first stamp belong to no window."""
    kept: deque[str] = deque(maxlen=max(limit, 0))
    total = 0
    at: datetime | None = None
    for raw in lines:
        line = raw.rstrip("\r\n")
        stamp = _STAMPED.match(line)
        if stamp is not None:
            # a stamp-like text that is no time (month 13) continues the line before
            with contextlib.suppress(ValueError):
                at = datetime.fromisoformat(stamp.group(1))
        if at is None or at < since or (until is not None and at > until):
            continue
        kept.append(line)
        total += 1
    return JobOutput(lines=tuple(kept), total=total)


@dataclass(frozen=True, slots=True)
class HetznerOptions:
    """What the provider needs besides its two runners (built from the settings)."""

    hcloud_token: str = field(repr=False)
    ssh_public_key: str
    ssh_private_key_file: Path
    control_plane_addresses: tuple[str, ...]
    network_pool: str = "10.64.0.0/10"
    network_prefix: int = 24
    image: str = "debian-12"
    network_zone: str = "eu-central"
    volume_size_gb: int = 50
    container_engine: str = "docker"
    endpoint_domain: str | None = None
    ssh_user: str = "root"
    # the port on the server's loopback where the control channel's SSH forward leads: the
    # process engine's data plane (the playbooks' FROSTBYTE_DP_PORT), or the container set's
    # gateway control listener (dataplane_deploy_control_publish)
    data_plane_port: int = 8080
    # site-specific variables of every inventory (e.g. the process engine's release and
    # interpreter, or clamd's signature folder); never secrets — those go by FIFO
    inventory_vars: Mapping[str, Any] = field(default_factory=dict)
    timeouts: Timeouts = field(default_factory=Timeouts)
    playbook_timeout_s: float = 1800.0
    # the release artifacts an update installs (issue 18): per version, the container
    # images in ``images/<tag>/`` (``images.json`` and the archives, as ``make images``
    # writes them) or, for the process engine, ``wheels/frostbyte-<version>-*.whl``. None:
    # ``dist/`` beside the installed playbooks (the dataplane_update role's own default)
    releases_dir: Path | None = None
    busy_retries: int = 3
    busy_backoff_s: float = 10.0


@dataclass(slots=True)
class TenantRecord:
    """What the provider keeps per tenant: the network block, the last stack config it
    applied (plain values only) and the stack's outputs."""

    network_cidr: str
    config: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, Any] | None = None
    endpoint: str | None = None


class TenantRecords:
    """Per-tenant JSON records under ``root`` (no secrets in them); allocation under a lock
    so two tenants provisioned at once never get the same block."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()

    def folder(self, slug: str) -> Path:
        return self.root / slug

    def _file(self, slug: str) -> Path:
        return self.folder(slug) / "tenant.json"

    def load(self, slug: str) -> TenantRecord | None:
        path = self._file(slug)
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return TenantRecord(**data)

    def save(self, slug: str, record: TenantRecord) -> None:
        folder = self.folder(slug)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = folder / "tenant.json.tmp"
        tmp.write_text(json.dumps({
            "network_cidr": record.network_cidr, "config": record.config,
            "outputs": record.outputs, "endpoint": record.endpoint}, indent=2, sort_keys=True),
            encoding="utf-8")
        tmp.replace(self._file(slug))

    def allocations(self) -> dict[str, str]:
        taken: dict[str, str] = {}
        if self.root.is_dir():
            for path in sorted(self.root.glob("*/tenant.json")):
                taken[path.parent.name] = json.loads(path.read_text("utf-8"))["network_cidr"]
        return taken

    def allocate(self, slug: str, *, pool: str, prefix: int) -> TenantRecord:
        with self._lock:
            record = self.load(slug)
            if record is not None:
                return record
            record = TenantRecord(network_cidr=allocate_block(slug, self.allocations(),
                                                               pool=pool, prefix=prefix))
            self.save(slug, record)
            return record

    def delete(self, slug: str) -> None:
        with self._lock:
            self._file(slug).unlink(missing_ok=True)


class HetznerProvider:
    """Provider ``hetzner`` (see the module docstring). Blocking, idempotent methods."""

    name = "hetzner"

    def __init__(self, options: HetznerOptions, *, stacks: StackRunner,
                 playbooks: PlaybookRunner, secrets: SecretStore, state_dir: Path,
                 sleep: Callable[[float], None] = time.sleep,
                 tunnels: SshTunnels | None = None,
                 authority: CertificateAuthority | None = None,
                 read_version: Callable[[Tenant], str] | None = None) -> None:
        """``read_version``: the version a tenant's running data plane reports (default:
        its ``/healthz`` through the control channel)."""
        self._opts = options
        self._read_version = read_version or self._version_over_channel
        self._authority = authority
        self._tunnels = tunnels or SshTunnels()
        self._stacks = stacks
        self._playbooks = playbooks
        self._secrets = secrets
        self._records = TenantRecords(state_dir)
        self._sleep = sleep
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def stack_name(slug: str) -> str:
        return f"tenant-{slug}"

    def job_log(self, slug: str) -> Path:
        return self._records.folder(slug) / "job.log"

    def _sink(self, slug: str, what: str) -> OutputSink:
        path = self.job_log(slug)

        def write(line: str) -> None:
            # every line stamped (a multi-line message too), finer than a second: a job's
            # window (its created..finished times) picks its lines by these stamps
            texts = [t for t in _ANSI.sub("", line).rstrip().splitlines() if t.strip()]
            if not texts:
                return
            at = datetime.now(UTC)
            for text in texts:
                log.info("tenant %s: %s: %s", slug, what, text)
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with path.open("a", encoding="utf-8") as out:
                out.write("".join(f"{job_log_line(at, what, t.rstrip())}\n" for t in texts))

        return write

    @contextlib.contextmanager
    def _lock(self, slug: str) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks.setdefault(slug, threading.Lock())
        with lock:
            yield

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        """Retry ``call`` while the stack is busy (capped exponential backoff with jitter:
        ``busy_backoff_s * 2**n``, at most 120 s, of which the upper half is random); the
        last :class:`StackBusy` is raised as it came."""
        policy = RetryPolicy(
            attempts=self._opts.busy_retries + 1,
            backoff=ExponentialBackoff(base=self._opts.busy_backoff_s, cap=120.0, jitter=0.5),
            sleep=self._sleep)

        def busy(error: Exception, attempt: int, delay: float) -> None:
            log.info("stack busy during %s; retrying in %.1f s", what, delay)

        try:
            return policy.call(call, retry_on=(StackBusy,), on_retry=busy)
        except RetriesExhausted as gave_up:
            raise gave_up.last_error from None

    def stack_config(self, slug: str, config: TenantConfig, network_cidr: str) -> StackConfig:
        """The stack's config; validates the firewall policy first (bad CIDRs fail here with
        a clear message, before anything is created)."""
        build_policy(slug, allowed_cidrs=config.network.allowed_cidrs,
                     control_plane_addresses=self._opts.control_plane_addresses,
                     embedding_mode=config.embedding.mode,
                     egress_cidrs=config.embedding.egress_cidrs)
        values = {
            "frostbyte:tenant": slug,
            "frostbyte:networkCidr": network_cidr,
            "frostbyte:sshPublicKey": self._opts.ssh_public_key,
            "frostbyte:controlPlaneAddresses": json.dumps(
                list(self._opts.control_plane_addresses)),
            "frostbyte:allowedCidrs": json.dumps(list(config.network.allowed_cidrs)),
            "frostbyte:embeddingMode": config.embedding.mode,
            # online: outbound HTTPS to these networks only (offline: no outbound at all)
            "frostbyte:egressCidrs": json.dumps(list(config.embedding.egress_cidrs)),
            "frostbyte:serverType": config.network.server_type,
            "frostbyte:location": config.network.location,
            "frostbyte:image": self._opts.image,
            "frostbyte:networkZone": self._opts.network_zone,
            "frostbyte:volumeSizeGb": str(self._opts.volume_size_gb),
        }
        return StackConfig(values=values, environment=self._stack_environment())

    def _stack_environment(self) -> dict[str, str]:
        """The hcloud provider's token, by environment (never a command-line argument)."""
        return {HCLOUD_TOKEN_ENV: self._opts.hcloud_token}

    def _stored_config(self, record: TenantRecord) -> StackConfig:
        return StackConfig(values=dict(record.config), environment=self._stack_environment())

    def _endpoint(self, slug: str, outputs: Mapping[str, Any]) -> str:
        if self._opts.endpoint_domain:
            return f"https://{slug}.{self._opts.endpoint_domain}"
        return f"https://{outputs['public_ipv4']}"

    def _known_hosts(self, slug: str) -> Path:
        return self._records.folder(slug) / "known_hosts"

    def _playbook(self, slug: str, record: TenantRecord, playbook: str,
                  extravars: Mapping[str, Any] | None = None, *,
                  data: Mapping[str, Any] | None = None, with_secrets: bool = False) -> None:
        """Run ``playbook`` on the tenant's server. ``extravars``: the control plane's own
        values; ``data``: anything a tenant or user wrote, which reaches the playbooks as JSON
        and is never templated (see :mod:`.ansible`)."""
        if record.outputs is None:
            raise ProvisioningFailed(f"tenant {slug!r} has no server yet")
        inventory = build_inventory(slug, record.outputs, user=self._opts.ssh_user,
                                    key_file=self._opts.ssh_private_key_file,
                                    known_hosts=self._known_hosts(slug),
                                    host_vars=self._opts.inventory_vars)
        variables: dict[str, Any] = {"dataplane_engine": self._opts.container_engine}
        if self._authority is not None:  # public: the deploy's HTTPS check verifies with it
            variables["dataplane_tls_ca_pem"] = self._authority.certificate_pem()
        variables.update(extravars or {})
        secrets = self._deploy_secrets(slug, record) if with_secrets else None
        self._playbooks.run(playbook, inventory=inventory, extravars=variables,
                            secrets=secrets, on_output=self._sink(slug, playbook),
                            timeout_s=self._opts.playbook_timeout_s, data=data)

    def _tls_hosts(self, slug: str, record: TenantRecord) -> list[str]:
        """What the server certificate names: the server's address, and its DNS name when
        the endpoint has one."""
        outputs = record.outputs or {}
        names = [str(outputs["public_ipv4"])]
        if self._opts.endpoint_domain:
            names.append(f"{slug}.{self._opts.endpoint_domain}")
        return names

    def _deploy_secrets(self, slug: str, record: TenantRecord) -> dict[str, str]:
        """The tenant's secrets for a deploy: with data keys and, with a CA, a server
        certificate for the server (issued anew, and kept in the SOPS secrets, when the kept
        one does not serve: see the module docstring)."""
        secrets = with_data_keys(self._secrets, slug)
        if self._authority is None:
            return secrets
        wanted = self._tls_hosts(slug, record)
        kept = secrets.get("tls_cert")
        why = (tls.needs_renewal(kept, wanted, self._authority.certificate_pem())
               if kept and secrets.get("tls_key") else "there is none")
        if why is not None:
            issued = self._authority.issue(wanted, common_name=f"fb-{slug}")
            secrets = {**secrets, "tls_cert": issued.cert_pem, "tls_key": issued.key_pem}
            self._secrets.put(slug, secrets)
            self._sink(slug, "tls")(f"server certificate issued for {', '.join(wanted)} "
                                    f"({why}): {issued.fingerprint}")
        return secrets

    @staticmethod
    def _deploy_data(config: TenantConfig) -> dict[str, Any]:
        """What ``site.yml`` gets as data (never templated): the tenant's config."""
        return {"tenant_config": config.model_dump(mode="json")}

    def _deploy_vars(self, slug: str, config: TenantConfig, record: TenantRecord
                     ) -> dict[str, Any]:
        """Extra vars of ``site.yml``: the version to deploy and the host firewall rendered
        from the same policy as the Hetzner firewall. No secrets (those go by FIFO), nothing
        the tenant wrote (that goes as data: :meth:`_deploy_data`)."""
        policy = build_policy(slug, allowed_cidrs=config.network.allowed_cidrs,
                              control_plane_addresses=self._opts.control_plane_addresses,
                              embedding_mode=config.embedding.mode,
                              egress_cidrs=config.embedding.egress_cidrs,
                              dns_resolvers=HETZNER_RESOLVERS)
        outputs = record.outputs or {}
        return {
            # the release this control plane belongs to (its installed version)
            "dataplane_deploy_version": __version__,
            "dataplane_host_nftables_ruleset": nftables_ruleset(policy),
            "dataplane_host_volume_id": str(outputs.get("volume_id") or ""),
            # the control channel's SSH forward may lead there and nowhere else
            "dataplane_host_sshd_permit_open": [f"127.0.0.1:{self._opts.data_plane_port}"],
        }

    # -- Provider port ---------------------------------------------------------------------
    def provision(self, tenant: Tenant, config: TenantConfig) -> str:
        """Apply the stack (rolled back if a first ``up`` fails), deploy, return the
        endpoint once ``/readyz`` answered on the server."""
        slug = tenant.slug
        stack = self.stack_name(slug)
        with self._lock(slug):
            record = self._records.allocate(slug, pool=self._opts.network_pool,
                                            prefix=self._opts.network_prefix)
            first = record.outputs is None
            stack_config = self.stack_config(slug, config, record.network_cidr)
            record.config = dict(stack_config.values)  # kept first: a teardown needs it
            self._records.save(slug, record)
            sink = self._sink(slug, "pulumi")
            try:
                if not first:
                    self._retrying("refresh", lambda: self._stacks.refresh(
                        stack, stack_config, sink, self._opts.timeouts.refresh_s))
                outputs = self._retrying("up", lambda: self._stacks.up(
                    stack, stack_config, sink, self._opts.timeouts.up_s))
            except StackBusy:
                raise  # someone else's update holds the lock: nothing of ours to undo
            except StackError as exc:
                if first:
                    self._roll_back(slug, stack_config, exc)
                raise
            record.outputs = dict(outputs)
            self._records.save(slug, record)
            self._playbook(slug, record, "site.yml", self._deploy_vars(slug, config, record),
                           data=self._deploy_data(config), with_secrets=True)
            record.endpoint = self._endpoint(slug, outputs)
            self._records.save(slug, record)
            return record.endpoint

    def _roll_back(self, slug: str, stack_config: StackConfig, cause: StackError) -> None:
        stack = self.stack_name(slug)
        sink = self._sink(slug, "rollback")
        sink(f"up failed ({cause.message}); destroying what it made")
        try:
            self._retrying("destroy", lambda: self._stacks.destroy(
                stack, stack_config, sink, self._opts.timeouts.destroy_s))
        except StackNotFound:
            return
        except StackError as exc:
            raise ProvisioningFailed(
                f"{cause.message}; rolling back also failed ({exc.message}): the resources "
                f"left are recorded in stack {stack} — deprovision the tenant to remove them"
            ) from exc
        raise ProvisioningFailed(f"{cause.message}; partial resources destroyed") from cause

    def _provisioned(self, slug: str) -> tuple[TenantRecord, str]:
        """The tenant's record and endpoint; ProvisioningFailed before its first deploy."""
        record = self._records.load(slug)
        if record is None or record.outputs is None or record.endpoint is None:
            raise ProvisioningFailed(f"tenant {slug!r} is not provisioned")
        return record, record.endpoint

    def start(self, tenant: Tenant, config: TenantConfig) -> str:
        with self._lock(tenant.slug):
            record, endpoint = self._provisioned(tenant.slug)
            self._playbook(tenant.slug, record, "start.yml")
            return endpoint

    def apply_secrets(self, tenant: Tenant, config: TenantConfig) -> str:
        """``site.yml`` again with the secrets: the environment file is rendered from the
        new values, which restarts the data plane, whose start gives the database role the
        new password (``prepare-database``)."""
        with self._lock(tenant.slug):
            record, endpoint = self._provisioned(tenant.slug)
            self._playbook(tenant.slug, record, "site.yml",
                           self._deploy_vars(tenant.slug, config, record),
                           data=self._deploy_data(config), with_secrets=True)
            return endpoint

    def tls_fingerprint(self, tenant: Tenant) -> str | None:
        """The fingerprint of the server certificate last issued for the tenant (kept in its
        SOPS secrets; the gateway on the vendor port serves it). None without a CA, or before
        the first deploy issued one."""
        if self._authority is None or not self._secrets.exists(tenant.slug):
            return None
        cert = self._secrets.get(tenant.slug).get("tls_cert")
        return tls.fingerprint(cert) if cert else None

    def is_healthy(self, tenant: Tenant) -> bool:
        record = self._records.load(tenant.slug)
        if record is None or record.outputs is None:
            return False
        try:
            # a check, not a wait: one attempt (the deploy's own wait retries for minutes)
            self._playbook(tenant.slug, record, "health.yml",
                           {"dataplane_deploy_ready_retries": 0})
        except PlaybookFailed:
            return False
        return True

    def stop(self, tenant: Tenant) -> list[str]:
        with self._lock(tenant.slug):
            record = self._records.load(tenant.slug)
            if record is None or record.outputs is None:
                return []
            self._playbook(tenant.slug, record, "stop.yml")
            return [f"data plane on fb-{tenant.slug}-server"]

    def install_vendor_key(self, tenant: Tenant, key_id: str, sha256: str,
                           scopes: Sequence[str], label: str | None) -> None:
        record = self._records.load(tenant.slug)
        if record is None or record.outputs is None:
            raise ProvisioningFailed(f"tenant {tenant.slug!r} has no data plane")
        self._playbook(tenant.slug, record, "vendor_key.yml", data={
            "vendor_key": {"action": "add", "key_id": key_id, "sha256": sha256,
                           "scopes": list(scopes), "label": label or ""}})

    def revoke_vendor_key(self, tenant: Tenant, key_id: str) -> None:
        record = self._records.load(tenant.slug)
        if record is None or record.outputs is None:
            return  # no data plane: nothing can accept the key
        self._playbook(tenant.slug, record, "vendor_key.yml", data={
            "vendor_key": {"action": "revoke", "key_id": key_id}})

    @contextlib.contextmanager
    def control_channel(self, tenant: Tenant) -> Iterator[str]:
        """An SSH local forward from this machine's loopback to the data plane's loopback
        port on the tenant's server, open for the ``with`` block; the ssh process is ended
        afterwards. :class:`~.tunnel.ControlChannelDown` (502) if it does not come up."""
        record = self._records.load(tenant.slug)
        if record is None or record.outputs is None or not record.outputs.get("public_ipv4"):
            raise ControlChannelDown(f"tenant {tenant.slug!r} has no server yet")
        known_hosts = self._known_hosts(tenant.slug)
        if not known_hosts.exists():
            raise ControlChannelDown(
                f"tenant {tenant.slug!r}: no pinned SSH host key ({known_hosts}); re-apply "
                "the tenant (a playbook run pins it) before calling its data plane")
        target = TunnelTarget(address=str(record.outputs["public_ipv4"]),
                              user=self._opts.ssh_user, key_file=self._opts.ssh_private_key_file,
                              known_hosts=known_hosts, remote_port=self._opts.data_plane_port)
        with self._tunnels.forward(target, what=f"fb-{tenant.slug}-server") as url:
            yield url

    def deprovision(self, tenant: Tenant) -> None:
        slug = tenant.slug
        stack = self.stack_name(slug)
        with self._lock(slug):
            record = self._records.load(slug)
            if record is None:
                return
            if record.outputs is not None:
                try:
                    self._playbook(slug, record, "wipe.yml", with_secrets=False)
                except PlaybookFailed as exc:
                    # the server and its volume are destroyed next; Hetzner wipes both
                    self._sink(slug, "wipe")(f"wipe failed ({exc.message}); destroying anyway")
            sink = self._sink(slug, "pulumi")
            if record.config:
                with contextlib.suppress(StackNotFound):
                    self._retrying("destroy", lambda: self._stacks.destroy(
                        stack, self._stored_config(record), sink,
                        self._opts.timeouts.destroy_s))
            self._stacks.remove(stack)
            self._known_hosts(slug).unlink(missing_ok=True)
            self._records.delete(slug)

    # -- drift checks (providers.base.DriftCheck) -------------------------------------------
    def check_drift(self, tenant: Tenant) -> list[DriftedResource]:
        """A preview of ``pulumi refresh`` of the tenant's stack, with the config it was last
        applied with: the resources that differ at Hetzner. The state is not written (an
        admin decides: re-apply the config, or fix the resource); the output goes to the job
        log as ``[drift]``. Under the tenant's lock, so never beside an ``up`` of ours."""
        slug = tenant.slug
        with self._lock(slug):
            record = self._records.load(slug)
            if record is None or record.outputs is None:
                raise ProvisioningFailed(f"tenant {slug!r} has no stack to check for drift")
            stored = self._stored_config(record)
            return self._retrying("refresh preview", lambda: self._stacks.drift(
                self.stack_name(slug), stored, self._sink(slug, "drift"),
                self._opts.timeouts.refresh_s))

    # -- releases and updates (issue 18; the ReleaseUpdates port) ---------------------------
    def default_version(self) -> str:
        """What ``site.yml`` deploys to a new tenant: this control plane's version."""
        return __version__

    def _releases_dir(self) -> Path:
        if self._opts.releases_dir is not None:
            return self._opts.releases_dir
        from control_plane.providers.hetzner.ansible import installed_playbooks

        return installed_playbooks().parent / "dist"

    def _release_vars(self, version: str) -> dict[str, Any]:
        """``update.yml``'s variables for ``version``; ReleaseNotFound when its artifacts
        are not here."""
        root = self._releases_dir()
        if self._opts.container_engine == "process":
            wheels = sorted((root / "wheels").glob(f"frostbyte-{version}-*.whl"))
            if not wheels:
                raise ReleaseNotFound(f"no wheel of release {version} in {root / 'wheels'}")
            return {"dataplane_update_version": version,
                    "dataplane_update_release_src": str(wheels[-1])}
        images = root / "images" / image_tag(version)
        if not (images / "images.json").is_file():
            raise ReleaseNotFound(f"no images of release {version} in {images} "
                                  "(`make images` writes them)")
        return {"dataplane_update_version": image_tag(version),
                "dataplane_update_images_src": str(images)}

    def check_release(self, tenant: Tenant, version: str) -> None:
        """The release's artifacts are here. The schema is not checked here (the images'
        migrations are not readable from this machine): a downgrade is logged as a warning,
        and the runbook says to back the tenant up before one."""
        plan = plan_update(tenant.slug, tenant.version or self.default_version(), version)
        self._release_vars(plan.to_version)
        if plan.downgrade:
            log.warning("tenant %s: update to the older release %s; a rollback across a "
                        "schema migration needs a backup", tenant.slug, plan.to_version)

    def update(self, tenant: Tenant, config: TenantConfig, version: str) -> str:
        """``update.yml`` (the dataplane_update role): new release beside the running one,
        restarted, ready — or, in its rescue, the previous one put back and restarted; then
        the version the data plane reports is checked. See the port for the outcomes."""
        slug = tenant.slug
        plan = plan_update(slug, tenant.version or self.default_version(), version)
        variables = self._release_vars(plan.to_version)
        with self._lock(slug):
            record, endpoint = self._provisioned(slug)
            try:
                self._playbook(slug, record, "update.yml", variables)
            except PlaybookFailed as exc:
                # the role rolls back by itself; healthy on the old version = rolled back
                reason = self._failure_reason(tenant, exc)
                self._check_rolled_back(tenant, plan.from_version, reason)
                raise UpdateRolledBack(reason, endpoint=endpoint) from exc
        running = self._read_version(tenant)
        if running == plan.to_version:
            return endpoint
        reason = f"the data plane reports version {running}, not {plan.to_version}"
        with self._lock(slug):  # the role was content: put the previous release back
            try:
                self._playbook(slug, record, "update.yml",
                               self._release_vars(plan.from_version))
            except PlaybookFailed as exc:
                raise ProvisioningFailed(f"update to {plan.to_version} failed ({reason}); "
                                         f"the rollback failed too: {exc.message}") from exc
        self._check_rolled_back(tenant, plan.from_version, reason)
        raise UpdateRolledBack(reason, endpoint=endpoint)

    def _failure_reason(self, tenant: Tenant, exc: PlaybookFailed) -> str:
        """The role's own report ("Version V did not become ready; rolled back to W.") when
        the job log has it, else the playbook's failure."""
        lines = self.job_output(tenant, datetime.now(UTC) - timedelta(hours=1), None,
                                200).lines
        for line in reversed(lines):
            if "did not become ready" in line:
                said = _ANSIBLE_MSG.search(line)
                return json.loads(f'"{said.group(1)}"') if said else \
                    line.split("] ", 1)[-1].strip()
        return exc.message

    def _check_rolled_back(self, tenant: Tenant, previous: str, reason: str) -> None:
        """The data plane is healthy and reports ``previous``; else the rollback failed."""
        healthy = self.is_healthy(tenant)
        try:
            running = self._read_version(tenant) if healthy else None
        except ProvisioningFailed:
            running = None
        if running != previous:
            raise ProvisioningFailed(
                f"update failed ({reason}) and the rollback to {previous} did not come back "
                f"{'healthy' if not healthy else f'on {previous} (it reports {running})'}")

    def _version_over_channel(self, tenant: Tenant) -> str:
        with self.control_channel(tenant) as url:
            return reported_version(url)

    def job_output(self, tenant: Tenant, since: datetime, until: datetime | None,
                   limit: int) -> JobOutput:
        """The tenant's ``job.log`` lines stamped in the window (see
        :func:`job_output_window`); written by this machine's clock, the window comes from
        the registry database's."""
        try:
            with self.job_log(tenant.slug).open(encoding="utf-8", errors="replace") as lines:
                return job_output_window(lines, since, until, limit)
        except FileNotFoundError:
            return JobOutput()

    def verify_deprovisioned(self, tenant: Tenant) -> dict[str, bool]:
        slug = tenant.slug
        try:
            cloud_gone = not self._stacks.resources(self.stack_name(slug))
        except StackNotFound:
            cloud_gone = True
        return {
            "hetzner_resources": cloud_gone,
            "network_block": slug not in self._records.allocations(),
            "known_hosts": not self._known_hosts(slug).exists(),
        }


def provider_from_settings(settings: ControlPlaneSettings, secrets: SecretStore,
                           authority: CertificateAuthority | None = None) -> HetznerProvider:
    """The provider with its real runners (Automation API, ansible-runner); only for
    settings where :attr:`~ControlPlaneSettings.hetzner_configured` is true. ``authority``:
    the control plane's CA, which issues each server's certificate."""
    from control_plane.providers.hetzner.ansible import AnsibleRunnerPlaybooks
    from control_plane.providers.hetzner.automation import AutomationStackRunner

    if (settings.hetzner_token is None or settings.hetzner_ssh_key_file is None
            or not settings.hetzner_control_plane_addresses):
        raise ProvisioningFailed("the hetzner provider is not configured")
    key_file = Path(settings.hetzner_ssh_key_file)
    public_key = key_file.with_name(key_file.name + ".pub").read_text("utf-8").strip()
    state = Path(settings.state_dir) / "hetzner"
    options = HetznerOptions(
        hcloud_token=settings.hetzner_token.get_secret_value(),
        ssh_public_key=public_key,
        ssh_private_key_file=key_file,
        control_plane_addresses=tuple(
            a.strip() for a in settings.hetzner_control_plane_addresses.split(",")
            if a.strip()),
        network_pool=settings.hetzner_network_pool,
        network_prefix=settings.hetzner_network_prefix,
        image=settings.hetzner_image,
        volume_size_gb=settings.hetzner_volume_size_gb,
        container_engine=settings.hetzner_container_engine,
        inventory_vars=settings.hetzner_inventory_vars,
        endpoint_domain=settings.hetzner_endpoint_domain,
        timeouts=Timeouts(up_s=settings.hetzner_up_timeout_s,
                          destroy_s=settings.hetzner_destroy_timeout_s),
        playbook_timeout_s=settings.hetzner_playbook_timeout_s,
    )
    env = {}
    if settings.hetzner_pulumi_passphrase is not None:
        env["PULUMI_CONFIG_PASSPHRASE"] = settings.hetzner_pulumi_passphrase.get_secret_value()
    backend = settings.hetzner_pulumi_backend_url or f"file://{(state / 'pulumi').resolve()}"
    (state / "pulumi").mkdir(parents=True, exist_ok=True, mode=0o700)
    return HetznerProvider(
        options,
        stacks=AutomationStackRunner(backend_url=backend, env=env),
        playbooks=AnsibleRunnerPlaybooks(state / "ansible-runs"),
        secrets=secrets,
        state_dir=state / "tenants",
        authority=authority,
    )
