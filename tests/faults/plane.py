"""The fault suite's data plane and its tools: a ``DataPlaneHarness`` that can be killed and
restarted role by role, a deadline that fails a round with what it saw, the figures a round
prints, and an upload that is re-sent under its idempotency key until it gets a receipt."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx
import psutil
import pytest

from tests.e2e.harness import DataPlaneHarness, manifest_for


def env_number(name: str, default: float) -> float:
    """A size or duration of the suite, from the environment (so it can be tried short)."""
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


@dataclass
class Deadline:
    """The time a round may take; ``fail`` ends the test saying what was seen by then."""

    what: str
    seconds: float
    started: float = field(default_factory=time.monotonic)

    @property
    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.started)

    def expired(self) -> bool:
        return self.left <= 0

    def cancel(self) -> None:
        """Expire now: whoever waits on this deadline (another thread) fails at once."""
        self.seconds = 0.0

    def fail(self, seen: str) -> NoReturn:
        pytest.fail(f"{self.what} did not finish within {self.seconds:g} s; seen: {seen}",
                    pytrace=False)

    def wait_for(self, done: Callable[[], bool], seen: Callable[[], str],
                 poll: float = 1.0) -> None:
        while not done():
            if self.expired():
                self.fail(seen())
            time.sleep(poll)


class Figures:
    """Named figures of one test, printed as they come and again in the terminal summary."""

    def __init__(self, test: str, sink: list[str]) -> None:
        self._test = test
        self._sink = sink

    def add(self, name: str, value: object) -> None:
        line = f"[{self._test}] {name}: {value}"
        print(line, flush=True)
        self._sink.append(line)


@dataclass
class FaultPlane(DataPlaneHarness):
    """The e2e harness plus what faults need: SIGKILL of one role with a count of the
    processes it left behind, and restarts."""

    #: processes found alive in a killed role's session a few seconds after its kill
    leftovers: Counter[str] = field(default_factory=Counter)

    def sigkill(self, role: str, grace: float = 3.0) -> None:
        """``kill -9`` of the role's process alone (as the OOM killer or a host crash would);
        its children get ``grace`` seconds to notice, then whatever is left of its session
        is counted and stopped (it is ours: the harness starts each role in a session)."""
        proc = self.procs.get(role)
        if proc is None:
            return
        session = proc.pid
        self.kill(role, signal.SIGKILL)
        time.sleep(grace)
        for member in _session_members(session):
            with contextlib.suppress(psutil.Error):
                self.leftovers[f"{role}: {_describe(member)}"] += 1
                member.kill()

    def restart(self, role: str, ready_timeout: float) -> None:
        self.start(role)
        if role == "serve":
            self.wait_ready(ready_timeout)

    def stop(self) -> None:
        """Stop every role; a role that ignores SIGTERM is killed (with its session)."""
        sessions = [p.pid for p in self.procs.values()]
        try:
            super().stop()
        finally:
            for session in sessions:
                for member in _session_members(session):
                    with contextlib.suppress(psutil.Error):
                        member.kill()


def _describe(proc: psutil.Process) -> str:
    """A process in a few words: its command line's telling part."""
    words = [w for w in proc.cmdline() if not w.startswith("-")]
    return " ".join(words[1:4])[:80] or proc.name()


def _session_members(session: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getsid(proc.pid) == session and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def post_batch(client: httpx.Client, paths: list[Path], key: str) -> httpx.Response:
    """One attempt at ``POST /v1/batches`` under ``Idempotency-Key: key``."""
    handles = [p.open("rb") for p in paths]
    try:
        return client.post(
            "/v1/batches", data={"manifest": json.dumps(manifest_for(paths, client_ref=key))},
            files=[("files", (p.name, h)) for p, h in zip(paths, handles, strict=True)],
            headers={"Idempotency-Key": key})
    finally:
        for h in handles:
            h.close()


@dataclass
class Delivery:
    """An upload sent until it got its receipt: how many attempts it took and why."""

    key: str
    receipt: dict[str, Any] | None = None
    attempts: int = 0
    failures: list[str] = field(default_factory=list)


def deliver(client: httpx.Client, paths: list[Path], key: str, deadline: Deadline) -> Delivery:
    """Send the batch until a 202 comes back, re-sending under the same key after a dropped
    connection or an answer of a dying or starting API (5xx), as a vendor's client would."""
    out = Delivery(key)
    while out.receipt is None:
        if deadline.expired():
            deadline.fail(f"upload {key} after {out.attempts} attempts: {out.failures[-5:]}")
        out.attempts += 1
        try:
            response = post_batch(client, paths, key)
        except httpx.TransportError as exc:
            out.failures.append(type(exc).__name__)
            time.sleep(0.5)
            continue
        if response.status_code == 202:
            out.receipt = response.json()
        elif response.status_code >= 500 or response.status_code == 429:
            out.failures.append(str(response.status_code))
            time.sleep(0.5)
        else:
            pytest.fail(f"upload {key} refused: {response.status_code} {response.text[:500]}")
    return out


def pipeline_state(database_url: str) -> dict[str, int]:
    """Documents per ``status/stage`` now (empty when the database does not answer)."""
    import psycopg

    try:
        with psycopg.connect(database_url, connect_timeout=5) as conn:
            rows = conn.execute("SELECT status || '/' || stage, count(*) FROM documents"
                                " GROUP BY 1 ORDER BY 1").fetchall()
    except psycopg.Error:
        return {}
    return {str(k): int(n) for k, n in rows}


def wait_settled(database_url: str, deadline: Deadline, *, stall_s: float,
                 seen: Callable[[], str], tick: Callable[[], None] = lambda: None) -> None:
    """Wait until no document is ACCEPTED or PROCESSING (calling ``tick`` at each poll).
    Fails at the deadline, or sooner when nothing has moved for ``stall_s`` seconds (a
    stuck document does not wait for the whole deadline), with what ``seen`` reports then."""
    last: dict[str, int] = {}
    moved = time.monotonic()
    while True:
        tick()
        state = pipeline_state(database_url)
        if state and not any(k.startswith(("ACCEPTED/", "PROCESSING/")) for k in state):
            return
        if state != last:
            last, moved = state, time.monotonic()
        if deadline.expired():
            deadline.fail(f"{state}; {seen()}")
        if time.monotonic() - moved > stall_s:
            pytest.fail(f"{deadline.what}: nothing moved for {stall_s:g} s at {state}; "
                        f"{seen()}", pytrace=False)
        time.sleep(2.0)
