"""LogRate: the first occurrence of a problem is logged, then at most one line per interval with the count since.

A fault repeated on every frame (a plugin raising, a peer sending garbage) must neither flood the log nor slow the
bridge down formatting thousands of identical lines; every occurrence is still counted where it is reported.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from typing import Final

INTERVAL: Final = 10.0
"""Seconds between two log lines about the same problem."""


class LogRate:
    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self._last: dict[Hashable, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def due(self, key: Hashable) -> int | None:
        """None to stay quiet; else how many times ``key`` happened since it was last logged (1 the first time).

        ``key`` should come from a bounded set (a plugin and hook, a kind of fault), not from the faulty data."""
        now = time.monotonic()
        with self._lock:
            last, count = self._last.get(key, (-1e18, 0))
            count += 1
            if now - last < self.interval:
                self._last[key] = (last, count)
                return None
            self._last[key] = (now, 0)
            return count
