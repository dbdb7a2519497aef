"""Request weight (rolling real minute) and call counters, as reported by headers and /_sim/stats."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Mapping
from typing import Final

from ..market.data import KLINE_PATHS

WEIGHT_WINDOW_S: Final = 60.0
# Binance's published weights for the endpoints pmbridge uses; anything else costs 1.
_WEIGHTS: Final[dict[str, int]] = {
    "/papi/v1/balance": 20,
    "/papi/v1/account": 20,
    "/papi/v2/um/account": 5,
    "/papi/v1/um/positionRisk": 5,
    "/papi/v1/um/userTrades": 5,
    "/papi/v1/um/income": 30,
    "/papi/v1/um/allOrders": 5,
    "/papi/v1/um/algo/allAlgoOrders": 5,
    "/fapi/v2/account": 5,
    "/fapi/v3/account": 5,
    "/fapi/v2/balance": 5,
    "/fapi/v3/balance": 5,
    "/fapi/v2/positionRisk": 5,
    "/fapi/v3/positionRisk": 5,
    "/fapi/v1/userTrades": 5,
    "/fapi/v1/income": 30,
    "/fapi/v1/allOrders": 5,
    "/fapi/v1/allAlgoOrders": 5,
    "/fapi/v1/accountConfig": 5,
    "/fapi/v1/commissionRate": 20,
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


_OPEN_ORDERS: Final = frozenset(
    {"/fapi/v1/openOrders", "/papi/v1/um/openOrders", "/fapi/v1/openAlgoOrders", "/papi/v1/um/algo/openAlgoOrders"}
)


def weight_of(path: str, query: Mapping[str, str] | None = None) -> int:
    """Binance's published weight of a call, parameters included (market data by ``limit``, open orders by
    whether a ``symbol`` is given); 1 for anything unlisted."""
    query = query or {}
    has_symbol = bool(query.get("symbol") or query.get("pair"))
    if path in _OPEN_ORDERS:
        return 1 if has_symbol else 40
    weight = _market_weight(path, query, has_symbol)
    return weight if weight is not None else _WEIGHTS.get(path, 1)


def _market_weight(path: str, query: Mapping[str, str], has_symbol: bool) -> int | None:
    """Binance's parameter-dependent weights for the market-data routes; None for every other path."""
    if not path.startswith(("/fapi/", "/dapi/")):
        return None
    name = path.split("/", 3)[-1]
    if name in KLINE_PATHS:
        limit = _limit(query)
        return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
    if name == "depth":
        limit = _limit(query)
        return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20
    if name == "ticker/24hr":
        return 1 if has_symbol else 40
    if name == "ticker/bookTicker":
        return 2 if has_symbol else 5
    if name == "ticker/price":
        return 1 if has_symbol else 2
    return None


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


def _limit(query: Mapping[str, str]) -> int:
    raw = query.get("limit") or ""
    return int(raw) if raw.isdigit() else 500
