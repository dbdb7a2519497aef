"""Public market data (fapi and dapi): klines, tickers, book, premium index, funding; no signature, Binance shapes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import orjson
from aiohttp import web

from .candles import CandleMaker, interval_ms, kline_opens
from .clock import real_ms
from .errors import BinanceError, missing_param
from .markets import PERPETUAL_DELIVERY_MS, Catalogue, Contract, Unit
from .prices import FUNDING_INTERVAL_MS, TICK, PriceKind, PriceModel, next_funding_ms, stable_key, uniform

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DEPTH_LIMITS: Final = (5, 10, 20, 50, 100, 500, 1000)
_PREFIX: Final[dict[Unit, str]] = {"UM": "/fapi/v1", "CM": "/dapi/v1"}
_KLINE_PATHS: Final[dict[str, PriceKind]] = {
    "klines": "last",
    "markPriceKlines": "mark",
    "indexPriceKlines": "index",
    "premiumIndexKlines": "premium",
}


def request_weight(path: str, query: Mapping[str, str]) -> int | None:
    """Binance's parameter-dependent weights for the market-data routes; None for every other path."""
    if not path.startswith(("/fapi/", "/dapi/")):
        return None
    name = path.split("/", 3)[-1]
    has_symbol = bool(query.get("symbol") or query.get("pair"))
    if name in _KLINE_PATHS:
        limit = _int(query.get("limit")) or 500
        return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
    if name == "depth":
        limit = _int(query.get("limit")) or 500
        return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20
    if name == "ticker/24hr":
        return 1 if has_symbol else 40
    if name == "ticker/bookTicker":
        return 2 if has_symbol else 5
    if name == "ticker/price":
        return 1 if has_symbol else 2
    return None


def _int(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise BinanceError(-1100, f"Illegal characters found in a parameter: {raw!r}.") from None


def _px(x: float) -> str:
    return f"{x:.2f}"


class MarketData:
    """Response bodies for one moment `now` (real ms): every figure comes from the same `PriceModel`."""

    def __init__(self, catalogue: Catalogue, seed: int = 0) -> None:
        self.catalogue = catalogue
        self.prices = PriceModel(catalogue, seed)
        self.candles = CandleMaker(self.prices)
        self._pairs: dict[tuple[Unit, str], list[str]] = {}
        for c in catalogue.contracts.values():
            self._pairs.setdefault((c.unit, _pair(c)), []).append(c.symbol)

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
        limit = _int(q.get("limit")) or 500
        if not 1 <= limit <= 1500:
            raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
        opens = kline_opens(step, _int(q.get("startTime")), _int(q.get("endTime")), limit, now)
        return [self.candles.kline_row(kind, symbol, step, t, now) for t in opens]

    def premium_index(self, c: Contract, now: int) -> dict[str, Any]:
        p = self.prices
        perpetual = c.delivery_ms == PERPETUAL_DELIVERY_MS
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
            body["pair"] = _pair(c)
        return body

    def funding_history(self, unit: Unit, q: Mapping[str, str], now: int) -> list[dict[str, Any]]:
        limit = min(_int(q.get("limit")) or 100, 1000)
        start, end = _int(q.get("startTime")), _int(q.get("endTime"))
        last = min(end if end is not None else now, now) // FUNDING_INTERVAL_MS * FUNDING_INTERVAL_MS
        if start is not None:
            first = -(-start // FUNDING_INTERVAL_MS) * FUNDING_INTERVAL_MS
            times = list(range(first, last + 1, FUNDING_INTERVAL_MS))[:limit]
        else:
            times = list(range(max(last - (limit - 1) * FUNDING_INTERVAL_MS, 0), last + 1, FUNDING_INTERVAL_MS))
        perpetuals = [c for c in self.selected(unit, q) if c.delivery_ms == PERPETUAL_DELIVERY_MS]
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
            "priceChange": _px(last - open_px),
            "priceChangePercent": f"{(last / open_px - 1) * 100:.3f}",
            "weightedAvgPrice": _px(quote / volume if volume else last),
            "lastPrice": _px(last),
            "lastQty": "0.010",
            "openPrice": _px(open_px),
            "highPrice": _px(high),
            "lowPrice": _px(low),
            "volume": f"{volume:.3f}",
            "quoteVolume": f"{quote:.2f}",
            "openTime": now - 24 * hour,
            "closeTime": now,
            "firstId": last_id - count + 1,
            "lastId": last_id,
            "count": count,
        }
        if c.unit == "CM":
            body.update({"pair": _pair(c), "volume": str(round(quote / 100)), "baseVolume": f"{volume:.8f}"})
            del body["quoteVolume"]
        return body

    def book_ticker(self, c: Contract, now: int) -> dict[str, Any]:
        bid, ask = self.prices.best_bid_ask(c.symbol, now)
        body: dict[str, Any] = {
            "symbol": c.symbol,
            "bidPrice": _px(bid),
            "bidQty": _qty(c, now, 0, "bid"),
            "askPrice": _px(ask),
            "askQty": _qty(c, now, 0, "ask"),
            "time": now,
            "lastUpdateId": _update_id(now),
        }
        if c.unit == "CM":
            body["pair"] = _pair(c)
        return body

    def last_price(self, c: Contract, now: int) -> dict[str, Any]:
        body: dict[str, Any] = {"symbol": c.symbol, "price": _px(self.prices.last(c.symbol, now)), "time": now}
        if c.unit == "CM":
            body["ps"] = _pair(c)
        return body

    def depth(self, unit: Unit, q: Mapping[str, str], now: int) -> dict[str, Any]:
        c = self.contract(unit, q.get("symbol"))
        limit = _int(q.get("limit")) or 500
        if limit not in DEPTH_LIMITS:
            raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
        bid, ask = self.prices.best_bid_ask(c.symbol, now)
        levels = range(min(limit, int(bid / TICK)))
        body: dict[str, Any] = {
            "lastUpdateId": _update_id(now),
            "E": now,
            "T": now,
            "bids": [[_px(bid - i * TICK), _qty(c, now, i, "bid")] for i in levels],
            "asks": [[_px(ask + i * TICK), _qty(c, now, i, "ask")] for i in range(limit)],
        }
        if unit == "CM":
            body.update({"symbol": c.symbol, "pair": _pair(c)})
        return body


def _pair(c: Contract) -> str:
    return c.symbol.split("_")[0] if c.unit == "UM" else f"{c.base}USD"


def _update_id(now: int) -> int:
    return 3_000_000_000 + now // 10


def _qty(c: Contract, now: int, level: int, side: str) -> str:
    draw = abs(uniform(stable_key(now // 1000, c.symbol + side), level))
    if c.unit == "CM":
        return str(1 + int(draw * 400 * (1 + level)))
    return f"{0.001 + draw * 2.5 * (1 + level / 4):.3f}"


class MarketDataRoutes:
    """aiohttp routes for `MarketData`: public, so no key or signature; the REST middleware still meters them."""

    def __init__(self, data: MarketData) -> None:
        self.data = data

    def _route(self, build: Callable[[Mapping[str, str], int], Any]) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            body = orjson.dumps(build(request.query, real_ms()))
            return web.Response(body=body, content_type="application/json")

        return handle

    def _each(self, unit: Unit, one: Callable[[Contract, int], dict[str, Any]], force_list: bool = False) -> Handler:
        def build(q: Mapping[str, str], now: int) -> Any:
            rows = [one(c, now) for c in self.data.selected(unit, q)]
            return rows[0] if q.get("symbol") and not force_list else rows

        return self._route(build)

    def _for_unit(self, unit: Unit, build: Callable[[Unit, Mapping[str, str], int], Any]) -> Handler:
        return self._route(lambda q, now: build(unit, q, now))

    def _klines(self, unit: Unit, kind: PriceKind) -> Handler:
        return self._route(lambda q, now: self.data.klines(unit, kind, q, now))

    def routes(self) -> list[web.RouteDef]:
        d = self.data
        out: list[web.RouteDef] = []
        for unit, prefix in _PREFIX.items():
            out += [web.get(f"{prefix}/{name}", self._klines(unit, kind)) for name, kind in _KLINE_PATHS.items()]
            out += [
                web.get(f"{prefix}/depth", self._for_unit(unit, d.depth)),
                web.get(f"{prefix}/fundingRate", self._for_unit(unit, d.funding_history)),
                # dapi answers these as lists even for one symbol (its pair may hold several contracts).
                web.get(f"{prefix}/premiumIndex", self._each(unit, d.premium_index, unit == "CM")),
                web.get(f"{prefix}/ticker/24hr", self._each(unit, d.ticker_24hr, unit == "CM")),
                web.get(f"{prefix}/ticker/bookTicker", self._each(unit, d.book_ticker, unit == "CM")),
                web.get(f"{prefix}/ticker/price", self._each(unit, d.last_price, unit == "CM")),
            ]
        out += [
            web.get("/fapi/v2/ticker/price", self._each("UM", d.last_price)),
            web.get("/fapi/v1/fundingInfo", self._route(lambda q, now: self._funding_info())),
        ]
        return out

    def _funding_info(self) -> list[dict[str, Any]]:
        return [
            {
                "symbol": c.symbol,
                "adjustedFundingRateCap": "0.02000000",
                "adjustedFundingRateFloor": "-0.02000000",
                "fundingIntervalHours": FUNDING_INTERVAL_MS // 3_600_000,
                "disclaimer": False,
            }
            for c in self.data.catalogue.contracts.values()
            if c.unit == "UM" and c.delivery_ms == PERPETUAL_DELIVERY_MS
        ]
