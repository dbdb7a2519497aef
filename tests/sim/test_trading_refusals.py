"""What the venue refuses, by Binance code, through real ccxt; a refusal changes nothing.

Codes come from the error body, not from ccxt's exception class: against 127.0.0.1 ccxt cannot select its
host-specific error maps (reference §6.2), so the class says little and the code is what pmbridge branches on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from pmbridge.sim import Simulator

from .trading import BTC, ETH, refused, trading, truth

Call = Callable[[], Awaitable[Any]]


async def codes(calls: list[tuple[int, Call]]) -> list[int]:
    """The code each call answered, to compare with the expected list in one assertion."""
    return [await refused(call()) for _, call in calls]


async def test_order_refusals(sim: Simulator) -> None:
    async with trading(sim, "usdm") as ex:
        await sim.set_price("BTCUSDT", 60000)
        new = ex.fapiPrivatePostOrder
        limit = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
        calls: list[tuple[int, Call]] = [
            # Conditional types left /order for the algo endpoints (2025-12-09).
            (-4120, lambda: new({**limit, "type": "STOP_MARKET", "quantity": "0.01", "stopPrice": "50000"})),
            # 10 BTC = 600,000 USDT at 20x wants 30,000 of margin; the account has 10,000.
            (-2019, lambda: ex.create_order(BTC, "market", "buy", 10)),
            # 0.001 BTC = 60 USDT, under BTCUSDT's 100 minimum notional.
            (-4164, lambda: ex.create_order(BTC, "market", "buy", 0.001)),
            # BTCUSDT allows 3 decimals of quantity and 2 of price (its tick is written "0.10": pricePrecision 2).
            (-1111, lambda: new({**limit, "quantity": "0.0015", "price": "59000"})),
            (-1111, lambda: new({**limit, "quantity": "0.01", "price": "59000.001"})),
            # Two decimals are within the precision but 59000.05 is off the 0.10 tick.
            (-4014, lambda: new({**limit, "quantity": "0.01", "price": "59000.05"})),
            (-2022, lambda: ex.create_order(BTC, "market", "sell", 0.01, None, {"reduceOnly": True})),
            # FOK under the ask cannot fill at once; post-only over it would take.
            (-5021, lambda: ex.create_order(BTC, "limit", "buy", 0.01, 59000, {"timeInForce": "FOK"})),
            (-5022, lambda: ex.create_order(BTC, "limit", "buy", 0.01, 60100, {"postOnly": True})),
            # A sell stop above the last price would trigger at once.
            (-2021, lambda: ex.create_order(BTC, "stop_market", "sell", 0.01, None, {"stopPrice": 61000})),
            (-2013, lambda: ex.fetch_order("123", BTC)),
            (-2011, lambda: ex.cancel_order("123", BTC)),
            (-2013, lambda: ex.fetch_order("123", BTC, {"stop": True})),
            (-2011, lambda: ex.cancel_order("123", BTC, {"trigger": True})),
        ]
        assert await codes(calls) == [code for code, _ in calls]
        # An order is held to the bracket cap of the leverage too: at 125x a BTCUSDT position may reach 50,000 of
        # notional, and 1 BTC is 60,000 (its 480 of margin would be there).
        await ex.set_leverage(125, BTC)
        assert await refused(ex.create_order(BTC, "market", "buy", 1)) == -2027
        state = truth(sim, "usdm")
        assert (state["positions"], state["open_orders"], state["open_algo_orders"]) == ([], [], [])
        assert state["balances"]["wallet"] == {"USDT": "10000"}


async def test_quantity_off_the_step_is_4023(sim: Simulator) -> None:
    # No listed contract writes its step with more decimals than the step itself (as BTCUSDT's tick "0.10" does),
    # so the rule only shows on one configured that way: BNBUSDT with its step written "0.010".
    account = sim.engine.venue.account("usdm")
    bnb = account.contracts["BNBUSDT"]
    account.contracts["BNBUSDT"] = dataclasses.replace(
        bnb, filters=dataclasses.replace(bnb.filters, step=Decimal("0.010"))
    )
    async with trading(sim, "usdm") as ex:
        await sim.set_price("BNBUSDT", 600)
        order = {"symbol": "BNBUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "price": "590"}
        assert await refused(ex.fapiPrivatePostOrder({**order, "quantity": "1.005"})) == -4023
        assert await refused(ex.fapiPrivatePostOrder({**order, "quantity": "1.0005"})) == -1111
        assert (await ex.fapiPrivatePostOrder({**order, "quantity": "1.01"}))["status"] == "NEW"


async def test_configuration_refusals(sim: Simulator) -> None:
    async with trading(sim, "usdm") as ex:
        await sim.set_price("BTCUSDT", 60000)
        await sim.set_price("ETHUSDT", 3000)
        assert await refused(ex.set_margin_mode("cross", BTC)) == -4046  # cross is every symbol's default
        rest = await ex.create_order(BTC, "limit", "buy", 0.01, 59000)
        assert await refused(ex.set_margin_mode("isolated", BTC)) == -4047
        await ex.cancel_order(rest["id"], BTC)
        await ex.create_order(BTC, "market", "sell", 1)  # 60,000 of notional, cross, 20x
        assert await refused(ex.set_margin_mode("isolated", BTC)) == -4048
        # 125x caps a BTCUSDT position at 50,000 of notional (its first bracket); 60,000 is open.
        assert await refused(ex.set_leverage(125, BTC)) == -2027
        # 2x would want 30,000 of initial margin from a 10,000 wallet.
        assert await refused(ex.set_leverage(2, BTC)) == -2028
        # Isolated with a position: raising is allowed, lowering is not.
        await ex.set_margin_mode("isolated", ETH)
        await ex.set_leverage(10, ETH)
        await ex.create_order(ETH, "market", "buy", 1)
        assert (await ex.set_leverage(15, ETH))["leverage"] == 15
        assert await refused(ex.set_leverage(12, ETH)) == -4161
        state = truth(sim, "usdm")
        assert (state["leverage"]["UM"]["BTCUSDT"], state["leverage"]["UM"]["ETHUSDT"]) == (20, 15)
        assert (state["margin_type"]["UM"]["BTCUSDT"], state["margin_type"]["UM"]["ETHUSDT"]) == ("CROSSED", "ISOLATED")


async def test_a_key_works_only_on_its_own_api(sim: Simulator) -> None:
    async with trading(sim, "pm") as pm, trading(sim, "usdm") as usdm:
        await sim.set_price("BTCUSDT", 60000)
        order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}
        assert await refused(pm.fapiPrivatePostOrder(order)) == -2015
        assert await refused(usdm.papiPostUmOrder(order)) == -2015
        # ccxt's set_margin_mode ignores portfolioMargin and calls fapi: a PM bot cannot change a margin type,
        # and finds out by -2015 (PM UM positions are cross only; reference §2.1).
        assert await refused(pm.set_margin_mode("isolated", BTC)) == -2015


async def test_portfolio_margin_order_refusals(sim: Simulator) -> None:
    async with trading(sim, "pm") as ex:
        await sim.set_price("BTCUSDT", 60000)
        stop = {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET", "quantity": "0.01", "stopPrice": "50000"}
        calls: list[tuple[int, Call]] = [
            # papi's /um/order takes LIMIT and MARKET only; no source shows fapi's -4120 there (semantics §3).
            (-1116, lambda: ex.papiPostUmOrder(stop)),
            (-2019, lambda: ex.create_order(BTC, "market", "buy", 10)),
            (-4164, lambda: ex.create_order(BTC, "market", "buy", 0.001)),
            (-2022, lambda: ex.create_order(BTC, "market", "sell", 0.01, None, {"reduceOnly": True})),
            (-2021, lambda: ex.create_order(BTC, "stop_market", "sell", 0.01, None, {"stopPrice": 61000})),
            (-2011, lambda: ex.cancel_order("123", BTC, {"trigger": True})),
            (-2013, lambda: ex.fetch_order("123", BTC)),
        ]
        assert await codes(calls) == [code for code, _ in calls]
        assert truth(sim, "pm")["open_algo_orders"] == []
