"""A job run at most once per interval in this process (the stores' purges of expired rows)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class AtMostEvery:
    """Runs a job at most once per ``seconds``; a thread that finds it running skips it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._next = 0.0
        self._lock = threading.Lock()

    def run(self, job: Callable[[], object]) -> None:
        """Run ``job`` now when its interval has passed and no other thread is running it; else do nothing."""
        now = time.monotonic()
        if now < self._next or not self._lock.acquire(blocking=False):
            return
        try:
            self._next = now + self.seconds
            job()
        finally:
            self._lock.release()
