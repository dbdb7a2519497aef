"""Liquidation prices against Binance's USDⓈ-M formula, worked by hand (reference §5.1), and what happens when the
mark crosses one: margin call, forced close, clearance fee, the frames a bot sees.

    LP = (WB - TMM1 + UPNL1 + cum - Side x Q x EP) / (Q x MMR - Side x Q)        (one-way mode, one bracket)

WB: the isolated wallet (isolated) or the cross wallet (cross); TMM1, UPNL1: maintenance and unrealized profit of
the other cross positions; MMR, cum: the position's bracket at the liquidation price. BTCUSDT's brackets here:
0-50,000 MMR 0.004 cum 0; 50,000-200,000 MMR 0.005 cum 50. ETHUSDT's first: 0-50,000 MMR 0.005 cum 0.
Fills: a pinned price is the bid and the ask is one tick above, so a market buy pinned at 59,999.9 fills at 60,000.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pmbridge.sim import Simulator

from .trading import BTC, ETH, dec, kinds, position_of, refused, trading, truth, user_stream

PLACES = Decimal("0.00000001")


async def _open(sim: Simulator, ex: Any, symbol: str, side: str, amount: float, price: float) -> None:
    """Fill a market order at exactly ``price``, then leave the mark there."""
    market = {"BTCUSDT": BTC, "ETHUSDT": ETH}[symbol]
    tick = {"BTCUSDT": 0.1, "ETHUSDT": 0.01}[symbol]
    await sim.set_price(symbol, round(price - tick, 2) if side == "buy" else price)
    await ex.create_order(market, "market", side, amount)
    await sim.set_price(symbol, price)


async def _liquidation_prices(ex: Any) -> dict[str, Decimal]:
    """Each open position's liquidation price as ccxt reads it, checked against the raw v3 row (and ccxt's side,
    which it takes from the sign of the notional, against the amount's)."""
    rows = {r["symbol"]: r for r in await ex.fapiPrivateV3GetPositionRisk()}
    out = {}
    for position in await ex.fetch_positions():
        row = rows[position["info"]["symbol"]]
        raw = row["liquidationPrice"]
        assert position["liquidationPrice"] == float(raw)
        assert position["side"] == ("long" if dec(row["positionAmt"]) > 0 else "short")
        out[position["info"]["symbol"]] = dec(raw)
    return out


@pytest.mark.parametrize("side", ["buy", "sell"])
async def test_isolated_liquidation_price(sim: Simulator, side: str) -> None:
    async with trading(sim, "usdm") as ex:
        await ex.set_margin_mode("isolated", BTC)
        await ex.set_leverage(10, BTC)
        await _open(sim, ex, "BTCUSDT", side, 0.1, 60000)
        # 0.1 BTC at 60,000, 10x: isolated wallet = 6,000 / 10 = 600 (the commission comes from the cross wallet).
        # At the answer the notional is ~5,400 or ~6,600, under 50,000: bracket 1, MMR 0.004, cum 0.
        q, ep, iw, mmr = Decimal("0.1"), Decimal(60000), Decimal(600), Decimal("0.004")
        expected = {
            "buy": (iw - q * ep) / (q * mmr - q),  # long: (600 - 6,000) / (0.0004 - 0.1) = 54,216.867...
            "sell": (iw + q * ep) / (q * mmr + q),  # short: (600 + 6,000) / (0.0004 + 0.1) = 65,737.051...
        }[side].quantize(PLACES)
        assert expected == {"buy": Decimal("54216.86746988"), "sell": Decimal("65737.05179283")}[side]
        assert (await _liquidation_prices(ex))["BTCUSDT"] == expected
        held = position_of(sim, "usdm", "BTCUSDT")
        assert held is not None and dec(held["isolated_wallet"]) == iw


async def _cross_pair(sim: Simulator, ex: Any) -> None:
    """Cross, 20x: long 1 BTC at 60,000 (taker fee 30), short 10 ETH at 3,000 (fee 15); wallet 9,955.
    ETH then marks 3,100 so the other position's loss counts: UPNL = -10 x 100 = -1,000."""
    await ex.set_leverage(20, BTC)
    await ex.set_leverage(20, ETH)
    await _open(sim, ex, "BTCUSDT", "buy", 1, 60000)
    await _open(sim, ex, "ETHUSDT", "sell", 10, 3000)
    await sim.set_price("ETHUSDT", 3100)
    assert truth(sim, "usdm")["balances"]["wallet"] == {"USDT": "9955"}


async def test_cross_liquidation_prices_count_the_other_position(sim: Simulator) -> None:
    async with trading(sim, "usdm") as ex:
        await _cross_pair(sim, ex)
        lps = await _liquidation_prices(ex)
        wb = Decimal(9955)
        # BTC long: TMM1 = ETH's 31,000 x 0.005 = 155, UPNL1 = -1,000. At ~51,400 the notional is in bracket 2
        # (MMR 0.005, cum 50): (9,955 - 155 - 1,000 + 50 - 60,000) / (0.005 - 1) = 51,407.035...
        btc = (wb - 155 - 1000 + 50 - 60000) / (Decimal("0.005") - 1)
        # ETH short: TMM1 = BTC's 60,000 x 0.005 - 50 = 250, UPNL1 = 0. At ~3,950 ETH's notional is in bracket 1
        # (MMR 0.005, cum 0): (9,955 - 250 + 0 + 10 x 3,000) / (10 x 0.005 + 10) = 3,950.746...
        eth = (wb - 250 + 0 + 10 * 3000) / (10 * Decimal("0.005") + 10)
        assert lps == {"BTCUSDT": btc.quantize(PLACES), "ETHUSDT": eth.quantize(PLACES)}
        assert lps == {"BTCUSDT": Decimal("51407.03517588"), "ETHUSDT": Decimal("3950.74626866")}


async def test_the_bracket_is_the_one_at_the_liquidation_price(sim: Simulator) -> None:
    async with trading(sim, "usdm") as ex:
        await ex.set_margin_mode("isolated", BTC)
        await ex.set_leverage(10, BTC)
        await _open(sim, ex, "BTCUSDT", "buy", 0.9, 60000)
        # 0.9 BTC at 60,000 = 54,000 of notional: bracket 2 now; isolated wallet 5,400. With bracket 2 the answer
        # would be (5,400 + 50 - 54,000) / (0.9 x 0.005 - 0.9) = 54,215.52, where the notional (48,794) is in
        # bracket 1; so bracket 1 decides: (5,400 + 0 - 54,000) / (0.9 x 0.004 - 0.9) = 54,216.867...
        wrong = (Decimal(5400) + 50 - 54000) / (Decimal("0.9") * Decimal("0.005") - Decimal("0.9"))
        right = (Decimal(5400) - 54000) / (Decimal("0.9") * Decimal("0.004") - Decimal("0.9"))
        assert right * Decimal("0.9") < 50000 < Decimal("0.9") * 60000
        lp = (await _liquidation_prices(ex))["BTCUSDT"]
        assert lp == right.quantize(PLACES) != wrong.quantize(PLACES)


async def test_isolated_long_liquidated(sim: Simulator) -> None:
    async with trading(sim, "usdm") as ex, user_stream(sim, "usdm") as stream:
        await sim.set_price("ETHUSDT", 3000)
        await ex.set_margin_mode("isolated", BTC)
        await ex.set_leverage(10, BTC)
        await _open(sim, ex, "BTCUSDT", "buy", 0.1, 60000)  # LP 54,216.87 (above)
        take_profit = await ex.create_order(BTC, "limit", "sell", 0.1, 61000, {"reduceOnly": True})
        stop = await ex.create_order(BTC, "stop_market", "sell", 0.1, None, {"stopPrice": 50000, "reduceOnly": True})
        elsewhere = await ex.create_order(ETH, "limit", "buy", 1, 2900)
        await stream.step()

        # 80% of the isolated margin gone: maintenance 5,425 x 0.004 = 21.7 of a balance 600 - 575 = 25.
        await sim.set_price("BTCUSDT", 54250)
        [call] = await stream.step()
        assert call == {
            "e": "MARGIN_CALL",
            "E": call["E"],
            "p": [
                {
                    "s": "BTCUSDT",
                    "ps": "BOTH",
                    "pa": "0.1",
                    "mt": "ISOLATED",
                    "iw": "600",
                    "mp": "54250",
                    "up": "-575",
                    "mm": "21.7",
                }
            ],
        }

        await sim.set_price("BTCUSDT", 54200)
        frames = await stream.step()
        assert kinds(frames) == [
            "OTU:EXPIRED",
            "ALGO:EXPIRED",
            "OTU:NEW",
            "TRADE_LITE",
            "AU:ORDER",
            "OTU:CALCULATED",
            "AU:INSURANCE_CLEAR",
        ]
        # Only the liquidated symbol's orders go (expiry reason 5); ETH's limit is another margin's business.
        assert (frames[0]["o"]["i"], frames[0]["o"]["er"]) == (int(take_profit["id"]), "5")
        assert frames[1]["o"]["aid"] == int(stop["id"])
        assert [o["id"] for o in await ex.fetch_open_orders(ETH)] == [elsewhere["id"]]
        forced = frames[2]["o"]
        assert forced["c"].startswith("autoclose-") and (forced["o"], forced["f"], forced["S"]) == (
            "LIQUIDATION",
            "IOC",
            "SELL",
        )
        # Sent at the bankruptcy price, 60,000 - 600 / 0.1 = 54,000; filled at the mark.
        assert (forced["p"], frames[5]["o"]["L"], frames[5]["o"]["X"]) == ("54000", "54200", "FILLED")

        assert await ex.fetch_positions() == [] and position_of(sim, "usdm", "BTCUSDT") is None
        [order] = [o for o in await ex.fetch_orders(BTC) if o["clientOrderId"].startswith("autoclose-")]
        assert (order["type"], order["timeInForce"], order["status"]) == ("limit", "IOC", "closed")
        assert (order["price"], order["average"], order["filled"]) == (54000, 54200, 0.1)
        # The isolated margin pays the loss 0.1 x (54,200 - 60,000) = -580 and the taker fee 2.71; the clearance
        # fee (1.25% of 5,420 = 67.75) takes what is left: 600 - 580 - 2.71 = 17.29. Nothing more is lost.
        income = await ex.fapiPrivateGetIncome({"incomeType": "INSURANCE_CLEAR"})
        assert [(i["symbol"], i["income"]) for i in income] == [("BTCUSDT", "-17.29")]
        # Trade ids run on without a gap: the forced order's client id does not use one up.
        ids = [int(t["id"]) for t in await ex.fetch_my_trades(BTC)]
        assert ids == [ids[0], ids[0] + 1]
        assert truth(sim, "usdm")["balances"]["wallet"] == {"USDT": str(10000 - 3 - 600)}


async def test_cross_liquidation_closes_every_cross_position(sim: Simulator) -> None:
    async with trading(sim, "usdm") as ex, user_stream(sim, "usdm") as stream:
        await _cross_pair(sim, ex)  # BTC LP 51,407.04
        await stream.step()
        # Margin ratio (51,450 x 0.005 - 50 + 155) / (9,955 - 8,550 - 1,000) = 362.25 / 405 = 0.89: a call naming
        # both cross positions and the cross wallet.
        await sim.set_price("BTCUSDT", 51450)
        [call] = await stream.step()
        assert (call["e"], call["cw"], [(p["s"], p["mt"], p["mm"]) for p in call["p"]]) == (
            "MARGIN_CALL",
            "9955",
            [("BTCUSDT", "CROSSED", "207.25"), ("ETHUSDT", "CROSSED", "155")],
        )

        await sim.set_price("BTCUSDT", 51400)
        frames = await stream.step()
        assert [f["o"]["s"] for f in frames if f["e"] == "ORDER_TRADE_UPDATE" and f["o"]["x"] == "CALCULATED"] == [
            "BTCUSDT",
            "ETHUSDT",
        ]
        assert await ex.fetch_positions() == []
        # BTC: -8,600 and fee 25.70; ETH: 10 x (3,000 - 3,100) = -1,000 and fee 15.50: 9,955 - 9,641.2 = 313.80
        # are left, less than the clearance fee (642.50 + 387.50): it takes them all, and the account ends at 0
        # without the insurance fund paying anything in.
        income = await ex.fapiPrivateGetIncome({"incomeType": "INSURANCE_CLEAR"})
        assert [(i["symbol"], i["income"]) for i in income] == [("BTCUSDT", "-313.8")]
        assert truth(sim, "usdm")["balances"]["wallet"] == {"USDT": "0"}
        assert await refused(ex.create_order(BTC, "market", "buy", 0.01)) == -2019
