"""Public market data (fapi and dapi): klines, tickers, book, premium index, funding; no signature, Binance shapes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..errors import BinanceError, missing_param
from .candles import CandleMaker, interval_ms, kline_opens
from .catalogue import Catalogue, Contract, Unit
from .noise import stable_key, uniform
from .prices import FUNDING_INTERVAL_MS, PriceKind, PriceModel, next_funding_ms

DEPTH_LIMITS: Final = (5, 10, 20, 50, 100, 500, 1000)
KLINE_PATHS: Final[dict[str, PriceKind]] = {
    "klines": "last",
    "markPriceKlines": "mark",
    "indexPriceKlines": "index",
    "premiumIndexKlines": "premium",
}


def int_param(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise BinanceError(-1100, f"Illegal characters found in a parameter: {raw!r}.") from None


def _px(c: Contract, x: float) -> str:
    return f"{x:.{c.filters.price_decimals}f}"


class MarketData:
    """Response bodies for one moment `now` (real ms): every figure comes from the same `PriceModel`."""

    def __init__(self, catalogue: Catalogue, seed: int = 0) -> None:
        self.catalogue = catalogue
        self.prices = PriceModel(catalogue, seed)
        self.candles = CandleMaker(self.prices)
        self._pairs: dict[tuple[Unit, str], list[str]] = {}
        for c in catalogue.contracts.values():
            self._pairs.setdefault((c.unit, pair_of(c)), []).append(c.symbol)

    def contract(self, unit: Unit, symbol: str | None) -> Contract:
        if not symbol:
            raise missing_param("symbol")
        found = self.catalogue.contracts.get(symbol)
        if found is None or found.unit != unit:
            raise BinanceError(-1121)
        return found

    def selected(self, unit: Unit, q: Mapping[str, str]) -> list[Contract]:
        """The contract named by `symbol`, else those of `pair` (dapi), else all of the unit."""
        if q.get("symbol"):
            return [self.contract(unit, q["symbol"])]
        if q.get("pair"):
            return [self.catalogue.contracts[s] for s in self._symbols_of_pair(unit, q["pair"])]
        return [c for c in self.catalogue.contracts.values() if c.unit == unit]

    def _symbols_of_pair(self, unit: Unit, pair: str) -> list[str]:
        symbols = self._pairs.get((unit, pair))
        if not symbols:
            raise BinanceError(-1121)
        return symbols

    def klines(self, unit: Unit, kind: PriceKind, q: Mapping[str, str], now: int) -> list[list[Any]]:
        if kind == "index":
            # Index klines take the pair; its price is the underlying's, shared by every contract of the pair.
            if not q.get("pair"):
                raise missing_param("pair")
            symbol = self._symbols_of_pair(unit, q["pair"])[0]
        else:
            symbol = self.contract(unit, q.get("symbol")).symbol
        step = interval_ms(q.get("interval"))
        limit = int_param(q.get("limit")) or 500
        if not 1 <= limit <= 1500:
            raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
        opens = kline_opens(step, int_param(q.get("startTime")), int_param(q.get("endTime")), limit, now)
        return [self.candles.kline_row(kind, symbol, step, t, now) for t in opens]

    def premium_index(self, c: Contract, now: int) -> dict[str, Any]:
        p = self.prices
        perpetual = c.perpetual
        body: dict[str, Any] = {
            "symbol": c.symbol,
            "markPrice": f"{p.mark(c.symbol, now):.8f}",
            "indexPrice": f"{p.index(c.base, now):.8f}",
            "estimatedSettlePrice": f"{p.index(c.base, now):.8f}",
            "lastFundingRate": f"{p.funding_rate(c.symbol, next_funding_ms(now)):.8f}" if perpetual else "",
            "interestRate": "0.00010000" if perpetual else "",
            "nextFundingTime": next_funding_ms(now) if perpetual else 0,
            "time": now,
        }
        if c.unit == "CM":
            body["pair"] = pair_of(c)
        return body

    def funding_history(self, unit: Unit, q: Mapping[str, str], now: int) -> list[dict[str, Any]]:
        limit = min(int_param(q.get("limit")) or 100, 1000)
        start, end = int_param(q.get("startTime")), int_param(q.get("endTime"))
        last = min(end if end is not None else now, now) // FUNDING_INTERVAL_MS * FUNDING_INTERVAL_MS
        if start is not None:
            first = -(-start // FUNDING_INTERVAL_MS) * FUNDING_INTERVAL_MS
            times = list(range(first, last + 1, FUNDING_INTERVAL_MS))[:limit]
        else:
            times = list(range(max(last - (limit - 1) * FUNDING_INTERVAL_MS, 0), last + 1, FUNDING_INTERVAL_MS))
        perpetuals = [c for c in self.selected(unit, q) if c.perpetual]
        out = []
        for t in times:
            for c in perpetuals:
                row: dict[str, Any] = {
                    "symbol": c.symbol,
                    "fundingTime": t,
                    "fundingRate": f"{self.prices.funding_rate(c.symbol, t):.8f}",
                }
                if unit == "UM":
                    row["markPrice"] = f"{self.prices.mark(c.symbol, t):.8f}"
                out.append(row)
        return out[-limit:] if start is None else out[:limit]

    def ticker_24hr(self, c: Contract, now: int) -> dict[str, Any]:
        hour = 3_600_000
        opens = kline_opens(hour, None, now, 24, now)
        rows = [self.candles.candle("last", c.symbol, hour, t, now) for t in opens]
        open_px, last = self.prices.last(c.symbol, now - 24 * hour), self.prices.last(c.symbol, now)
        high = max([r[1] for r in rows] + [open_px, last])
        low = min([r[2] for r in rows] + [open_px, last])
        volume = sum(r[4] for r in rows)
        quote = sum(r[4] * (r[0] + r[3]) / 2 for r in rows)
        count = sum(r[5] for r in rows)
        last_id = 1_000_000_000 + now // 100
        body: dict[str, Any] = {
            "symbol": c.symbol,
            "priceChange": _px(c, last - open_px),
            "priceChangePercent": f"{(last / open_px - 1) * 100:.3f}",
            "weightedAvgPrice": _px(c, quote / volume if volume else last),
            "lastPrice": _px(c, last),
            "lastQty": "0.010",
            "openPrice": _px(c, open_px),
            "highPrice": _px(c, high),
            "lowPrice": _px(c, low),
            "volume": f"{volume:.3f}",
            "quoteVolume": f"{quote:.2f}",
            "openTime": now - 24 * hour,
            "closeTime": now,
            "firstId": last_id - count + 1,
            "lastId": last_id,
            "count": count,
        }
        if c.unit == "CM":
            body.update({"pair": pair_of(c), "volume": str(round(quote / 100)), "baseVolume": f"{volume:.8f}"})
            del body["quoteVolume"]
        return body

    def book_ticker(self, c: Contract, now: int) -> dict[str, Any]:
        bid, ask = self.prices.best_bid_ask(c.symbol, now)
        body: dict[str, Any] = {
            "symbol": c.symbol,
            "bidPrice": _px(c, bid),
            "bidQty": _qty(c, now, 0, "bid", bid),
            "askPrice": _px(c, ask),
            "askQty": _qty(c, now, 0, "ask", ask),
            "time": now,
            "lastUpdateId": _update_id(now),
        }
        if c.unit == "CM":
            body["pair"] = pair_of(c)
        return body

    def last_price(self, c: Contract, now: int) -> dict[str, Any]:
        body: dict[str, Any] = {"symbol": c.symbol, "price": _px(c, self.prices.last(c.symbol, now)), "time": now}
        if c.unit == "CM":
            body["ps"] = pair_of(c)
        return body

    def depth(self, unit: Unit, q: Mapping[str, str], now: int) -> dict[str, Any]:
        c = self.contract(unit, q.get("symbol"))
        limit = int_param(q.get("limit")) or 500
        if limit not in DEPTH_LIMITS:
            raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
        bid, ask = self.prices.best_bid_ask(c.symbol, now)
        tick = self.prices.tick(c.symbol)
        levels = range(min(limit, int(bid / tick)))
        body: dict[str, Any] = {
            "lastUpdateId": _update_id(now),
            "E": now,
            "T": now,
            "bids": [[_px(c, bid - i * tick), _qty(c, now, i, "bid", bid)] for i in levels],
            "asks": [[_px(c, ask + i * tick), _qty(c, now, i, "ask", ask)] for i in range(limit)],
        }
        if unit == "CM":
            body.update({"symbol": c.symbol, "pair": pair_of(c)})
        return body


def pair_of(c: Contract) -> str:
    return c.symbol.split("_")[0] if c.unit == "UM" else f"{c.base}USD"


def _update_id(now: int) -> int:
    return 3_000_000_000 + now // 10


def _qty(c: Contract, now: int, level: int, side: str, price: float) -> str:
    """Resting size at one level: about 1,000-100,000 USD of it, in whole lots (contracts on COIN-M)."""
    draw = abs(uniform(stable_key(now // 1000, c.symbol + side), level))
    if c.unit == "CM":
        return str(1 + int(draw * 400 * (1 + level)))
    step = float(c.filters.step)
    lots = max(1, round((1_000 + draw * 100_000 * (1 + level / 4)) / max(price, 1e-9) / step))
    return f"{lots * step:.{c.filters.qty_decimals}f}"
