"""Ansible for the ``hetzner`` provider: an inventory built from stack outputs and a small
:class:`PlaybookRunner` interface, implemented with ansible-runner.

Secrets never pass through ansible-runner: it records the full command line (extra vars
included) and the environment in its artifacts directory. The tenant's decrypted secrets
instead go through a FIFO in a private directory (a FIFO holds its data in a kernel pipe
buffer, never on disk); only the FIFO's path is an extra var, and the playbook reads it once
into a ``no_log`` fact (``roles/dataplane_deploy/tasks/secrets.yml``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from control_plane.errors import ProvisioningFailed
from control_plane.providers.hetzner.stack import OutputSink

log = logging.getLogger(__name__)

PLAYBOOKS_DIR = Path(__file__).resolve().parents[3] / "playbooks"
SECRETS_FIFO_VAR = "dataplane_secrets_fifo"
GROUP = "dataplane"


class PlaybookFailed(ProvisioningFailed):
    default_code = "PLAYBOOK_FAILED"


class PlaybookRunner(Protocol):
    """Runs one playbook of ``playbooks/`` against an inventory; blocking."""

    def run(self, playbook: str, *, inventory: Mapping[str, Any],
            extravars: Mapping[str, Any], secrets: Mapping[str, str] | None,
            on_output: OutputSink, timeout_s: float) -> None:
        """Raise :class:`PlaybookFailed` unless every host succeeded."""
        ...


def ssh_common_args(known_hosts: Path) -> str:
    """SSH options for every connection: no connection sharing (a reused control socket
    would bypass the network the test hosts isolate, and outlive the run), host keys pinned
    per tenant on first use."""
    return " ".join([
        "-o ControlMaster=no", "-o ControlPersist=no", "-o ControlPath=none",
        f"-o UserKnownHostsFile={known_hosts}", "-o StrictHostKeyChecking=accept-new",
        "-o IdentitiesOnly=yes", "-o BatchMode=yes", "-o ConnectTimeout=20",
    ])


def build_inventory(slug: str, outputs: Mapping[str, Any], *, user: str, key_file: Path,
                    known_hosts: Path, port: int = 22,
                    host_vars: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A one-host YAML/JSON inventory from the stack's outputs (``public_ipv4``,
    ``private_ipv4``). Paths only — never key material."""
    address = outputs.get("public_ipv4")
    if not address:
        raise ProvisioningFailed(f"stack tenant-{slug} has no public_ipv4 output")
    host = {
        "ansible_host": str(address),
        "ansible_port": port,
        "ansible_user": user,
        "ansible_ssh_private_key_file": str(key_file),
        "ansible_ssh_common_args": ssh_common_args(known_hosts),
        "dataplane_tenant": slug,
        "dataplane_private_ipv4": str(outputs.get("private_ipv4") or ""),
        **(host_vars or {}),
    }
    return {"all": {"children": {GROUP: {"hosts": {f"fb-{slug}": host}}}}}


def _contains_secret(value: Any, secrets: Sequence[str]) -> bool:
    text = json.dumps(value, default=str)
    return any(s and s in text for s in secrets)


@contextlib.contextmanager
def secrets_fifo(secrets: Mapping[str, str], *, wait_s: float) -> Iterator[Path]:
    """A FIFO that hands ``secrets`` (as JSON) to the first reader, then closes. The
    directory is 0700 and removed afterwards; a writer no one reads from gives up."""
    base = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108 (memory-backed)
    folder = Path(tempfile.mkdtemp(prefix="fb-secrets-", dir=base))
    path = folder / "secrets.json"
    os.mkfifo(path, 0o600)
    payload = json.dumps(dict(secrets)).encode("utf-8")
    done = threading.Event()

    def writer() -> None:
        deadline = time.monotonic() + wait_s
        while not done.is_set() and time.monotonic() < deadline:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno in (errno.ENXIO, errno.ENOENT):  # no reader yet
                    time.sleep(0.05)
                    continue
                raise
            try:
                os.set_blocking(fd, True)
                os.write(fd, payload)
            finally:
                os.close(fd)
            return

    thread = threading.Thread(target=writer, name="fb-secrets-fifo", daemon=True)
    thread.start()
    try:
        yield path
    finally:
        done.set()
        thread.join(5)
        shutil.rmtree(folder, ignore_errors=True)


class AnsibleRunnerPlaybooks:
    """:class:`PlaybookRunner` on ansible-runner. ``runs_dir`` holds one private data dir
    per run (inventory, artifacts); no secret is ever written there."""

    def __init__(self, runs_dir: Path, *, playbooks_dir: Path = PLAYBOOKS_DIR,
                 keep_runs: int = 10) -> None:
        self._runs_dir = runs_dir
        self._playbooks_dir = playbooks_dir
        self._keep = keep_runs

    def run(self, playbook: str, *, inventory: Mapping[str, Any],
            extravars: Mapping[str, Any], secrets: Mapping[str, str] | None,
            on_output: OutputSink, timeout_s: float) -> None:
        import ansible_runner  # type: ignore[import-untyped]  # ships no type hints

        if _contains_secret({"inventory": inventory, "extravars": extravars},
                            list((secrets or {}).values())):
            raise PlaybookFailed("refusing to pass a secret as an inventory or extra var")
        self._runs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        private = Path(tempfile.mkdtemp(prefix=f"{Path(playbook).stem}-", dir=self._runs_dir))
        private.chmod(stat.S_IRWXU)
        env = {
            "ANSIBLE_CONFIG": str(self._playbooks_dir / "ansible.cfg"),
            "ANSIBLE_ROLES_PATH": str(self._playbooks_dir / "roles"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_SSH_CONTROL_PATH": "none",
        }

        def stream(event: dict[str, Any]) -> bool:
            for line in str(event.get("stdout") or "").splitlines():
                if line.strip():
                    on_output(line)
            return True

        with contextlib.ExitStack() as stack:
            variables = dict(extravars)
            if secrets is not None:
                variables[SECRETS_FIFO_VAR] = str(
                    stack.enter_context(secrets_fifo(secrets, wait_s=timeout_s)))
            result = ansible_runner.run(
                private_data_dir=str(private), project_dir=str(self._playbooks_dir),
                playbook=playbook, inventory=dict(inventory), extravars=variables,
                envvars=env, timeout=int(timeout_s), quiet=True, event_handler=stream,
                rotate_artifacts=1)
        self._prune()
        status, rc = result.status, result.rc
        if status != "successful":
            raise PlaybookFailed(f"playbook {playbook} {status} (rc {rc}); see the job log")
        log.info("playbook %s succeeded (%s)", playbook, private.name)

    def _prune(self) -> None:
        """Keep the newest ``keep_runs`` run folders (inventories and event logs, no secrets)."""
        runs = sorted((p for p in self._runs_dir.iterdir() if p.is_dir()),
                      key=lambda p: p.stat().st_mtime, reverse=True)
        for old in runs[self._keep:]:
            shutil.rmtree(old, ignore_errors=True)
