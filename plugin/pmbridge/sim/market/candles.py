"""Klines built from the price model: aligned to real-time interval boundaries, contiguous, cached once closed."""

from __future__ import annotations

import math
from typing import Any, Final

from ..errors import BinanceError
from .noise import stable_key, uniform
from .prices import DAY_MS, PriceKind, PriceModel

_MIN: Final = 60_000
INTERVALS_MS: Final[dict[str, int]] = {
    "1m": _MIN,
    "3m": 3 * _MIN,
    "5m": 5 * _MIN,
    "15m": 15 * _MIN,
    "30m": 30 * _MIN,
    "1h": 60 * _MIN,
    "2h": 120 * _MIN,
    "4h": 240 * _MIN,
    "6h": 360 * _MIN,
    "8h": 480 * _MIN,
    "12h": 720 * _MIN,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": 7 * DAY_MS,
}
_WEEK_OFFSET_MS: Final = 4 * DAY_MS  # weekly candles open Monday 00:00 UTC; 1970-01-01 was a Thursday
_SAMPLES: Final = 6
_CACHE_MAX: Final = 200_000
# Quote notional traded per minute, in USD(T), for the volume columns.
_NOTIONAL_PER_MIN: Final = {"BTC": 8_000_000.0, "ETH": 4_000_000.0}
_CM_CONTRACT_USD: Final = {"BTC": 100.0}

Candle = tuple[float, float, float, float, float, int]  # open, high, low, close, base volume, trade count


def interval_ms(interval: str | None) -> int:
    if not interval:
        raise BinanceError(-1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed.")
    if interval not in INTERVALS_MS:
        raise BinanceError(-1120)
    return INTERVALS_MS[interval]


def open_time(t_ms: int, step_ms: int) -> int:
    offset = _WEEK_OFFSET_MS if step_ms == INTERVALS_MS["1w"] else 0
    return (t_ms - offset) // step_ms * step_ms + offset


def kline_opens(step_ms: int, start: int | None, end: int | None, limit: int, now_ms: int) -> range:
    """Open times Binance would answer: from the first open >= startTime, else the newest `limit` up to endTime."""
    last = open_time(min(end, now_ms) if end is not None else now_ms, step_ms)
    if start is not None:
        first = open_time(start, step_ms)
        if first < start:
            first += step_ms
        return range(first, last + 1, step_ms)[:limit]
    return range(max(last - (limit - 1) * step_ms, 0), last + 1, step_ms)


class CandleMaker:
    def __init__(self, prices: PriceModel) -> None:
        self.prices = prices
        self._cache: dict[tuple[str, str, int, int], Candle] = {}
        self._wick_key = stable_key(prices.seed, "wick")

    def candle(self, kind: PriceKind, symbol: str, step_ms: int, open_ms: int, now_ms: int) -> Candle:
        key = (kind, symbol, step_ms, open_ms)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        closed = open_ms + step_ms <= now_ms
        # A closed candle ends where the next one opens, so close(n) == open(n + 1) exactly.
        end = open_ms + step_ms if closed else now_ms
        value = self.prices.value
        points = [value(kind, symbol, open_ms), value(kind, symbol, end)]
        points += [
            value(kind, symbol, t) for t in (open_ms + j * step_ms // _SAMPLES for j in range(1, _SAMPLES)) if t < end
        ]
        high, low = max(points), min(points)
        draw = stable_key(open_ms, symbol) ^ self._wick_key
        if kind == "premium":
            high += 0.00005 * abs(uniform(draw, 1))
            low -= 0.00005 * abs(uniform(draw, 2))
        else:
            wick = 0.15 * self.prices.daily_vol(symbol) * math.sqrt(step_ms / DAY_MS)
            high *= 1 + wick * abs(uniform(draw, 1))
            low *= 1 - wick * abs(uniform(draw, 2))
        if kind == "last":
            tick = self.prices.tick(symbol)
            high, low = math.ceil(high / tick - 1e-9) * tick, math.floor(low / tick + 1e-9) * tick
        mid = (points[0] + points[1]) / 2
        base = self.prices.contract(symbol).base
        notional = _NOTIONAL_PER_MIN.get(base, 200_000.0) * (end - open_ms) / _MIN * (0.6 + 0.4 * uniform(draw, 3))
        volume = notional / mid if kind == "last" and mid > 0 else 0.0
        trades = int(notional / 5_000) if kind == "last" else (end - open_ms) // 1000
        out: Candle = (points[0], high, low, points[1], volume, trades)
        if closed:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[key] = out
        return out

    def kline_row(self, kind: PriceKind, symbol: str, step_ms: int, open_ms: int, now_ms: int) -> list[Any]:
        """One row of Binance's kline array, in the unit's column meanings and string formats."""
        o, h, low, c, volume, trades = self.candle(kind, symbol, step_ms, open_ms, now_ms)
        close_ms = open_ms + step_ms - 1
        if kind != "last":
            p = _fmt8
            return [open_ms, p(o), p(h), p(low), p(c), "0", close_ms, "0", trades, "0", "0", "0"]
        contract = self.prices.contract(symbol)
        px = [f"{x:.2f}" for x in (o, h, low, c)]
        mid = (o + c) / 2
        taker = 0.5 + 0.1 * uniform(stable_key(open_ms, symbol), 4)
        if contract.unit == "UM":
            quote = volume * mid
            return [open_ms, *px, f"{volume:.3f}", close_ms, f"{quote:.4f}", trades, f"{volume * taker:.3f}",
                    f"{quote * taker:.4f}", "0"]  # fmt: skip
        # COIN-M: column 5 counts contracts (USD face value each), column 7 is the base-asset volume.
        contracts = round(volume * mid / _CM_CONTRACT_USD.get(contract.base, 10.0))
        return [open_ms, *px, str(contracts), close_ms, f"{volume:.8f}", trades, str(round(contracts * taker)),
                f"{volume * taker:.8f}", "0"]  # fmt: skip


def _fmt8(x: float) -> str:
    return f"{x:.8f}"
