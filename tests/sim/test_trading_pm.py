"""A Portfolio Margin account traded end to end by real ccxt (``portfolioMargin``): papi's UM order and algo
endpoints, its reads, and an account-wide liquidation at uniMMR 1.05.

ccxt's ``fetch_order(id, symbol, {"stop": True})`` does not reach papi's algo query, so the stop is polled the ways
that do: ``fetch_open_order(..., {"trigger": True})`` and ``fetch_orders(..., {"trigger": True})``.
"""

from __future__ import annotations

from decimal import Decimal

from pmbridge.sim import Simulator

from .trading import BTC, MAKER, TAKER, dec, kinds, position_of, to_next_funding, trading, truth, user_stream


async def test_life_cycle_of_a_long(sim: Simulator) -> None:
    async with trading(sim, "pm") as ex:
        assert (await ex.set_leverage(10, BTC))["leverage"] == 10
        await sim.set_price("BTCUSDT", 59999.9)
        entry = await ex.create_order(BTC, "market", "buy", 0.1)
        # papi's POST answer dropped avgPrice (2026-07-14): ccxt learns the price from the query.
        assert (entry["status"], entry["filled"]) == ("closed", 0.1)
        assert (await ex.fetch_order(entry["id"], BTC))["average"] == 60000

        await sim.set_price("BTCUSDT", 60000)
        limit = await ex.create_order(BTC, "limit", "buy", 0.1, 59000)
        assert [o["id"] for o in await ex.fetch_open_orders(BTC)] == [limit["id"]]
        await sim.set_price("BTCUSDT", 58900)
        done = await ex.fetch_order(limit["id"], BTC)
        assert (done["status"], done["filled"], done["average"]) == ("closed", 0.1, 59000)

        await sim.set_price("BTCUSDT", 59500)
        stop = await ex.create_order(BTC, "stop_market", "sell", 0.1, None, {"stopPrice": 58000, "reduceOnly": True})
        polled = await ex.fetch_open_order(stop["id"], BTC, {"trigger": True})
        assert (polled["status"], polled["info"]["algoStatus"], polled["triggerPrice"]) == ("open", "NEW", 58000)
        await sim.set_price("BTCUSDT", 57900)
        [history] = await ex.fetch_orders(BTC, None, None, {"trigger": True})
        assert (history["id"], history["status"], history["info"]["algoStatus"]) == (stop["id"], "closed", "FINISHED")
        actual = await ex.fetch_order(history["info"]["actualOrderId"], BTC)
        assert (actual["status"], actual["filled"], actual["average"], actual["reduceOnly"]) == (
            "closed",
            0.1,
            57900,
            True,
        )

        # PM rows carry leverage and a liquidation price but no margin type (cross only): ccxt says None.
        await sim.set_price("BTCUSDT", 59000)
        [position] = await ex.fetch_positions([BTC])
        assert (position["side"], position["contracts"], position["entryPrice"]) == ("long", 0.1, 59500)
        assert (position["leverage"], position["marginMode"]) == (10, None)
        # 10,000 of collateral behind 0.1 BTC: no price liquidates it, Binance's "0", ccxt's None.
        assert (
            position["liquidationPrice"] is None
            and (position_of(sim, "pm", "BTCUSDT") or {})["liquidation_price"] == "0"
        )
        leverages = await ex.fetch_leverages([BTC])
        assert (leverages[BTC]["longLeverage"], leverages[BTC]["marginMode"]) == (10, None)

        await to_next_funding(sim)
        [funding] = await ex.fetch_funding_history(BTC)
        rate = dec(sim.engine.market.prices.funding_rate("BTCUSDT", funding["timestamp"]))
        assert dec(funding["info"]["income"]) == (-Decimal("0.1") * 59000 * rate).quantize(Decimal("0.00000001"))
        assert isinstance(funding["info"]["tranId"], str)  # papi's tranId is a string (fapi's a number)

        out = await ex.create_order(BTC, "market", "sell", 0.1, None, {"reduceOnly": True})
        assert (out["status"], out["filled"]) == ("closed", 0.1)
        assert await ex.fetch_positions([BTC]) == []

        trades = await ex.fetch_my_trades(BTC)
        assert [t["order"] for t in trades] == [entry["id"], limit["id"], actual["id"], out["id"]]
        for trade in trades:
            rate_paid = MAKER if trade["takerOrMaker"] == "maker" else TAKER
            assert dec(trade["fee"]["cost"]) == dec(trade["price"]) * dec(trade["amount"]) * rate_paid
        income = await ex.papiGetUmIncome({"symbol": "BTCUSDT"})
        um_wallet = sum((dec(i["income"]) for i in income), Decimal(0))
        assert [dec(i["income"]) for i in income if i["incomeType"] == "REALIZED_PNL"] == [-160, -50]

        # Realized profit, fees and funding sit in the UM wallet; the deposit in the margin (cross-margin) balance.
        # ccxt's fetch_balance reads umWalletBalance as "free" (reference/freqtrade_live.md §5.1): a negative figure
        # here although the account has some 9,800 to trade with.
        [row] = (await ex.fetch_balance())["info"]
        assert (dec(row["umWalletBalance"]), dec(row["crossMarginFree"])) == (um_wallet, 10000)
        assert dec(row["totalWalletBalance"]) == 10000 + um_wallet
        assert truth(sim, "pm")["balances"]["wallet"] == {"USDT": str(um_wallet)}
        assert dec((await ex.fetch_balance())["USDT"]["free"]) == um_wallet < 0


async def test_account_liquidated_at_unimmr_105(sim: Simulator) -> None:
    async with trading(sim, "pm") as ex, user_stream(sim, "pm") as stream:
        await sim.set_price("BTCUSDT", 59999.9)
        await ex.create_order(BTC, "market", "buy", 1.5)  # 90,000 at 60,000; taker fee 45
        await sim.set_price("BTCUSDT", 60000)
        await stream.step()
        # uniMMR = equity / maintenance = 1.05 where 10,000 - 45 + 1.5 x (P - 60,000) = 1.05 x (1.5 x P x 0.005 - 50)
        # (bracket 2 at ~80,000 of notional): P = (9,955 - 90,000 + 52.5) / (1.05 x 0.0075 - 1.5) = 53,609.78...
        expected = (Decimal(9955) - 90000 + Decimal("52.5")) / (Decimal("1.05") * Decimal("0.0075") - Decimal("1.5"))
        [position] = await ex.fetch_positions([BTC])
        assert dec(position["info"]["liquidationPrice"]) == expected.quantize(Decimal("0.00000001"))

        # uniMMR by hand at 53,700: (9,955 - 9,450) / (1.5 x 53,700 x 0.005 - 50) = 505 / 352.75 = 1.43 (margin
        # call, under 1.5); at 53,640: 415 / 352.30 = 1.18 (reduce only, under 1.2). One frame per level crossed.
        await sim.set_price("BTCUSDT", 53700)
        [level] = await stream.step()
        uni = (Decimal(505) / Decimal("352.75")).quantize(Decimal("0.00000001"))
        assert (level["e"], level["s"], dec(level["u"])) == ("riskLevelChange", "MARGIN_CALL", uni)
        await sim.set_price("BTCUSDT", 53640)
        [level] = await stream.step()
        assert (level["s"], level["eq"], level["m"]) == ("REDUCE_ONLY", "415", "352.3")
        await sim.set_price("BTCUSDT", 53600)
        frames = await stream.step()
        assert kinds(frames)[:1] == ["riskLevelChange"] and frames[0]["s"] == "FORCE_LIQUIDATION"
        assert kinds(frames)[1:] == ["OTU:NEW", "AU:ORDER", "OTU:CALCULATED", "AU:INSURANCE_CLEAR"]
        assert frames[1]["o"]["c"].startswith("autoclose-") and frames[1]["fs"] == "UM"
        assert await ex.fetch_positions([BTC]) == []
        account = await ex.papiGetAccount()
        assert account["accountStatus"] == "NORMAL"  # nothing left at risk once the positions are gone
        # 1.5 x (53,600 - 60,000) = -9,600 and fee 40.20 leave 10,000 - 45 - 9,640.20 = 314.80, under the clearance
        # fee of 1.25% x 80,400 = 1,005: it takes them all.
        income = await ex.papiGetUmIncome({"incomeType": "INSURANCE_CLEAR"})
        assert [i["income"] for i in income] == ["-314.8"]
        state = truth(sim, "pm")
        assert dec(state["balances"]["collateral"]["USDT"]) + dec(state["balances"]["wallet"]["USDT"]) == 0
