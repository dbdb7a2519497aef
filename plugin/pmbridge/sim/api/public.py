"""Public market data routes (fapi and dapi): exchange information, prices, books, funding; no key or signature,
the REST middleware still meters them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson
from aiohttp import web

from ..clock import real_ms
from ..market.catalogue import Contract, Unit
from ..market.data import KLINE_PATHS, MarketData
from ..market.prices import FUNDING_INTERVAL_MS, PriceKind
from .http import Handler

PREFIX: Final[dict[Unit, str]] = {"UM": "/fapi/v1", "CM": "/dapi/v1"}
# fapi's Multi-Assets margin table: every margin asset the catalogue trades, with its auto-exchange threshold.
_UM_ASSETS: Final = [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}]


class MarketDataRoutes:
    """aiohttp routes for `MarketData`: public, so no key or signature; the REST middleware still meters them."""

    def __init__(self, data: MarketData) -> None:
        self.data = data
        self._info_tails = {unit: self._info_tail(unit) for unit in PREFIX}
        self._book_tickers: dict[Unit, Callable[[Contract, int], dict[str, Any]]] = {
            "UM": self._um_book_ticker,
            "CM": data.book_ticker,
        }

    def _info_tail(self, unit: Unit) -> bytes:
        """exchangeInfo after ``serverTime``, encoded once. fapi's has what the catalogue's shared (fapi and dapi)
        entries lack: the ``assets`` table and each symbol's ``settlePlan``."""
        info = orjson.loads(self.data.catalogue.exchange_info(unit, 0))
        del info["timezone"], info["serverTime"]
        if unit == "UM":
            info["assets"] = _UM_ASSETS
            for entry in info["symbols"]:
                entry["settlePlan"] = 0
        return b"," + orjson.dumps(info)[1:]

    async def _exchange_info(self, request: web.Request) -> web.Response:
        unit: Unit = "UM" if request.path.startswith(PREFIX["UM"]) else "CM"
        # serverTime spliced in front of the cached rest, as the catalogue does: the symbols never change.
        body = b'{"timezone":"UTC","serverTime":' + str(real_ms()).encode() + self._info_tails[unit]
        return web.Response(body=body, content_type="application/json")

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
        for unit, prefix in PREFIX.items():
            out += [web.get(f"{prefix}/{name}", self._klines(unit, kind)) for name, kind in KLINE_PATHS.items()]
            out += [
                web.get(f"{prefix}/exchangeInfo", self._exchange_info),
                web.get(f"{prefix}/depth", self._for_unit(unit, d.depth)),
                web.get(f"{prefix}/fundingRate", self._for_unit(unit, self._funding_history)),
                # dapi answers these as lists even for one symbol (its pair may hold several contracts).
                web.get(f"{prefix}/premiumIndex", self._each(unit, d.premium_index, unit == "CM")),
                web.get(f"{prefix}/ticker/24hr", self._each(unit, d.ticker_24hr, unit == "CM")),
                web.get(f"{prefix}/ticker/bookTicker", self._each(unit, self._book_tickers[unit], unit == "CM")),
                web.get(f"{prefix}/ticker/price", self._each(unit, d.last_price, unit == "CM")),
            ]
        out += [
            web.get("/fapi/v2/ticker/price", self._each("UM", d.last_price)),
            web.get("/fapi/v1/fundingInfo", self._route(lambda q, now: self._funding_info())),
        ]
        return out

    def _um_book_ticker(self, c: Contract, now: int) -> dict[str, Any]:
        body = self.data.book_ticker(c, now)
        del body["lastUpdateId"]  # dapi's REST answer and fapi's websocket API have it, fapi's REST answer does not
        return body

    def _funding_history(self, unit: Unit, q: Mapping[str, str], now: int) -> list[dict[str, Any]]:
        rows = self.data.funding_history(unit, q, now)
        if unit == "UM":  # a settlement at the formula's rate; fapi alone says so
            for row in rows:
                row["rateType"] = "Regular"
        return rows

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
            if c.unit == "UM" and c.perpetual
        ]
