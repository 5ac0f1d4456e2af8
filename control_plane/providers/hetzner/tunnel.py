"""The control plane's channel to a tenant's control routes on Hetzner: an SSH local forward.

The tenant's firewall (SPEC §4) opens the vendor port only to the tenant's allow-listed CIDRs
and SSH only to the control plane, so the control plane reaches the data plane's control
routes (``/control/v1``) through SSH, the one door it has::

    ssh -N -L 127.0.0.1:<free port>:127.0.0.1:<data-plane port> <user>@<server>

The forward listens on this machine's loopback only, the server's sshd lets it open nothing
but the data plane's loopback port (``PermitOpen`` in the ``dataplane_host`` role), no
connection is shared (a reused control socket would outlive the call), and the ssh process
is ended by its PID when the call is over — also when the call failed.

:class:`ControlChannelDown` (a :class:`~control_plane.errors.DataPlaneError`, HTTP 502) says
the forward never came up, with ssh's own last words.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from control_plane.errors import DataPlaneError


class ControlChannelDown(DataPlaneError):
    """The SSH forward to a tenant's data plane did not come up (maps to 502 like any data
    plane that cannot be reached)."""


class TunnelProcess(Protocol):
    """What the tunnel needs of the process it started (``subprocess.Popen`` has it)."""

    pid: int

    def poll(self) -> int | None: ...

    def send_signal(self, sig: int) -> None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def error_output(self) -> str:
        """The end of what the process wrote to stderr (for error messages)."""
        ...


Launcher = Callable[[Sequence[str]], TunnelProcess]


class _SshProcess:
    """A child ssh with stderr in an unlinked temporary file (never a pipe nobody drains)."""

    def __init__(self, argv: Sequence[str]) -> None:
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in wait)
        self._popen = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=self._stderr,
                                       start_new_session=True)
        self.pid = self._popen.pid

    def poll(self) -> int | None:
        return self._popen.poll()

    def send_signal(self, sig: int) -> None:
        self._popen.send_signal(sig)  # by PID; a no-op once the child was reaped

    def wait(self, timeout: float | None = None) -> int:
        return self._popen.wait(timeout)

    def error_output(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()[-2000:].decode("utf-8", "replace").strip()

    def __del__(self) -> None:
        self._stderr.close()


def launch_ssh(argv: Sequence[str]) -> TunnelProcess:
    """The real launcher: ``argv`` as a child process in its own session."""
    return _SshProcess(argv)


def free_loopback_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 right now (ssh fails clearly, through
    ``ExitOnForwardFailure``, if someone takes it meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def loopback_accepts(port: int) -> bool:
    """True if a TCP connection to 127.0.0.1:``port`` is accepted."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
    except OSError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class TunnelTarget:
    """Where to forward to: the server (as SSH sees it) and the data plane's port on the
    server's loopback."""

    address: str
    user: str
    key_file: Path
    known_hosts: Path
    remote_port: int
    ssh_port: int = 22


def ssh_forward_argv(target: TunnelTarget, local_port: int, *, ssh: str = "ssh",
                     connect_timeout_s: int = 20) -> list[str]:
    """The ssh command line of a forward from 127.0.0.1:``local_port`` (this machine only)
    to 127.0.0.1:``remote_port`` on the server. No config file is read (a user's
    ``ControlMaster auto`` or ``ProxyJump`` would change what runs), no connection sharing,
    no prompt, and the server's key must already be pinned (``site.yml`` pinned it)."""
    return [
        ssh, "-N", "-F", "none",
        "-o", "ExitOnForwardFailure=yes",
        "-o", "ControlMaster=no", "-o", "ControlPersist=no", "-o", "ControlPath=none",
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={target.known_hosts}",
        "-o", "IdentitiesOnly=yes",
        "-o", f"ConnectTimeout={connect_timeout_s}",
        "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3",
        "-o", "ForwardAgent=no", "-o", "ForwardX11=no",
        "-o", "LogLevel=ERROR",
        "-i", str(target.key_file),
        "-p", str(target.ssh_port),
        "-L", f"127.0.0.1:{local_port}:127.0.0.1:{target.remote_port}",
        f"{target.user}@{target.address}",
    ]


class SshTunnels:
    """Opens SSH local forwards. Everything that touches the world is injectable: the
    launcher (tests hand in a fake process, or prefix ``ip netns exec``), the port picker,
    the readiness probe and the clock."""

    def __init__(self, *, launcher: Launcher = launch_ssh, ssh: str = "ssh",
                 pick_port: Callable[[], int] = free_loopback_port,
                 accepts: Callable[[int], bool] = loopback_accepts,
                 up_timeout_s: float = 30.0, poll_s: float = 0.1, stop_grace_s: float = 5.0,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._launch = launcher
        self._ssh = ssh
        self._pick_port = pick_port
        self._accepts = accepts
        self._up_timeout_s = up_timeout_s
        self._poll_s = poll_s
        self._stop_grace_s = stop_grace_s
        self._sleep = sleep
        self._clock = clock

    @contextlib.contextmanager
    def forward(self, target: TunnelTarget, *, what: str) -> Iterator[str]:
        """``http://127.0.0.1:<port>`` forwarded to the data plane for the duration of the
        ``with`` block; :class:`ControlChannelDown` if it does not come up in time."""
        port = self._pick_port()
        try:
            process = self._launch(ssh_forward_argv(target, port, ssh=self._ssh))
        except OSError as exc:
            raise ControlChannelDown(f"cannot run {self._ssh} for the tunnel to {what}: "
                                     f"{exc.strerror or exc}") from None
        try:
            self._wait_until_up(process, port, what)
            yield f"http://127.0.0.1:{port}"
        finally:
            self._end(process)

    def _wait_until_up(self, process: TunnelProcess, port: int, what: str) -> None:
        deadline = self._clock() + self._up_timeout_s
        while True:
            code = process.poll()
            if code is not None:
                raise ControlChannelDown(
                    f"the SSH tunnel to {what} closed at once (ssh exit {code}): "
                    f"{_last_line(process.error_output()) or 'no message'}")
            if self._accepts(port):
                return
            if self._clock() >= deadline:
                raise ControlChannelDown(
                    f"the SSH tunnel to {what} did not come up within "
                    f"{self._up_timeout_s:g} s; is the server reachable over SSH from "
                    "this control plane?")
            self._sleep(self._poll_s)

    def _end(self, process: TunnelProcess) -> None:
        """SIGTERM the ssh we started (by its PID), SIGKILL it if it lingers, reap it."""
        if process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(self._stop_grace_s)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait(self._stop_grace_s)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
