"""Synthetic but coherent prices: one seeded random-walk-like index path per asset, mark and last prices around it.

Every price is a pure function of (seed, name, real time in ms), so any past candle can be rebuilt at any moment and
two calls for the same instant agree: klines, tickers, the order book and funding rates all derive from it.
"""

from __future__ import annotations

import functools
import math
import zlib
from typing import Final, Literal

from .markets import PERPETUAL_DELIVERY_MS, Catalogue, Contract

PriceKind = Literal["last", "mark", "index", "premium"]
TICK: Final = 0.1  # the PRICE_FILTER tickSize every simulated contract lists
DAY_MS: Final = 86_400_000
YEAR_MS: Final = 365 * DAY_MS
FUNDING_INTERVAL_MS: Final = 8 * 3_600_000
BASE_FUNDING_RATE: Final = 0.0001
_MASK: Final = (1 << 64) - 1
# Value-noise octaves from 4 s to ~48 days, each 4x the previous; amplitude ~ sqrt(period) like a random walk.
_PERIODS_MS: Final = tuple(4_000 * 4**k for k in range(11))
_START_PRICES: Final = {"BTC": 65_000.0, "ETH": 3_200.0, "BNB": 600.0, "SOL": 150.0, "XRP": 2.5}
_DAILY_VOL: Final = {"BTC": 0.03, "ETH": 0.04}
_QUARTERLY_BASIS_PER_YEAR: Final = 0.06


def _mix(x: int) -> int:
    """splitmix64's finaliser: a fast, well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def stable_key(seed: int, name: str) -> int:
    # Not hash(): str hashes change per process, and the same seed must give the same market every run.
    return _mix((seed & _MASK) ^ (zlib.crc32(name.encode()) << 20))


@functools.lru_cache(maxsize=1 << 16)
def uniform(key: int, index: int) -> float:
    """A deterministic draw in [-1, 1) for (key, index)."""
    return _mix(key ^ _mix(index & _MASK)) / 2**63 - 1.0


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


class PriceModel:
    """Index per base asset; mark = index x (1 + basis + premium); last trades around mark. All in real time."""

    def __init__(self, catalogue: Catalogue, seed: int = 0) -> None:
        self.catalogue = catalogue
        self.seed = seed
        assets = {c.base for c in catalogue.contracts.values()}
        self._start = {a: _START_PRICES.get(a) or 5.0 + stable_key(seed, a) % 49_500 / 100.0 for a in assets}
        self._index = {a: NoisePath(stable_key(seed, "index:" + a), _DAILY_VOL.get(a, 0.05)) for a in assets}
        short = _PERIODS_MS[:5]
        symbols = catalogue.contracts
        self._premium = {s: NoisePath(stable_key(seed, "premium:" + s), 0.004, short) for s in symbols}
        self._trade = {s: NoisePath(stable_key(seed, "last:" + s), 0.004, short[:2]) for s in symbols}

    def contract(self, symbol: str) -> Contract:
        return self.catalogue.contracts[symbol]

    def index(self, asset: str, t_ms: int) -> float:
        return self._start[asset] * math.exp(self._index[asset](t_ms))

    def premium(self, symbol: str, t_ms: int) -> float:
        """(mark - index) / index: a small wandering premium, plus the time value of a delivery contract."""
        c = self.contract(symbol)
        basis = 0.0
        if c.delivery_ms != PERPETUAL_DELIVERY_MS:
            basis = _QUARTERLY_BASIS_PER_YEAR * max(c.delivery_ms - t_ms, 0) / YEAR_MS
        return basis + self._premium[symbol](t_ms)

    def mark(self, symbol: str, t_ms: int) -> float:
        return self.index(self.contract(symbol).base, t_ms) * (1.0 + self.premium(symbol, t_ms))

    def last(self, symbol: str, t_ms: int) -> float:
        """The last trade: mark plus a little trade noise, on the tick grid."""
        raw = self.mark(symbol, t_ms) * (1.0 + self._trade[symbol](t_ms))
        return max(round(raw / TICK), 1) * TICK

    def value(self, kind: PriceKind, symbol: str, t_ms: int) -> float:
        if kind == "last":
            return self.last(symbol, t_ms)
        if kind == "mark":
            return self.mark(symbol, t_ms)
        if kind == "premium":
            return self.premium(symbol, t_ms)
        return self.index(self.contract(symbol).base, t_ms)

    def best_bid_ask(self, symbol: str, t_ms: int) -> tuple[float, float]:
        """One-tick spread that always brackets the last trade (which sits on one side of it)."""
        raw = self.mark(symbol, t_ms) * (1.0 + self._trade[symbol](t_ms))
        bid = max(math.floor(raw / TICK + 1e-9), 1) * TICK
        return bid, bid + TICK

    def daily_vol(self, symbol: str) -> float:
        return _DAILY_VOL.get(self.contract(symbol).base, 0.05)

    def start_price(self, symbol: str) -> float:
        return self._start[self.contract(symbol).base]

    def funding_rate(self, symbol: str, funding_time_ms: int) -> float:
        """The rate settled at `funding_time_ms`: the interest-rate floor plus the period's average premium, clamped."""
        period_start = funding_time_ms - FUNDING_INTERVAL_MS
        samples = [self._premium[symbol](period_start + i * FUNDING_INTERVAL_MS // 8) for i in range(8)]
        rate = BASE_FUNDING_RATE + sum(samples) / len(samples) / 8
        return min(max(rate, -0.0075), 0.0075)


def next_funding_ms(t_ms: int) -> int:
    return (t_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
