"""A USDⓈ-M account traded end to end by real ccxt: entries, a resting limit, a stop through the algo endpoints, the
exit, and every read a bot reconciles from (positions, balance, leverage, trades, funding, income)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pmbridge.sim import Simulator

from .trading import BTC, ETH, MAKER, TAKER, dec, position_of, to_next_funding, trading, truth, user_stream


@pytest.mark.parametrize("mode", ["isolated", "cross"])
async def test_life_cycle_of_a_long(sim: Simulator, mode: str) -> None:
    async with trading(sim, "usdm") as ex:
        if mode == "isolated":
            assert await ex.set_margin_mode("isolated", BTC) == {"code": 200, "msg": "success"}
        assert truth(sim, "usdm")["margin_type"]["UM"]["BTCUSDT"] == {"isolated": "ISOLATED", "cross": "CROSSED"}[mode]
        assert (await ex.set_leverage(10, BTC))["leverage"] == 10

        # Entry at market: a pinned price is the bid, the ask one tick (0.1) above, so this buy fills at 60000.
        await sim.set_price("BTCUSDT", 59999.9)
        entry = await ex.create_order(BTC, "market", "buy", 0.1)
        assert (entry["status"], entry["filled"], entry["average"]) == ("closed", 0.1, 60000.0)

        # A limit buy under the market rests, then fills at its own price when the last trade reaches it.
        await sim.set_price("BTCUSDT", 60000)
        limit = await ex.create_order(BTC, "limit", "buy", 0.1, 59000)
        assert limit["status"] == "open"
        assert [o["id"] for o in await ex.fetch_open_orders(BTC)] == [limit["id"]]
        await sim.set_price("BTCUSDT", 58900)
        done = await ex.fetch_order(limit["id"], BTC)
        assert (done["status"], done["filled"], done["average"]) == ("closed", 0.1, 59000.0)
        await sim.set_price("BTCUSDT", 59500)
        assert (position_of(sim, "usdm", "BTCUSDT") or {})["entry_price"] == "59500"

        # A stop for half the position goes to the algo endpoints, is polled, fires on a move and FINISHES
        # pointing at the MARKET order it placed.
        stop = await ex.create_order(BTC, "stop_market", "sell", 0.1, None, {"stopPrice": 58000, "reduceOnly": True})
        polled = await ex.fetch_order(stop["id"], BTC, {"stop": True})
        assert (polled["status"], polled["info"]["algoStatus"], polled["info"]["actualOrderId"]) == ("open", "NEW", "")
        await sim.set_price("BTCUSDT", 57900)
        polled = await ex.fetch_order(stop["id"], BTC, {"stop": True})
        assert (polled["status"], polled["info"]["algoStatus"]) == ("closed", "FINISHED")
        actual = await ex.fetch_order(polled["info"]["actualOrderId"], BTC)
        assert (actual["status"], actual["type"], actual["filled"], actual["average"]) == (
            "closed",
            "market",
            0.1,
            57900,
        )
        assert actual["reduceOnly"] is True and actual["info"]["origType"] == "STOP_MARKET"

        # What ccxt reads back: the side from the signed notional, the entry, the liquidation price, the mode.
        await sim.set_price("BTCUSDT", 59000)
        [position] = await ex.fetch_positions([BTC])
        held = position_of(sim, "usdm", "BTCUSDT")
        assert held is not None
        assert (position["side"], position["contracts"], position["entryPrice"]) == ("long", 0.1, 59500.0)
        # ccxt reads Binance's "0" (no liquidation price: this cross long is backed by the whole wallet) as None.
        assert position["liquidationPrice"] == (float(held["liquidation_price"]) or None)
        assert (position["liquidationPrice"] is None) == (mode == "cross")
        assert position["marginMode"] == mode
        leverages = await ex.fetch_leverages([BTC])
        assert (leverages[BTC]["longLeverage"], leverages[BTC]["marginMode"]) == (10, mode)

        # Funding: the position pays (or receives) notional x rate at the first 8 h mark the clock passes.
        mark = await to_next_funding(sim)
        [funding] = await ex.fetch_funding_history(BTC)
        assert funding["timestamp"] == mark
        rate = dec(sim.engine.market.prices.funding_rate("BTCUSDT", funding["timestamp"]))
        paid = (-Decimal("0.1") * 59000 * rate).quantize(Decimal("0.00000001"))
        assert dec(funding["info"]["income"]) == paid

        # The exit: reduce-only at market, filling at the bid; nothing is left.
        out = await ex.create_order(BTC, "market", "sell", 0.1, None, {"reduceOnly": True})
        assert (out["status"], out["filled"], out["average"]) == ("closed", 0.1, 59000.0)
        assert await ex.fetch_positions([BTC]) == []
        assert await ex.fetch_open_orders(BTC) == []

        # Trades: one per fill, summing to each order's filled amount, commission in USDT at maker/taker rates.
        trades = await ex.fetch_my_trades(BTC)
        assert [t["order"] for t in trades] == [entry["id"], limit["id"], actual["id"], out["id"]]
        for trade, order in zip(trades, (entry, done, actual, out), strict=True):
            assert trade["amount"] == order["filled"]
            rate_paid = MAKER if trade["takerOrMaker"] == "maker" else TAKER
            assert trade["fee"]["currency"] == "USDT"
            assert dec(trade["fee"]["cost"]) == dec(trade["price"]) * dec(trade["amount"]) * rate_paid
        assert [t["takerOrMaker"] for t in trades] == ["taker", "maker", "taker", "taker"]

        # Income: realized profit per closing fill, commission per fill, the funding; the wallet is their sum.
        income = await ex.fapiPrivateGetIncome({"symbol": "BTCUSDT"})
        by_type: dict[str, list[Decimal]] = {}
        for row in income:
            by_type.setdefault(row["incomeType"], []).append(dec(row["income"]))
        assert by_type["REALIZED_PNL"] == [Decimal(-160), Decimal(-50)]  # 0.1 x (57900 - 59500), 0.1 x (59000 - 59500)
        assert by_type["COMMISSION"] == [Decimal("-3"), Decimal("-1.18"), Decimal("-2.895"), Decimal("-2.95")]
        assert by_type["FUNDING_FEE"] == [paid]
        wallet = 10_000 + sum(sum(v) for v in by_type.values())
        assert dec(truth(sim, "usdm")["balances"]["wallet"]["USDT"]) == wallet
        balance = await ex.fetch_balance()
        assert dec(balance["USDT"]["total"]) == wallet
        assert dec(balance["USDT"]["free"]) == wallet  # nothing held: no position, no order


async def test_raising_leverage_resizes_the_margin_at_once(sim: Simulator) -> None:
    """Initial margin is notional / leverage at every moment (reference §1.3): a raise with a position open
    frees margin on a cross account; an isolated wallet stays as it is, and with it the liquidation price."""
    async with trading(sim, "usdm") as ex, user_stream(sim, "usdm") as stream:
        await ex.set_margin_mode("isolated", BTC)
        await sim.set_price("BTCUSDT", 60000)
        await sim.set_price("ETHUSDT", 3000)
        await ex.set_leverage(10, BTC)
        await ex.set_leverage(10, ETH)
        await ex.create_order(BTC, "market", "sell", 0.1)
        await ex.create_order(ETH, "market", "sell", 2)
        before = {r["symbol"]: r for r in await ex.fapiPrivateV3GetPositionRisk()}
        available = dec(truth(sim, "usdm")["balances"]["available"])
        await stream.step()
        await ex.set_leverage(20, BTC)
        await ex.set_leverage(20, ETH)
        # No ACCOUNT_UPDATE: Binance has no leverage reason for one (reference §1.3, §3.2).
        assert [(f["e"], f["ac"]) for f in await stream.step()] == [
            ("ACCOUNT_CONFIG_UPDATE", {"s": "BTCUSDT", "l": 20}),
            ("ACCOUNT_CONFIG_UPDATE", {"s": "ETHUSDT", "l": 20}),
        ]
        after = {r["symbol"]: r for r in await ex.fapiPrivateV3GetPositionRisk()}
        assert (before["BTCUSDT"]["positionInitialMargin"], after["BTCUSDT"]["positionInitialMargin"]) == ("600", "300")
        assert (before["ETHUSDT"]["positionInitialMargin"], after["ETHUSDT"]["positionInitialMargin"]) == ("600", "300")
        assert after["BTCUSDT"]["isolatedWallet"] == before["BTCUSDT"]["isolatedWallet"] == "600"
        assert after["BTCUSDT"]["liquidationPrice"] == before["BTCUSDT"]["liquidationPrice"] != "0"
        assert after["ETHUSDT"]["liquidationPrice"] == before["ETHUSDT"]["liquidationPrice"]
        # Only the cross position's margin comes back to the available balance: 3000 x 2 / 10 - 3000 x 2 / 20.
        assert dec(truth(sim, "usdm")["balances"]["available"]) == available + 300


def _normalised(trades: list[dict[str, Any]], income: list[dict[str, Any]], state: dict[str, Any]) -> Any:
    """What two runs must agree on, without the wall-clock times they cannot share."""
    positions = [{k: v for k, v in p.items() if k != "update_time"} for p in state["positions"]]
    return (
        [(t["id"], t["order"], t["price"], t["amount"], t["fee"]["cost"], t["takerOrMaker"]) for t in trades],
        [(i["tranId"], i["incomeType"], i["income"], i["tradeId"]) for i in income],
        positions,
        state["balances"],
        state["open_orders"],
    )


async def _seeded_run(seed: int) -> Any:
    async with Simulator(symbols=8, seed=seed) as sim, trading(sim, "usdm") as ex:
        await sim.set_price("BTCUSDT", 60000)
        await sim.set_price("ETHUSDT", 3000)
        await ex.create_order(BTC, "market", "sell", 0.05, None, {"clientOrderId": "entry"})
        await ex.create_order(ETH, "limit", "buy", 1, 2990, {"clientOrderId": "rest"})
        await ex.create_order(
            BTC, "stop_market", "buy", 0.05, None, {"stopPrice": 61000, "reduceOnly": True, "clientOrderId": "stop"}
        )
        await sim.set_price("ETHUSDT", 2980)
        await sim.set_price("BTCUSDT", 61100)
        await ex.create_order(ETH, "limit", "sell", 0.5, 3100, {"clientOrderId": "open"})
        trades = await ex.fetch_my_trades(BTC) + await ex.fetch_my_trades(ETH)
        return _normalised(trades, await ex.fapiPrivateGetIncome(), truth(sim, "usdm")), sim.credentials("usdm")


async def test_same_seed_and_pins_give_the_same_run() -> None:
    first, keys = await _seeded_run(7)
    second, same_keys = await _seeded_run(7)
    assert first == second
    assert keys == same_keys  # a seed also fixes the credentials, so a recorded run replays against the same keys
    assert len(first[0]) == 3 and first[2]  # the run traded: entry, limit fill, stop fill, one position left
