"""When has a data-plane process been idle long enough to drop its heavy parts (issue 18,
density)? The bookkeeping only: the worker and the API's query-embedding child ask it, with
the clock they are given, and act on the answer themselves.

A process is *idle* when no tracked work runs and the last tracked work ended at least
``idle_after_s`` ago. ``idle_after_s == 0`` means never idle (heavy parts are kept)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class IdleTracker:
    """Counts the work running now and remembers when the last one ended (thread-safe)."""

    def __init__(self, idle_after_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if idle_after_s < 0:
            raise ValueError("idle_after_s must be 0 (never idle) or more")
        self.idle_after_s = idle_after_s
        self._clock = clock
        self._lock = threading.Lock()
        self._running = 0
        self._last_activity = clock()

    @contextmanager
    def working(self) -> Iterator[None]:
        """Track one piece of work for the length of the block."""
        with self._lock:
            self._running += 1
            self._last_activity = self._clock()
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                self._last_activity = self._clock()

    def touch(self) -> None:
        """Count now as activity (e.g. the heavy parts were just loaded)."""
        with self._lock:
            self._last_activity = self._clock()

    @property
    def running(self) -> int:
        return self._running

    def idle_for(self) -> float:
        """Seconds since the last work ended; 0 while some runs."""
        with self._lock:
            return 0.0 if self._running else max(0.0, self._clock() - self._last_activity)

    def is_idle(self) -> bool:
        """True when stopping is allowed: enabled, nothing running, quiet long enough."""
        return self.idle_after_s > 0 and self.idle_for() >= self.idle_after_s

    def check_interval_s(self) -> float:
        """How often a watcher should ask: a quarter of the idle time, 0.2–5 s."""
        return min(5.0, max(0.2, self.idle_after_s / 4))
