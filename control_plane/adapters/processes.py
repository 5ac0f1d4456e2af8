"""Detached local processes with pid files: start, recognise, wait for health, stop.

Used by the local provider (tenant data planes) and by ``local_runtime`` (the control plane).
A pid file is trusted only when ``/proc/<pid>/cmdline`` still contains the expected marker
(``data_plane``, ``control_plane``), so a recycled pid is never signalled. A process may be
started as another Unix account (``as_user``: a local tenant's own); its pid file and log are
still written by us, in folders only we can write.
"""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx


def read_pid(pid_file: Path) -> int | None:
    try:
        text = pid_file.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _reap(pid: int) -> None:
    # Our own exited children linger as zombies until waited for.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _cmdline(pid: int) -> bytes | None:
    """The process's command line; None if it is gone or a zombie. A process in the middle
    of ``execve`` briefly shows an empty one, so that is read again for a moment."""
    proc = Path(f"/proc/{pid}")
    for _ in range(50):
        try:
            cmdline = (proc / "cmdline").read_bytes()
            stat = (proc / "stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            return None
        state = stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else "?"
        if state in ("Z", "X"):
            return None
        if cmdline:
            return cmdline
        time.sleep(0.01)
    return b""


def is_running(pid: int, marker: str) -> bool:
    """True if ``pid`` is alive (not a zombie) and its command line contains ``marker``."""
    _reap(pid)
    cmdline = _cmdline(pid)
    return cmdline is not None and marker.encode() in cmdline


def running_pid(pid_file: Path, marker: str) -> int | None:
    """The pid recorded in ``pid_file`` if that process is still ours and alive."""
    pid = read_pid(pid_file)
    return pid if pid is not None and is_running(pid, marker) else None


def spawn_detached(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log_file: Path,
    pid_file: Path,
    as_user: tuple[int, int] | None = None,
    relay: Sequence[str] | None = None,
) -> int:
    """Start ``argv`` in its own session, output appended to ``log_file``; record its pid.
    ``as_user``: the (uid, gid) it runs as, with no supplementary group (root only).
    ``relay``: a command (:func:`frostbyte_common.logs.relay_argv`) the output passes through
    on its way to ``log_file``, in a session of its own, as we run: it makes every line a
    JSON log line and ends when the last process holding the pipe (``argv`` and whatever
    it started) has exited."""
    log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pid_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with log_file.open("ab") as log:
        relay_proc = None if relay is None else subprocess.Popen(
            list(relay), stdin=subprocess.PIPE, stdout=log, stderr=log,
            start_new_session=True, close_fds=True)
        output: Any = log if relay_proc is None else relay_proc.stdin
        try:
            proc = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                **user_kwargs(as_user),
            )
        finally:
            if relay_proc is not None and relay_proc.stdin is not None:
                relay_proc.stdin.close()  # the child holds the pipe now; EOF when it ends
    _cmdline(proc.pid)  # returns once the new program's command line is visible
    tmp = pid_file.with_suffix(".tmp")
    tmp.write_text(f"{proc.pid}\n", encoding="ascii")
    tmp.replace(pid_file)
    return proc.pid


def user_kwargs(as_user: tuple[int, int] | None) -> dict[str, Any]:
    """``subprocess`` arguments that run a child as ``(uid, gid)`` with no other group."""
    if as_user is None:
        return {}
    uid, gid = as_user
    return {"user": uid, "group": gid, "extra_groups": []}


def stop_owned_by(uid: int, *, grace_s: float = 10.0) -> list[int]:
    """Stop every process running as ``uid`` — for a local tenant's own account only, at
    deprovisioning, so that no child of its data plane (a parser) outlives it."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            owner = entry.stat().st_uid
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if owner == uid and cmdline:
            pid = int(entry.name)
            _stop(pid, cmdline.split(b"\0")[0].decode(errors="replace"), grace_s)
            found.append(pid)
    return found


def stop_pid_file(pid_file: Path, marker: str, *, grace_s: float = 10.0) -> int | None:
    """SIGTERM the recorded process (its whole session group when it leads one), SIGKILL it
    after ``grace_s``; remove the pid file. Returns the pid it stopped, None if none ran."""
    pid = running_pid(pid_file, marker)
    if pid is not None:
        _stop(pid, marker, grace_s)
    pid_file.unlink(missing_ok=True)
    return pid


def stop_strays(marker: str, *, grace_s: float = 10.0) -> list[int]:
    """Stop every process whose command line holds ``marker`` — for a marker only our own
    processes can carry (a path under our state folder): one started by a control plane
    that was killed before it recorded the pid would otherwise live on unseen."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()  # once: kernel threads have none
        except OSError:
            continue
        pid = int(entry.name)
        if marker.encode() in cmdline and is_running(pid, marker):
            _stop(pid, marker, grace_s)
            found.append(pid)
    return found


def _stop(pid: int, marker: str, grace_s: float) -> None:
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while is_running(pid, marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    if is_running(pid, marker):
        _signal(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while is_running(pid, marker) and time.monotonic() < deadline:
            time.sleep(0.05)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        try:
            leads_group = os.getpgid(pid) == pid
        except ProcessLookupError:
            return
        if leads_group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def http_ok(url: str, *, timeout_s: float = 2.0, verify: ssl.SSLContext | bool = True) -> bool:
    """True if GET ``url`` answers 200 (over HTTPS, with a server certificate that
    ``verify`` trusts)."""
    try:
        return httpx.get(url, timeout=timeout_s, verify=verify).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until_ready(
    url: str,
    *,
    timeout_s: float,
    pids: Mapping[int, str] | None = None,
    interval_s: float = 0.5,
    verify: ssl.SSLContext | bool = True,
) -> str | None:
    """Poll ``url`` until it answers 200. Returns None when ready, else why not: the
    timeout, or which of ``pids`` (pid → marker) exited first."""
    deadline = time.monotonic() + timeout_s
    while True:
        if http_ok(url, verify=verify):
            return None
        for pid, marker in (pids or {}).items():
            if not is_running(pid, marker):
                return f"process {pid} ({marker}) exited before {url} was ready"
        if time.monotonic() >= deadline:
            return f"{url} not ready after {timeout_s:.0f} s"
        time.sleep(interval_s)


def tail(path: Path, *, max_bytes: int = 4000) -> str:
    """The end of a log file (for error messages), or '' if it does not exist. A symbolic
    link is not followed: a tenant's account could point its own log at a root-only file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
