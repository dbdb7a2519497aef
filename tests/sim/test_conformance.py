"""Binance's official Python SDKs judge every REST body the simulator serves (user streams: test_conformance_stream.py).

Each SDK's own REST client talks to the simulator unchanged, the Portfolio Margin SDK with the ``pm`` account's key
and the USDⓈ-M SDK with the ``usdm`` account's. Every answer must validate under the SDK's strict types with no
fallback, and carry exactly the keys its model declares, at every depth (`sdk_oracle`). A small real trade runs first
so that positions, orders, algo orders, trades and income are not empty lists that would check nothing.

Where Binance's real answers differ from an SDK model, the simulator keeps Binance's behaviour and the difference is
allowed below by name, with its source; the allowances are the complete list of known departures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from binance_common.errors import BadRequestError

from pmbridge.sim import Simulator

from .sdk_oracle import LIMIT_BUY, Oracle, oracles, scrubbed_sdk_logs, stop, strict_sdk

# The D-UM New Order / Cancel Order doc examples carry both (reference/binance_trading.md §6.1) and ccxt reads
# cumQuote as the order's cost; the USDⓈ-M SDK's response models leave them out.
FAPI_ORDER_EXTRA = ("avgPrice", "cumQuote")
# exchangeInfo filters are one model for every filterType: each filter carries only its own type's keys.
FILTER_KEYS = {
    "PRICE_FILTER": {"minPrice", "maxPrice", "tickSize"},
    "LOT_SIZE": {"minQty", "maxQty", "stepSize"},
    "MARKET_LOT_SIZE": {"minQty", "maxQty", "stepSize"},
    "MAX_NUM_ORDERS": {"limit"},
    "PERCENT_PRICE": {"multiplierUp", "multiplierDown", "multiplierDecimal"},
    "MIN_NOTIONAL": {"notional"},
}
# The SDK method of each job, per family: the trading surface is the same on fapi and papi UM, its names are not.
METHODS = {
    "pm": {
        "order": "new_um_order",
        "query": "query_um_order",
        "open_order": "query_current_um_open_order",
        "open_orders": "query_all_current_um_open_orders",
        "all_orders": "query_all_um_orders",
        "cancel": "cancel_um_order",
        "cancel_all": "cancel_all_um_open_orders",
        "algo": "new_um_algo_order",
        "algo_query": "query_current_um_open_algo_order",
        "algo_open": "query_all_current_um_open_algo_orders",
        "algo_all": "query_um_algo_order_history",
        "algo_cancel": "cancel_um_algo_order",
        "algo_cancel_all": "cancel_all_um_algo_open_orders",
        "trades": "um_account_trade_list",
        "income": "get_um_income_history",
        "commission": "get_user_commission_rate_for_um",
    },
    "usdm": {
        "order": "new_order",
        "query": "query_order",
        "open_order": "query_current_open_order",
        "open_orders": "current_all_open_orders",
        "all_orders": "all_orders",
        "cancel": "cancel_order",
        "cancel_all": "cancel_all_open_orders",
        "algo": "new_algo_order",
        "algo_query": "query_algo_order",
        "algo_open": "current_all_algo_open_orders",
        "algo_all": "query_all_algo_orders",
        "algo_cancel": "cancel_algo_order",
        "algo_cancel_all": "cancel_all_algo_open_orders",
        "trades": "account_trade_list",
        "income": "get_income_history",
        "commission": "user_commission_rate",
    },
}


@pytest.fixture
async def sdks(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Oracle, Oracle]]:
    strict_sdk(monkeypatch)
    with scrubbed_sdk_logs(), oracles(sim) as both:
        yield both


async def market(oracle: Oracle, family: str, side: str, qty: float, symbol: str = "BTCUSDT") -> Any:
    extra = FAPI_ORDER_EXTRA if family == "usdm" else ()
    method = METHODS[family]["order"]
    params = {"symbol": symbol, "side": side, "type": "MARKET", "quantity": qty, "new_order_resp_type": "RESULT"}
    return await oracle.check(method, extra_ok=extra, **params)


async def resting(oracle: Oracle, family: str) -> tuple[Any, Any]:
    """A limit buy far under the market (on fapi, answered with the default ACK) and a reduce-only stop under it."""
    names, extra = METHODS[family], FAPI_ORDER_EXTRA if family == "usdm" else ()
    limit = await oracle.check(names["order"], extra_ok=extra, **LIMIT_BUY)
    return limit, await oracle.check(names["algo"], **stop("SELL", 0.005, 55000, reduce_only="true"))


@pytest.mark.parametrize("family", ["pm", "usdm"])
async def test_trading_endpoints_conform(sim: Simulator, sdks: tuple[Oracle, Oracle], family: str) -> None:
    oracle, names = sdks[0] if family == "pm" else sdks[1], METHODS[family]
    extra = FAPI_ORDER_EXTRA if family == "usdm" else ()
    await sim.set_price("BTCUSDT", 60000)
    await market(oracle, family, "BUY", 0.01)
    limit, resting_stop = await resting(oracle, family)
    triggered = await oracle.check(names["algo"], **stop("BUY", 0.002, 60500))
    await sim.set_price("BTCUSDT", 60600)  # the stop triggers and its market order fills
    await market(oracle, family, "SELL", 0.004)  # realized profit: a REALIZED_PNL income row
    for method in (names["query"], names["open_order"]):
        await oracle.check(method, symbol="BTCUSDT", order_id=limit.order_id)
    await oracle.check(names["open_orders"], symbol="BTCUSDT")
    await oracle.check(names["all_orders"], symbol="BTCUSDT")
    for algo_id in (resting_stop.algo_id, triggered.algo_id):  # resting, then filled (its actual order's fields set)
        await oracle.check(names["algo_query"], algo_id=algo_id)
    await oracle.check(names["algo_open"])
    await oracle.check(names["algo_all"], symbol="BTCUSDT")
    await oracle.check(names["trades"], symbol="BTCUSDT")
    income = await oracle.check(names["income"])
    assert {row.income_type for row in income} >= {"COMMISSION", "REALIZED_PNL"}
    await oracle.check(names["commission"], symbol="BTCUSDT")
    await oracle.check(names["cancel"], extra_ok=extra, symbol="BTCUSDT", order_id=limit.order_id)
    await oracle.check(names["algo_cancel"], algo_id=resting_stop.algo_id)
    await resting(oracle, family)
    await oracle.check(names["cancel_all"], symbol="BTCUSDT")
    await oracle.check(names["algo_cancel_all"], symbol="BTCUSDT")
    # Binance's error JSON reaches the SDK as its typed error, the Binance code in status_code.
    with pytest.raises(BadRequestError) as refused:
        await oracle.call(names["query"], symbol="BTCUSDT", order_id=limit.order_id + 999)
    assert refused.value.status_code == -2013


async def listen_key_lifecycle(oracle: Oracle, family: str) -> None:
    key = (await oracle.check("start_user_data_stream")).listen_key
    if family == "usdm":
        assert (await oracle.check("keepalive_user_data_stream")).listen_key == key
    else:  # the PM SDK declares no model for the keepalive answer: the raw JSON is all there is to check
        assert await oracle.call("keepalive_user_data_stream") == {}
    assert await oracle.call("close_user_data_stream") == {}  # no model in either SDK
    assert await oracle.call("test_connectivity") == {}


async def test_portfolio_margin_account_endpoints_conform(sim: Simulator, sdks: tuple[Oracle, Oracle]) -> None:
    pm = sdks[0]
    await pm.check("get_um_current_position_mode")
    for dual in ("true", "false"):  # before any order: the mode cannot change under one
        await pm.check("change_um_position_mode", dual_side_position=dual)
    await sim.set_price("BTCUSDT", 60000)
    await market(pm, "pm", "BUY", 0.01)
    await resting(pm, "pm")
    await pm.check("account_balance")
    await pm.check("account_balance", asset="USDT")  # one asset: the object branch of the SDK's oneOf
    await pm.check("account_information")
    await pm.check("get_um_account_detail")
    await pm.check("get_um_account_detail_v2")
    # breakEvenPrice: in Binance's answers (reference/binance_trading.md §4.5), not in the PM SDK's model.
    rows = await pm.check("query_um_position_information", extra_ok=("[].breakEvenPrice",))
    assert [(r.symbol, r.position_amt) for r in rows] == [("BTCUSDT", "0.01")]
    for params in ({}, {"symbol": "BTCUSDT"}):
        await pm.check("um_futures_symbol_configuration", **params)
        await pm.check("um_notional_and_leverage_brackets", **params)
    await pm.check("um_futures_account_configuration")
    await pm.check("cm_notional_and_leverage_brackets")
    await pm.check("change_um_initial_leverage", symbol="BTCUSDT", leverage=10)
    await pm.check("change_cm_initial_leverage", symbol="BTCUSD_PERP", leverage=10)
    await pm.check("get_cm_account_detail")
    await pm.check("query_cm_position_information")
    await listen_key_lifecycle(pm, "pm")


async def test_usdm_account_endpoints_conform(sim: Simulator, sdks: tuple[Oracle, Oracle]) -> None:
    um = sdks[1]
    await um.check("get_current_position_mode")
    await um.check("get_current_multi_assets_mode")
    for flag in ("true", "false"):  # before any order: neither mode can change under one
        await um.check("change_position_mode", dual_side_position=flag)
        await um.check("change_multi_assets_mode", multi_assets_margin=flag)
    await sim.set_price("BTCUSDT", 60000)
    await sim.set_price("ETHUSDT", 3000)
    await market(um, "usdm", "BUY", 0.01)
    await resting(um, "usdm")
    await um.check("change_margin_type", symbol="ETHUSDT", margin_type="ISOLATED")
    await market(um, "usdm", "BUY", 0.1, "ETHUSDT")  # an isolated position: isolated figures are not all zero
    await um.check("modify_isolated_position_margin", symbol="ETHUSDT", amount=5, type=1)
    for version in ("v2", "v3"):
        await um.check(f"account_information_{version}")
        await um.check(f"futures_account_balance_{version}")
        await um.check(f"position_information_{version}")
    for params in ({}, {"symbol": "BTCUSDT"}):
        await um.check("symbol_configuration", **params)
        await um.check("notional_and_leverage_brackets", **params)
    await um.check("futures_account_configuration")
    await um.check("change_initial_leverage", symbol="BTCUSDT", leverage=10)
    await um.check("check_server_time")
    await listen_key_lifecycle(um, "usdm")


async def test_usdm_market_data_conforms(sdks: tuple[Oracle, Oracle]) -> None:
    um = sdks[1]
    await um.check("exchange_information", absent_ok=("symbols[].filters[].*",))
    for symbol in um.raw["symbols"]:
        for f in symbol["filters"]:
            assert set(f) == {"filterType"} | FILTER_KEYS[f["filterType"]], symbol["symbol"]
    for params in ({}, {"symbol": "BTCUSDT"}):
        await um.check("mark_price", **params)
        await um.check("ticker24hr_price_change_statistics", **params)
        await um.check("symbol_price_ticker", **params)
        await um.check("symbol_order_book_ticker", **params)
    await um.check("symbol_price_ticker_v2", symbol="BTCUSDT")
    await um.check("order_book", symbol="BTCUSDT", limit=5)
    await um.check("get_funding_rate_history", symbol="BTCUSDT")
    await um.check("get_funding_rate_info")
    # Klines are lists of lists, which the SDK hands back without looking (binance-common utils.py:633).
