"""Order routes of the USDⓈ-M surface, for fapi (``/fapi/v1/...``) and Portfolio Margin UM (``/papi/v1/um/...``):
orders, conditional (algo) orders, trades, income. Each handler checks the caller, parses, asks the venue, publishes
the events and renders the answer; nothing here decides anything."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from aiohttp import web

from ..engine import Engine
from ..errors import BinanceError
from ..venue.account import Account, AccountType
from . import orders_wire as wire
from . import params as p
from .http import Handler, json_response, signed

DAY_MS: Final = 86_400_000
Body = Callable[[Account, dict[str, str]], Any]


class TradingRoutes:
    """``family`` is ``fapi`` (a USDⓈ-M account) or ``papi`` (a Portfolio Margin account's UM side)."""

    def __init__(self, engine: Engine, family: wire.Family) -> None:
        self.engine = engine
        self.family: wire.Family = family
        self.allowed: tuple[AccountType, ...] = ("pm",) if family == "papi" else ("usdm",)

    def _route(self, build: Body) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            account, params = await signed(self.engine, request, self.allowed)
            return json_response(build(account, params))

        return handle

    # -- orders --------------------------------------------------------------------------------------------------
    def new_order(self, account: Account, params: dict[str, str]) -> Any:
        request = p.order_request(params)
        order, events = self.engine.venue.place_order(account, request)
        self.engine.emit(events)
        if params.get("newOrderRespType", "ACK") == "ACK" and self.family == "fapi":
            # ACK: Binance answers at once, before the matching engine: the order as it was accepted.
            body = wire.order(order, self.family, "new")
            body.update({"status": "NEW", "executedQty": "0", "cumQty": "0", "cumQuote": "0", "avgPrice": "0.00"})
            return body
        return wire.order(order, self.family, "new")

    def query_order(self, account: Account, params: dict[str, str]) -> Any:
        order = account.order(
            p.require(params, "symbol"), p.integer(params, "orderId"), params.get("origClientOrderId")
        )
        return wire.order(order, self.family)

    def cancel_order(self, account: Account, params: dict[str, str]) -> Any:
        order, events = self.engine.venue.cancel_order(
            account, p.require(params, "symbol"), p.integer(params, "orderId"), params.get("origClientOrderId")
        )
        self.engine.emit(events)
        return wire.order(order, self.family, "cancel")

    def open_order(self, account: Account, params: dict[str, str]) -> Any:
        order = account.order(
            p.require(params, "symbol"), p.integer(params, "orderId"), params.get("origClientOrderId")
        )
        if not order.is_open:
            raise BinanceError(-2013, "Order does not exist.")
        return wire.order(order, self.family)

    def open_orders(self, account: Account, params: dict[str, str]) -> Any:
        symbol = params.get("symbol")
        if symbol:
            account.contract(symbol, "UM")
        rows = sorted(
            (o for o in account.open_orders.values() if not symbol or o.symbol == symbol), key=lambda o: o.order_id
        )
        return wire.orders(rows, self.family)

    def all_orders(self, account: Account, params: dict[str, str]) -> Any:
        symbol = params.get("symbol")
        if symbol:
            account.contract(symbol, "UM")
        elif self.family == "papi":
            p.require(params, "symbol")
        start, end, limit = p.window(params)
        first_id = p.integer(params, "orderId")
        rows = [
            o
            for o in sorted(account.orders.values(), key=lambda o: o.order_id)
            if (not symbol or o.symbol == symbol) and (first_id is None or o.order_id >= first_id)
        ]
        if first_id is not None:
            return wire.orders(rows[:limit], self.family, "history")
        now = self.engine.clock.now_ms()
        return wire.orders(
            wire.select_window(rows, lambda o: o.time_ms, start, end, limit, 7 * DAY_MS, now), self.family, "history"
        )

    def cancel_all(self, account: Account, params: dict[str, str]) -> Any:
        self.engine.emit(self.engine.venue.cancel_all(account, p.require(params, "symbol")))
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    # -- conditional (algo) orders -------------------------------------------------------------------------------
    def new_algo(self, account: Account, params: dict[str, str]) -> Any:
        algo, events = self.engine.venue.place_algo(account, p.algo_request(params))
        self.engine.emit(events)
        return wire.algo(algo, self.family)

    def query_algo(self, account: Account, params: dict[str, str]) -> Any:
        algo = account.algo(p.integer(params, "algoId"), params.get("clientAlgoId"))
        actual = account.orders.get(algo.actual_order_id) if algo.actual_order_id else None
        return wire.algo(algo, self.family, "query", actual)

    def cancel_algo(self, account: Account, params: dict[str, str]) -> Any:
        algo, events = self.engine.venue.cancel_algo(account, p.integer(params, "algoId"), params.get("clientAlgoId"))
        self.engine.emit(events)
        if self.family == "papi":
            return {"complete": True}
        return {"algoId": algo.algo_id, "clientAlgoId": algo.client_algo_id, "code": "200", "msg": "success"}

    def open_algos(self, account: Account, params: dict[str, str]) -> Any:
        symbol = params.get("symbol")
        if symbol:
            account.contract(symbol, "UM")
        return [wire.algo(a, self.family, "open") for a in account.open_algos_of(symbol or None)]

    def all_algos(self, account: Account, params: dict[str, str]) -> Any:
        symbol = p.require(params, "symbol")
        account.contract(symbol, "UM")
        start, end, limit = p.window(params)
        rows = sorted((a for a in account.algos.values() if a.symbol == symbol), key=lambda a: a.algo_id)
        now = self.engine.clock.now_ms()
        chosen = wire.select_window(rows, lambda a: a.create_ms, start, end, limit, 7 * DAY_MS, now)
        return [wire.algo(a, self.family, "history", account.orders.get(a.actual_order_id or 0)) for a in chosen]

    def cancel_all_algos(self, account: Account, params: dict[str, str]) -> Any:
        self.engine.emit(self.engine.venue.cancel_all_algos(account, p.require(params, "symbol")))
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    # -- history -------------------------------------------------------------------------------------------------
    def user_trades(self, account: Account, params: dict[str, str]) -> Any:
        symbol = p.require(params, "symbol")
        account.contract(symbol, "UM")
        start, end, limit = p.window(params)
        order_id, from_id = p.integer(params, "orderId"), p.integer(params, "fromId")
        rows = [t for t in account.trades if t.symbol == symbol and (order_id is None or t.order_id == order_id)]
        if from_id is not None:
            return [wire.trade(t, self.family) for t in rows if t.trade_id >= from_id][:limit]
        now = self.engine.clock.now_ms()
        chosen = wire.select_window(rows, lambda t: t.time_ms, start, end, limit, 7 * DAY_MS, now)
        return [wire.trade(t, self.family) for t in chosen]

    def income(self, account: Account, params: dict[str, str]) -> Any:
        symbol, kind = params.get("symbol"), params.get("incomeType")
        start, end, _ = p.window(params, default_days=90)
        limit = min(p.integer(params, "limit") or 100, 1000)
        rows = [i for i in account.income if (not symbol or i.symbol == symbol) and (not kind or i.income_type == kind)]
        now = self.engine.clock.now_ms()
        chosen = wire.select_window(rows, lambda i: i.time_ms, start, end, limit, 7 * DAY_MS, now)
        return [wire.income(i, self.family) for i in chosen]

    def commission_rate(self, account: Account, params: dict[str, str]) -> Any:
        return wire.commission_rate(account.contract(p.require(params, "symbol"), "UM").symbol, self.family)

    def routes(self) -> list[web.RouteDef]:
        if self.family == "fapi":
            base, algo, algo_query, algo_cancel_all = (
                "/fapi/v1",
                "/fapi/v1/algoOrder",
                "/fapi/v1/algoOrder",
                ("/fapi/v1/algoOpenOrders"),
            )
            algo_open, algo_all = "/fapi/v1/openAlgoOrders", "/fapi/v1/allAlgoOrders"
        else:
            base, algo, algo_query = "/papi/v1/um", "/papi/v1/um/algo/order", "/papi/v1/um/algo/algoOrder"
            algo_cancel_all = "/papi/v1/um/algo/allOpenOrders"
            algo_open, algo_all = "/papi/v1/um/algo/openAlgoOrders", "/papi/v1/um/algo/allAlgoOrders"
        r = self._route
        out = [
            web.post(f"{base}/order", r(self.new_order)),
            web.get(f"{base}/order", r(self.query_order)),
            web.delete(f"{base}/order", r(self.cancel_order)),
            web.get(f"{base}/openOrder", r(self.open_order)),
            web.get(f"{base}/openOrders", r(self.open_orders)),
            web.get(f"{base}/allOrders", r(self.all_orders)),
            web.delete(f"{base}/allOpenOrders", r(self.cancel_all)),
            web.post(algo, r(self.new_algo)),
            web.delete(algo, r(self.cancel_algo)),
            web.get(algo_open, r(self.open_algos)),
            web.get(algo_all, r(self.all_algos)),
            web.delete(algo_cancel_all, r(self.cancel_all_algos)),
            web.get(f"{base}/userTrades", r(self.user_trades)),
            web.get(f"{base}/income", r(self.income)),
            web.get(f"{base}/commissionRate", r(self.commission_rate)),
        ]
        out.append(web.get(algo_query, r(self.query_algo)))
        return out
