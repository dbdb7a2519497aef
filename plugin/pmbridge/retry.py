"""Backoff: the one retry schedule pmbridge uses (reconnects and REST retries alike)."""

from __future__ import annotations

import random


class Backoff:
    """Capped exponential backoff with full jitter, reset after a success (Home Assistant's habit).

    ``next()`` returns how long to wait before the next attempt: a random delay in [initial/2, cap], where the cap
    doubles each failure up to ``maximum``. Jitter keeps many bots on one account from reconnecting in lock-step.
    """

    def __init__(self, initial: float, maximum: float, rng: random.Random | None = None) -> None:
        self.initial = initial
        self.maximum = maximum
        self.failures = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        cap = min(self.maximum, self.initial * (2**self.failures))
        self.failures += 1
        return self._rng.uniform(min(self.initial / 2, cap), cap)

    def reset(self) -> None:
        self.failures = 0
