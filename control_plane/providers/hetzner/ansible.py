"""Ansible for the ``hetzner`` provider: an inventory built from stack outputs and a small
:class:`PlaybookRunner` interface, implemented with ansible-runner.

Secrets never pass through ansible-runner: it records the full command line (extra vars
included) and the environment in its artifacts directory. The tenant's decrypted secrets
instead go through a FIFO in a private directory (a FIFO holds its data in a kernel pipe
buffer, never on disk); only the FIFO's path is an extra var, and the playbook reads it once
into a ``no_log`` fact (``roles/dataplane_deploy/tasks/secrets.yml``).

Nor does anything a tenant or a user wrote (the tenant's config, a vendor key's label) travel
as an extra var: ansible-core treats extra vars as trusted templates, so such a string holding
``{{ lookup('pipe', ...) }}`` would run on this machine. That data goes in a JSON file of the
run's private folder whose path is the only extra var (``dataplane_data_file``); the roles read
it with ``from_json`` (``roles/dataplane_deploy/defaults/main.yml``: ``dataplane_deploy_data``),
and data read that way is never templated. An extra var that holds a template is refused.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.resources
import json
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from control_plane.errors import ProvisioningFailed
from control_plane.providers.hetzner.stack import OutputSink
from frostbyte_common.slugs import validate_slug

log = logging.getLogger(__name__)


def installed_playbooks() -> Path:
    """The installed ``playbooks`` package: ``site.yml`` and the others, ``ansible.cfg`` and
    ``roles/`` (the wheel carries the repository's ``playbooks/`` folder as that package).
    Ansible needs real files, so an install that is not plain folders is refused."""
    root = importlib.resources.files("playbooks")
    if not isinstance(root, Path) or not (root / "site.yml").is_file():
        raise ProvisioningFailed(f"the playbooks package at {root} is not a folder of files "
                                 "holding site.yml; reinstall frostbyte from its wheel")
    return root


SECRETS_FIFO_VAR = "dataplane_secrets_fifo"
DATA_FILE_VAR = "dataplane_data_file"
# what starts a Jinja expression, statement or comment: never in an extra var
_TEMPLATE_MARKERS = ("{{", "{%", "{#")
GROUP = "dataplane"
# What ansible-runner and Ansible may inherit from the control plane's environment.
_INHERITED_ENV = ("PATH", "HOME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
                  "VIRTUAL_ENV", "SSL_CERT_FILE", "SSL_CERT_DIR")


class PlaybookFailed(ProvisioningFailed):
    default_code = "PLAYBOOK_FAILED"


class PlaybookRunner(Protocol):
    """Runs one playbook of ``playbooks/`` against an inventory; blocking."""

    def run(self, playbook: str, *, inventory: Mapping[str, Any],
            extravars: Mapping[str, Any], secrets: Mapping[str, str] | None,
            on_output: OutputSink, timeout_s: float,
            data: Mapping[str, Any] | None = None) -> None:
        """Raise :class:`PlaybookFailed` unless every host succeeded. ``extravars`` are the
        control plane's own values (no template in them); ``data`` is what tenants and
        users wrote (the tenant's config, a vendor-key request), which the playbooks read as
        JSON and never template; ``secrets`` go by FIFO."""
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
    ``private_ipv4``). Paths only — never key material. The slug is checked again here: it
    is the one tenant-chosen string in an inventory, which Ansible templates."""
    validate_slug(slug)
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


def _templates_in(value: Any, path: str = "") -> list[str]:
    """Where ``value`` (keys included) holds a string Ansible would template."""
    if isinstance(value, str):
        return [path or "(value)"] if any(m in value for m in _TEMPLATE_MARKERS) else []
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            found += _templates_in(str(key), f"{path}.{key}" if path else str(key))
            found += _templates_in(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found += _templates_in(item, f"{path}[{index}]")
    return found


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
    """:class:`PlaybookRunner` on ansible-runner, run as a child process with an allowlisted
    environment: ansible-runner records its whole environment in the artifacts, and the
    control plane's own environment holds its database URL and Hetzner token. ``runs_dir``
    keeps one private data dir per run (inventory, extra vars, events) — never a secret."""

    def __init__(self, runs_dir: Path, *, playbooks_dir: Path | None = None,
                 keep_runs: int = 10, argv_prefix: Sequence[str] = ()) -> None:
        self._runs_dir = runs_dir
        self._playbooks_dir = playbooks_dir or installed_playbooks()
        self._keep = keep_runs
        # e.g. ``ip netns exec <ns>``: the test hosts run Ansible from a control namespace
        self._argv_prefix = list(argv_prefix)

    def _environment(self) -> dict[str, str]:
        bin_dir = str(Path(sys.executable).parent)
        env = {k: v for k, v in os.environ.items() if k in _INHERITED_ENV}
        env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", os.defpath)])
        env.update({
            "ANSIBLE_CONFIG": str(self._playbooks_dir / "ansible.cfg"),
            "ANSIBLE_ROLES_PATH": str(self._playbooks_dir / "roles"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_SSH_CONTROL_PATH": "none",
            "PYTHONUNBUFFERED": "1",
        })
        return env

    def run(self, playbook: str, *, inventory: Mapping[str, Any],
            extravars: Mapping[str, Any], secrets: Mapping[str, str] | None,
            on_output: OutputSink, timeout_s: float,
            data: Mapping[str, Any] | None = None) -> None:
        if _contains_secret({"inventory": inventory, "extravars": extravars, "data": data},
                            list((secrets or {}).values())):
            raise PlaybookFailed("refusing to pass a secret as an inventory or extra var")
        templated = _templates_in(dict(extravars))
        if templated:
            # names only: the value may be anyone's text
            raise PlaybookFailed("refusing to pass a template as an extra var (Ansible would "
                                 f"run it): {', '.join(sorted(templated))}")
        self._runs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        private = Path(tempfile.mkdtemp(prefix=f"{Path(playbook).stem}-", dir=self._runs_dir))
        private.chmod(stat.S_IRWXU)
        (private / "inventory").mkdir(mode=0o700)
        (private / "env").mkdir(mode=0o700)
        (private / "inventory" / "hosts.json").write_text(json.dumps(dict(inventory)), "utf-8")
        (private / "env" / "settings").write_text(
            json.dumps({"job_timeout": int(timeout_s)}), "utf-8")

        with contextlib.ExitStack() as stack:
            variables = dict(extravars)
            if data is not None:
                data_file = private / "data.json"
                data_file.touch(mode=0o600)
                data_file.write_text(json.dumps(dict(data)), "utf-8")
                variables[DATA_FILE_VAR] = str(data_file)
            if secrets is not None:
                variables[SECRETS_FIFO_VAR] = str(
                    stack.enter_context(secrets_fifo(secrets, wait_s=timeout_s)))
            (private / "env" / "extravars").write_text(json.dumps(variables), "utf-8")
            argv = [*self._argv_prefix, sys.executable, "-m", "ansible_runner", "run",
                    str(private),
                    "--playbook", playbook, "--project-dir", str(self._playbooks_dir),
                    "--ident", "run"]
            self._spawn(argv, on_output, timeout_s + 60)
        self._prune()
        status_file = private / "artifacts" / "run" / "status"
        status = status_file.read_text("utf-8").strip() if status_file.exists() else "failed"
        rc_file = private / "artifacts" / "run" / "rc"
        rc = rc_file.read_text("utf-8").strip() if rc_file.exists() else "?"
        if status != "successful":
            raise PlaybookFailed(f"playbook {playbook} {status} (rc {rc}); see the job log")
        log.info("playbook %s succeeded (%s)", playbook, private.name)

    def _spawn(self, argv: list[str], on_output: OutputSink, timeout_s: float) -> None:
        with subprocess.Popen(argv, env=self._environment(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True) as child:
            timer = threading.Timer(timeout_s, _kill_group, args=(child.pid,))
            timer.start()
            try:
                assert child.stdout is not None
                for line in child.stdout:
                    if line.strip():
                        on_output(line.rstrip())
                child.wait()
            finally:
                timer.cancel()

    def _prune(self) -> None:
        """Keep the newest ``keep_runs`` run folders (inventories and event logs, no secrets)."""
        runs = sorted((p for p in self._runs_dir.iterdir() if p.is_dir()),
                      key=lambda p: p.stat().st_mtime, reverse=True)
        for old in runs[self._keep:]:
            shutil.rmtree(old, ignore_errors=True)


def _kill_group(pid: int) -> None:
    """Past the deadline: end the ansible-runner child we started and its children."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
