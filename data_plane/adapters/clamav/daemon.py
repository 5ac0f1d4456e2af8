"""A clamd the project starts itself: its own config, socket, database and temp folders
under one state folder (SPEC §8: real ClamAV, started by the project's own scripts).

Used by the test harness and the local provider; production images run clamd from their
own config with freshclam's (or the offline bundle's) databases.

    python -m data_plane.adapters.clamav.daemon STATE_DIR     # start, print the socket, wait
    python -m data_plane clamd-reload SOCKET_OR_CONF...         # reload updated signatures
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from data_plane.adapters.clamav import SIGNATURES_DIR
from data_plane.adapters.clamav.scanner import ClamdScanner
from data_plane.errors import ScannerUnavailable

CLAMD_CANDIDATES = ("/usr/sbin/clamd", "/usr/bin/clamd")


def clamd_binary() -> str | None:
    """The clamd executable of this machine (Debian's ``clamav-daemon``), or None."""
    found = shutil.which("clamd")
    if found:
        return found
    return next((c for c in CLAMD_CANDIDATES if Path(c).exists()), None)


def render_config(*, socket: Path, database: Path, temp_dir: Path, log_file: Path | None,
                  max_stream_bytes: int, self_check_s: int = 600) -> str:
    """A clamd config of the project's own: its socket (owner only), database, temporary
    folder and log, in the foreground; streams up to ``max_stream_bytes`` (a longer INSTREAM
    is refused, never scanned in part). Every ``self_check_s`` seconds (0: never) clamd
    looks for a changed database folder (freshclam's update, a bundle's signatures) and
    reloads it, scanning with the old one meanwhile. ``log_file`` None: clamd writes its
    log to standard output (no time stamps: whoever keeps it stamps each line)."""
    megabytes = max_stream_bytes // (1024 * 1024) + 1
    return "\n".join([
        f"LocalSocket {socket}",
        "LocalSocketMode 600",
        f"DatabaseDirectory {database}",
        f"TemporaryDirectory {temp_dir}",
        *([f"LogFile {log_file}", "LogTime yes"] if log_file is not None else []),
        "Foreground yes",
        f"StreamMaxLength {megabytes}M",
        f"MaxScanSize {megabytes}M",
        f"MaxFileSize {megabytes}M",
        f"SelfCheck {max(0, self_check_s)}",
        "",
    ])


@dataclass
class ClamdDaemon:
    """One clamd process. ``max_stream_bytes`` must cover the tenant's ``max_file_bytes``:
    a longer INSTREAM is refused by clamd, larger files would be scanned only in part."""

    state_dir: Path
    database_dirs: tuple[Path, ...] = (SIGNATURES_DIR,)
    max_stream_bytes: int = 600 * 1024 * 1024
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def socket_path(self) -> Path:
        return self.state_dir / "clamd.sock"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "clamd.log"

    def _config(self, database: Path) -> str:
        return render_config(socket=self.socket_path, database=database,
                             temp_dir=self.state_dir / "tmp", log_file=self.log_path,
                             max_stream_bytes=self.max_stream_bytes)

    def start(self, timeout: float = 60.0) -> None:
        """Start clamd and wait until it answers PING."""
        binary = clamd_binary()
        if binary is None:
            raise FileNotFoundError("clamd is not installed (Debian package clamav-daemon)")
        database = self.state_dir / "db"
        database.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "tmp").mkdir(exist_ok=True)
        for folder in self.database_dirs:
            for sig in folder.iterdir():
                if sig.is_file():
                    shutil.copyfile(sig, database / sig.name)
        config = self.state_dir / "clamd.conf"
        config.write_text(self._config(database))
        self.socket_path.unlink(missing_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([binary, f"--config-file={config}"], stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        scanner = ClamdScanner(self.socket_path, timeout=5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"clamd exited: {self.log_tail()}")
            if scanner.ping():
                return
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"clamd did not answer within {timeout}s: {self.log_tail()}")

    def stop(self) -> None:
        """Stop clamd (SIGTERM, then SIGKILL)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)

    def log_tail(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-2000:]


def clamd_socket_of(path: Path) -> Path:
    """A clamd's socket: ``path`` itself, or the ``LocalSocket`` of the clamd.conf it is."""
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.strip().partition(" ")
            if key == "LocalSocket" and value.strip():
                return Path(value.strip())
        raise ValueError(f"{path} names no LocalSocket")
    return path


def reload_clamds(clamds: list[Path], *, wait_s: float = 120.0) -> int:
    """``RELOAD`` each clamd (by socket or clamd.conf) and print its ``VERSION`` once it
    changed (clamd loads the new database in the background, scanning with the old one
    meanwhile), or after ``wait_s`` when it did not; 1 if any could not be reached."""
    failed = 0
    for given in clamds:
        try:
            scanner = ClamdScanner(clamd_socket_of(given), timeout=30)
            before = scanner.version()
            scanner.reload()
            deadline = time.monotonic() + wait_s
            now = before
            while now == before and time.monotonic() < deadline:
                time.sleep(0.5)
                with contextlib.suppress(ScannerUnavailable):  # busy while it swaps
                    now = scanner.version()
            print(f"{given}: {now}" + (" (unchanged)" if now == before else ""), flush=True)
        except (ValueError, OSError, ScannerUnavailable) as exc:
            print(f"{given}: not reloaded: {exc}", file=sys.stderr, flush=True)
            failed = 1
    return failed


def main(argv: list[str]) -> int:
    daemon = ClamdDaemon(Path(argv[0]) if argv else Path.cwd() / "clamd")
    daemon.start()
    print(daemon.socket_path, flush=True)
    assert daemon.proc is not None
    try:
        return daemon.proc.wait()
    except KeyboardInterrupt:
        daemon.stop()
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
