"""Synthetic but coherent prices: one seeded random-walk-like index path per asset, mark and last prices around it.

Every price is a function of (seed, name, real time in ms), so any past candle can be rebuilt at any moment and two
calls for the same instant agree: klines, tickers, the order book, funding rates and the trading engine's fills all
derive from it. A test (or the control API) can *pin* a symbol's price from a moment on: from then its last and mark
price are the pinned value and its book is one tick wide above it, until the pin is moved or released.
"""

from __future__ import annotations

import bisect
import math
from decimal import Decimal
from typing import Final, Literal

from .catalogue import Catalogue, Contract
from .noise import stable_key, uniform

PriceKind = Literal["last", "mark", "index", "premium"]
DAY_MS: Final = 86_400_000
YEAR_MS: Final = 365 * DAY_MS
FUNDING_INTERVAL_MS: Final = 8 * 3_600_000
BASE_FUNDING_RATE: Final = 0.0001
# Value-noise octaves from 4 s to ~48 days, each 4x the previous; amplitude ~ sqrt(period) like a random walk.
_PERIODS_MS: Final = tuple(4_000 * 4**k for k in range(11))
_DAILY_VOL: Final = {"BTC": 0.03, "ETH": 0.04}
_QUARTERLY_BASIS_PER_YEAR: Final = 0.06


class NoisePath:
    """Sum of linearly interpolated value-noise octaves: continuous, wandering, cheap to evaluate at any instant."""

    def __init__(self, key: int, daily_vol: float, periods_ms: tuple[int, ...] = _PERIODS_MS) -> None:
        self._octaves = [
            (key + k * 0x9E37, period, daily_vol * math.sqrt(period / DAY_MS)) for k, period in enumerate(periods_ms)
        ]

    def __call__(self, t_ms: int) -> float:
        total = 0.0
        for key, period, amplitude in self._octaves:
            i, rem = divmod(t_ms, period)
            a = uniform(key, i)
            total += amplitude * (a + (uniform(key, i + 1) - a) * rem / period)
        return total


class Pins:
    """Per symbol, the moments (real ms) from which its price was pinned to a value, or released (None)."""

    def __init__(self) -> None:
        self._times: dict[str, list[int]] = {}
        self._values: dict[str, list[float | None]] = {}

    def set(self, symbol: str, t_ms: int, value: float | None) -> None:
        times = self._times.setdefault(symbol, [])
        values = self._values.setdefault(symbol, [])
        # A second pin in the same millisecond replaces the first: the newest instruction wins.
        if times and times[-1] >= t_ms:
            t_ms = times[-1]
            values[-1] = value
            return
        times.append(t_ms)
        values.append(value)

    def at(self, symbol: str, t_ms: int) -> float | None:
        times = self._times.get(symbol)
        if not times:
            return None
        i = bisect.bisect_right(times, t_ms) - 1
        return None if i < 0 else self._values[symbol][i]


class PriceModel:
    """Index per base asset; mark = index x (1 + basis + premium); last trades around mark. All in real time."""

    def __init__(self, catalogue: Catalogue, seed: int = 0) -> None:
        self.catalogue = catalogue
        self.seed = seed
        self.pins = Pins()
        contracts = catalogue.contracts.values()
        self._start = {c.base: c.start_price for c in contracts}
        self._index = {a: NoisePath(stable_key(seed, "index:" + a), _DAILY_VOL.get(a, 0.05)) for a in self._start}
        short = _PERIODS_MS[:5]
        symbols = catalogue.contracts
        self._premium = {s: NoisePath(stable_key(seed, "premium:" + s), 0.004, short) for s in symbols}
        self._trade = {s: NoisePath(stable_key(seed, "last:" + s), 0.004, short[:2]) for s in symbols}
        self._tick = {s: float(c.filters.tick) for s, c in symbols.items()}
        self._places = {s: c.filters.price_decimals for s, c in symbols.items()}

    def contract(self, symbol: str) -> Contract:
        return self.catalogue.contracts[symbol]

    def tick(self, symbol: str) -> float:
        return self._tick[symbol]

    def index(self, asset: str, t_ms: int) -> float:
        return self._start[asset] * math.exp(self._index[asset](t_ms))

    def _model_premium(self, symbol: str, t_ms: int) -> float:
        c = self.contract(symbol)
        basis = 0.0
        if not c.perpetual:
            basis = _QUARTERLY_BASIS_PER_YEAR * max(c.delivery_ms - t_ms, 0) / YEAR_MS
        return basis + self._premium[symbol](t_ms)

    def premium(self, symbol: str, t_ms: int) -> float:
        """(mark - index) / index: a small wandering premium, plus the time value of a delivery contract."""
        pinned = self.pins.at(symbol, t_ms)
        if pinned is not None:
            return pinned / self.index(self.contract(symbol).base, t_ms) - 1.0
        return self._model_premium(symbol, t_ms)

    def mark(self, symbol: str, t_ms: int) -> float:
        pinned = self.pins.at(symbol, t_ms)
        if pinned is not None:
            return pinned
        return self._model_mark(symbol, t_ms)

    def _model_mark(self, symbol: str, t_ms: int) -> float:
        return self.index(self.contract(symbol).base, t_ms) * (1.0 + self._model_premium(symbol, t_ms))

    def _traded(self, symbol: str, t_ms: int, mark: float) -> float:
        """The unpinned mark plus a little trade noise, off the tick grid: what last, bid and ask are snapped from."""
        return mark * (1.0 + self._trade[symbol](t_ms))

    def last(self, symbol: str, t_ms: int) -> float:
        """The last trade: mark plus a little trade noise, on the tick grid."""
        pinned = self.pins.at(symbol, t_ms)
        if pinned is not None:
            return pinned
        return _last(self._traded(symbol, t_ms, self._model_mark(symbol, t_ms)), self._tick[symbol])

    def value(self, kind: PriceKind, symbol: str, t_ms: int) -> float:
        if kind == "last":
            return self.last(symbol, t_ms)
        if kind == "mark":
            return self.mark(symbol, t_ms)
        if kind == "premium":
            return self.premium(symbol, t_ms)
        return self.index(self.contract(symbol).base, t_ms)

    def best_bid_ask(self, symbol: str, t_ms: int) -> tuple[float, float]:
        """One-tick spread that always brackets the last trade (a pinned price is the bid)."""
        tick = self._tick[symbol]
        pinned = self.pins.at(symbol, t_ms)
        if pinned is not None:
            return pinned, pinned + tick
        bid = _bid(self._traded(symbol, t_ms, self._model_mark(symbol, t_ms)), tick)
        return bid, bid + tick

    def quote(self, symbol: str, t_ms: int) -> Quote:
        """Bid, ask, last and mark at ``t_ms`` as exact decimals on the contract's tick grid (mark: 8 decimals).
        The same figures as ``best_bid_ask``, ``last`` and ``mark``, from one pin look-up and one model mark."""
        tick = self._tick[symbol]
        places = self._places[symbol]
        pinned = self.pins.at(symbol, t_ms)
        if pinned is not None:
            bid = last = mark = pinned
        else:
            mark = self._model_mark(symbol, t_ms)
            raw = self._traded(symbol, t_ms, mark)
            bid, last = _bid(raw, tick), _last(raw, tick)
        return Quote(_dec(bid, places), _dec(bid + tick, places), _dec(last, places), _dec(mark, 8))

    def pin(self, symbol: str, t_ms: int, price: float | None) -> None:
        """From ``t_ms`` on, ``symbol`` trades at ``price`` (snapped to its tick); None hands it back to the model."""
        if price is not None:
            tick = self._tick[symbol]
            price = max(round(price / tick), 1) * tick
        self.pins.set(symbol, t_ms, price)

    def daily_vol(self, symbol: str) -> float:
        return _DAILY_VOL.get(self.contract(symbol).base, 0.05)

    def funding_rate(self, symbol: str, funding_time_ms: int) -> float:
        """The rate settled at `funding_time_ms`: the interest-rate floor plus the period's average premium, clamped."""
        period_start = funding_time_ms - FUNDING_INTERVAL_MS
        samples = [self._premium[symbol](period_start + i * FUNDING_INTERVAL_MS // 8) for i in range(8)]
        rate = BASE_FUNDING_RATE + sum(samples) / len(samples) / 8
        return min(max(rate, -0.0075), 0.0075)


class Quote:
    """Prices of one symbol at one instant, exact: what fills, margins and liquidations are computed from."""

    __slots__ = ("ask", "bid", "last", "mark")

    def __init__(self, bid: Decimal, ask: Decimal, last: Decimal, mark: Decimal) -> None:
        self.bid, self.ask, self.last, self.mark = bid, ask, last, mark


def _bid(raw: float, tick: float) -> float:
    """The best bid under a traded price: the tick at or below it (never below one tick)."""
    return max(math.floor(raw / tick + 1e-9), 1) * tick


def _last(raw: float, tick: float) -> float:
    """A traded price on the tick grid: the nearest tick (never below one tick)."""
    return max(round(raw / tick), 1) * tick


def _dec(value: float, places: int) -> Decimal:
    return Decimal(f"{value:.{places}f}")


def next_funding_ms(t_ms: int) -> int:
    return (t_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
