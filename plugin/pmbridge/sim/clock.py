"""Simulated exchange time: starts at the real wall clock and runs at an adjustable speed."""

from __future__ import annotations

import time


class SimClock:
    """Sim milliseconds = wall-clock start + speed x elapsed real time (+ any jumps).

    Elapsed time is measured on the monotonic clock so a wall-clock step on the host does not move sim time.
    """

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"clock speed must be > 0, got {speed}; use 1.0 for real time")
        self._speed = float(speed)
        self._anchor_sim_ms = float(time.time() * 1000.0)
        self._anchor_mono = time.monotonic()

    @property
    def speed(self) -> float:
        return self._speed

    def now_ms(self) -> int:
        return int(self._anchor_sim_ms + (time.monotonic() - self._anchor_mono) * 1000.0 * self._speed)

    def set_speed(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError(f"clock speed must be > 0, got {speed}; use 1.0 for real time")
        # Re-anchor so the new speed applies from now on instead of rewriting the past.
        self._anchor_sim_ms = float(self.now_ms())
        self._anchor_mono = time.monotonic()
        self._speed = float(speed)

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError(f"the sim clock only moves forward; advance_ms was {ms}")
        self._anchor_sim_ms += ms


def real_ms() -> int:
    """Real wall-clock ms: what clients sign `timestamp` with, so recvWindow checks use it, not sim time."""
    return int(time.time() * 1000)
