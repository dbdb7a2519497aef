"""Request weight (rolling real minute) and call counters, as reported by headers and /_sim/stats."""

from __future__ import annotations

import time
from collections import Counter, deque
from typing import Final

WEIGHT_WINDOW_S: Final = 60.0
# Binance's published weights for the endpoints pmbridge uses; anything else costs 1.
_WEIGHTS: Final[dict[str, int]] = {
    "/papi/v1/um/symbolConfig": 5,
    "/papi/v1/um/account": 5,
    "/papi/v1/um/accountConfig": 5,
    "/papi/v1/cm/account": 5,
    "/fapi/v1/symbolConfig": 5,
    "/dapi/v1/account": 5,
    "/fapi/v1/multiAssetsMargin": 30,
    "/fapi/v1/positionSide/dual": 30,
    "/dapi/v1/positionSide/dual": 30,
    "/dapi/v1/positionRisk": 1,
}


def weight_of(path: str) -> int:
    return _WEIGHTS.get(path, 1)


class Meter:
    def __init__(self) -> None:
        self._spent: deque[tuple[float, int]] = deque()
        self.rest_calls: Counter[str] = Counter()
        self.ws_connections_total = 0
        self.frames_pushed = 0

    def record(self, method: str, path: str, weight: int | None = None) -> int:
        """Count the call and charge its weight (`weight`, else the path's); returns the rolling 1-minute weight."""
        self.rest_calls[f"{method} {path}"] += 1
        self._spent.append((time.monotonic(), weight_of(path) if weight is None else weight))
        return self.weight_1m()

    def weight_1m(self) -> int:
        horizon = time.monotonic() - WEIGHT_WINDOW_S
        while self._spent and self._spent[0][0] < horizon:
            self._spent.popleft()
        return sum(w for _, w in self._spent)

    def reset(self) -> None:
        self.rest_calls.clear()
        self.ws_connections_total = 0
        self.frames_pushed = 0
        self._spent.clear()

    def snapshot(self) -> dict[str, object]:
        return {
            "rest_calls": dict(self.rest_calls),
            "ws_connections_total": self.ws_connections_total,
            "frames_pushed": self.frames_pushed,
            "weight_1m": self.weight_1m(),
        }
