"""REST bodies of orders, algo orders, trades and income, in each API family's field names and types.

fapi and papi UM differ in small ways that clients notice: papi's POST/DELETE order answers dropped ``avgPrice`` and
``cumQuote`` (2026-07-14) and never had ``origType``, papi's algo cancel answers ``{"complete": true}``, papi's income
``tranId`` is a string, fapi's trades carry ``baseQty``/``marginAsset``/``pair``. A liquidation order reads as an IOC
LIMIT order here (its stream events say LIQUIDATION). Which keys each answer has follows Binance's official SDK models
(tests/sim/test_conformance.py checks every one), except where Binance's own documentation shows more.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from ..stream.frames import num
from ..venue.model import AlgoOrder, Fill, Income, Order

Family = Literal["fapi", "papi"]
View = Literal["new", "query", "cancel", "history"]
"""``history`` is a row of ``allOrders``, which alone has fapi's ``cumBase`` and ``pair``."""
AlgoView = Literal["new", "query", "open", "history"]
"""``query`` one algo order, a row of the ``open`` list, a row of the ``history`` (allAlgoOrders) list."""


def order(o: Order, family: Family, view: View = "query") -> dict[str, Any]:
    kind = "LIMIT" if o.type == "LIQUIDATION" else o.type
    orig = "LIMIT" if o.orig_type == "LIQUIDATION" else o.orig_type
    body: dict[str, Any] = {
        "orderId": o.order_id,
        "symbol": o.symbol,
        "status": o.status,
        "clientOrderId": o.client_order_id,
        "price": num(o.price),
        "avgPrice": num(o.avg_price),
        "origQty": num(o.quantity),
        "executedQty": num(o.executed_qty),
        "cumQty": num(o.executed_qty),
        "cumQuote": num(o.cum_quote),
        "timeInForce": o.time_in_force,
        "type": kind,
        "reduceOnly": o.reduce_only,
        "side": o.side,
        "positionSide": o.position_side,
        "origType": orig,
        "selfTradePreventionMode": o.self_trade_prevention,
        "priceMatch": o.price_match,
        "goodTillDate": o.good_till_date,
        "updateTime": o.update_ms,
    }
    if family == "fapi":
        body.update(
            {
                "closePosition": o.close_position,
                "stopPrice": num(o.stop_price),
                "workingType": o.working_type,
                "priceProtect": o.price_protect,
            }
        )
        if view != "new":
            body.update({"activatePrice": "0", "priceRate": "0"})
        if view == "history":
            # Both cost fields since the COIN-M migration (2026-08-05), the one a linear order does not use as "0".
            body.update({"cumBase": "0", "pair": o.symbol.split("_")[0]})
    if view in ("query", "history"):
        body["time"] = o.time_ms
        del body["cumQty"]
    elif family == "papi":
        del body["avgPrice"], body["cumQuote"], body["origType"]
    return body


def orders(items: Iterable[Order], family: Family, view: View = "query") -> list[dict[str, Any]]:
    return [order(o, family, view) for o in items]


def algo(a: AlgoOrder, family: Family, view: AlgoView = "new", actual: Order | None = None) -> dict[str, Any]:
    """An algo order as ``view`` shows it. What the views add: fapi's one-order query the executed order's type and
    quantity (``actualType``/``actualQty``), fapi's lists the (unused) TP/SL pair fields, papi's open list nothing
    about the executed order at all."""
    body: dict[str, Any] = {
        "algoId": a.algo_id,
        "clientAlgoId": a.client_algo_id,
        "algoType": a.algo_type,
        "orderType": a.order_type,
        "symbol": a.symbol,
        "side": a.side,
        "positionSide": a.position_side,
        "timeInForce": a.time_in_force,
        "quantity": num(a.quantity),
        "algoStatus": a.status,
        "triggerPrice": num(a.trigger_price),
        "price": num(a.price),
        "selfTradePreventionMode": a.self_trade_prevention,
        "workingType": a.working_type,
        "priceMatch": a.price_match,
        "closePosition": a.close_position,
        "priceProtect": a.price_protect,
        "reduceOnly": a.reduce_only,
        "createTime": a.create_ms,
        "updateTime": a.update_ms,
        "triggerTime": a.trigger_ms,
        "goodTillDate": a.good_till_date,
    }
    if family == "fapi":
        body["icebergQuantity"] = None
    if a.order_type == "TRAILING_STOP_MARKET" or view == "new":
        body.update({"activatePrice": num(a.activate_price), "callbackRate": num(a.callback_rate)})
    if view == "new" or (view == "open" and family == "papi"):
        return body
    body.update(
        {"actualOrderId": str(a.actual_order_id or ""), "actualPrice": num(actual.avg_price) if actual else "0"}
    )
    if family == "papi":
        return body
    if view == "query":
        body.update(
            {
                "actualType": actual.type if actual else "",
                "actualQty": num(actual.executed_qty) if actual else "0",
                "tpOrderType": "",
            }
        )
    else:
        body.update({"tpTriggerPrice": "0", "tpPrice": "0", "slTriggerPrice": "0", "slPrice": "0", "tpOrderType": ""})
    return body


def commission_rate(symbol: str, family: Family) -> dict[str, Any]:
    body = {"symbol": symbol, "makerCommissionRate": "0.000200", "takerCommissionRate": "0.000500"}
    if family == "fapi":  # the RPI (retail price improvement) rate is fapi's only
        body["rpiCommissionRate"] = "0.000000"
    return body


def trade(f: Fill, family: Family) -> dict[str, Any]:
    body: dict[str, Any] = {
        "buyer": f.side == "BUY",
        "commission": num(f.commission),
        "commissionAsset": f.commission_asset,
        "id": f.trade_id,
        "maker": f.maker,
        "orderId": f.order_id,
        "price": num(f.price),
        "qty": num(f.qty),
        "quoteQty": num(f.quote_qty),
        "realizedPnl": num(f.realized_pnl),
        "side": f.side,
        "positionSide": f.position_side,
        "symbol": f.symbol,
        "time": f.time_ms,
    }
    if family == "fapi":
        body.update({"baseQty": num(f.qty), "marginAsset": f.commission_asset, "pair": f.symbol.split("_")[0]})
    return body


def income(i: Income, family: Family) -> dict[str, Any]:
    return {
        "symbol": i.symbol,
        "incomeType": i.income_type,
        "income": num(i.income),
        "asset": i.asset,
        "info": i.info or i.income_type,
        "time": i.time_ms,
        "tranId": str(i.tran_id) if family == "papi" else i.tran_id,
        "tradeId": i.trade_id,
    }


def select_window(
    items: Iterable[Any], time_of: Any, start: int | None, end: int | None, limit: int, default_ms: int, now_ms: int
) -> list[Any]:
    """Binance's history window: [startTime, endTime], by default the last ``default_ms``; the oldest ``limit``
    from startTime, else the newest ``limit`` up to endTime."""
    if start is None and end is None:
        start = now_ms - default_ms
    rows = [x for x in items if (start is None or time_of(x) >= start) and (end is None or time_of(x) <= end)]
    return rows[:limit] if start is not None else rows[-limit:]
