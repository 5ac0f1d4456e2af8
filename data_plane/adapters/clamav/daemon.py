"""A clamd the project starts itself: its own config, socket, database and temp folders
under one state folder (SPEC §8: real ClamAV, started by the project's own scripts).

Used by the test harness and the local provider; production images run clamd from their
own config with freshclam's databases.

    python -m data_plane.adapters.clamav.daemon STATE_DIR     # start, print the socket, wait
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from data_plane.adapters.clamav import SIGNATURES_DIR
from data_plane.adapters.clamav.scanner import ClamdScanner

CLAMD_CANDIDATES = ("/usr/sbin/clamd", "/usr/bin/clamd")


def clamd_binary() -> str | None:
    """The clamd executable of this machine (Debian's ``clamav-daemon``), or None."""
    found = shutil.which("clamd")
    if found:
        return found
    return next((c for c in CLAMD_CANDIDATES if Path(c).exists()), None)


def render_config(*, socket: Path, database: Path, temp_dir: Path, log_file: Path,
                  max_stream_bytes: int) -> str:
    """A clamd config of the project's own: its socket (owner only), database, temporary
    folder and log, in the foreground; streams up to ``max_stream_bytes`` (a longer INSTREAM
    is refused, never scanned in part)."""
    megabytes = max_stream_bytes // (1024 * 1024) + 1
    return "\n".join([
        f"LocalSocket {socket}",
        "LocalSocketMode 600",
        f"DatabaseDirectory {database}",
        f"TemporaryDirectory {temp_dir}",
        f"LogFile {log_file}",
        "LogTime yes",
        "Foreground yes",
        f"StreamMaxLength {megabytes}M",
        f"MaxScanSize {megabytes}M",
        f"MaxFileSize {megabytes}M",
        "SelfCheck 0",
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
