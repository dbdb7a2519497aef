"""The user stream of a trading day, read by a real websocket client: which frames each step pushes, in which order,
in Binance's documented shapes (field names, string or number), and that they describe what ``/_sim/state`` holds.

Order around a fill (binance_semantics.md §9): USDⓈ-M sends TRADE_LITE, ACCOUNT_UPDATE, ORDER_TRADE_UPDATE with one
E and T; Portfolio Margin the same without TRADE_LITE. Placing or cancelling an order pushes no ACCOUNT_UPDATE.
"""

from __future__ import annotations

from typing import Any

from pmbridge.sim import Simulator

from .trading import (
    BTC,
    ETH,
    UserStream,
    assert_account_update_is_the_truth,
    kinds,
    to_next_funding,
    trading,
    truth,
    user_stream,
)

INTS = {"E", "T", "i", "t", "si", "ss", "gtd", "aid", "tt"}
BOOLS = {"m", "R", "cp", "pP", "ia"}
OTU = {"s", "c", "S", "o", "f", "q", "p", "ap", "sp", "x", "X", "i", "l", "z", "L", "N", "n", "T", "t", "b", "a", "m",
       "R", "ps", "rp", "si", "V", "gtd"}  # fmt: skip
OTU_FAPI = OTU | {"wt", "ot", "cp", "pP", "ss", "pm", "er"}
ALGO = {"caid", "aid", "at", "o", "s", "S", "ps", "f", "q", "X", "ai", "ap", "aq", "act", "tp", "p", "V", "wt", "pm",
        "cp", "pP", "R", "tt", "gtd", "rm", "ia"}  # fmt: skip
POSITION_PM = {"s", "pa", "ep", "cr", "up", "ps", "bep"}
POSITION_FAPI = POSITION_PM | {"mt", "iw", "ma"}


def _typed(body: dict[str, Any], keys: set[str]) -> None:
    """Exactly ``keys``; ids and times are numbers, flags booleans, every amount and price a string."""
    assert set(body) == keys, sorted(set(body) ^ keys)
    for key, value in body.items():
        want = int if key in INTS else bool if key in BOOLS else str
        assert type(value) is want, f"{key}={value!r} should be {want.__name__}"


def assert_shapes(frames: list[dict[str, Any]], pm: bool) -> None:
    for f in frames:
        assert ("fs" in f) == (pm and f["e"] != "MARGIN_CALL"), f
        assert type(f["E"]) is int
        if f["e"] == "ORDER_TRADE_UPDATE":
            extra = {"st"} if pm and "st" in f["o"] else set()
            _typed(f["o"], (OTU if pm else OTU_FAPI) | extra)
        elif f["e"] == "ALGO_UPDATE":
            assert ("ao" in f) == pm and ("o" in f) != pm  # PM keeps the algo order under "ao"
            _typed(f["ao" if pm else "o"], ALGO)
        elif f["e"] == "ACCOUNT_UPDATE":
            for row in f["a"]["P"]:
                _typed(row, POSITION_PM if pm else POSITION_FAPI)
            for row in f["a"]["B"]:
                _typed(row, {"a", "wb", "cw", "bc"})
        elif f["e"] == "TRADE_LITE":
            assert not pm
            _typed(
                {k: v for k, v in f.items() if k != "e"}, {"E", "T", "s", "q", "p", "m", "c", "S", "L", "l", "t", "i"}
            )


async def step(stream: UserStream) -> list[dict[str, Any]]:
    """The frames the last action pushed, each checked against its documented shape."""
    frames = await stream.step()
    assert_shapes(frames, stream.account == "pm")
    return frames


def assert_one_transaction(frames: list[dict[str, Any]], *events: str) -> None:
    """The fill's frames share one E and one T (the matching engine's transaction)."""
    fill = [f for f in frames if f["e"] in events and (f["e"] != "ORDER_TRADE_UPDATE" or f["o"]["x"] == "TRADE")]
    assert len(fill) == len(events)
    assert len({f["E"] for f in fill}) == 1 and len({f["T"] for f in fill}) == 1


async def test_usdm_trading_day_on_the_stream(sim: Simulator) -> None:
    async with trading(sim, "usdm") as ex, user_stream(sim, "usdm") as stream:
        await sim.set_price("ETHUSDT", 3000)
        await sim.set_price("BTCUSDT", 59999.9)
        await ex.create_order(ETH, "market", "sell", 1)  # a second position: BTC's updates must not carry it
        await step(stream)

        await ex.set_margin_mode("isolated", BTC)
        [change] = await step(stream)
        assert (change["a"]["m"], [(p["s"], p["mt"], p["pa"]) for p in change["a"]["P"]]) == (
            "MARGIN_TYPE_CHANGE",
            [("BTCUSDT", "isolated", "0")],
        )
        await ex.set_leverage(10, BTC)
        assert [f["e"] for f in await step(stream)] == ["ACCOUNT_CONFIG_UPDATE"]

        await ex.create_order(BTC, "market", "buy", 0.1)
        frames = await step(stream)
        assert kinds(frames) == ["OTU:NEW", "TRADE_LITE", "AU:ORDER", "OTU:TRADE"]
        assert_one_transaction(frames, "TRADE_LITE", "ACCOUNT_UPDATE", "ORDER_TRADE_UPDATE")
        update = frames[2]["a"]
        assert [p["s"] for p in update["P"]] == ["BTCUSDT"]
        assert (update["P"][0]["pa"], update["P"][0]["ep"], update["P"][0]["iw"]) == ("0.1", "60000", "600")
        assert_account_update_is_the_truth(frames, sim, "usdm")

        # With the position open, a leverage raise still pushes the configuration frame only.
        await ex.set_leverage(15, BTC)
        [config] = await step(stream)
        assert config == {
            "e": "ACCOUNT_CONFIG_UPDATE",
            "E": config["E"],
            "T": config["T"],
            "ac": {"s": "BTCUSDT", "l": 15},
        }

        await sim.set_price("BTCUSDT", 60000)
        resting = await ex.create_order(BTC, "limit", "buy", 0.1, 59000)
        [new] = await step(stream)
        assert (new["o"]["x"], new["o"]["b"], new["o"]["a"]) == ("NEW", "5900", "0")
        await sim.set_price("BTCUSDT", 58900)
        frames = await step(stream)
        assert kinds(frames) == ["TRADE_LITE", "AU:ORDER", "OTU:TRADE"]
        assert (frames[0]["m"], frames[2]["o"]["m"], frames[2]["o"]["i"]) == (True, True, int(resting["id"]))
        assert_account_update_is_the_truth(frames, sim, "usdm")

        stop = await ex.create_order(BTC, "stop_market", "sell", 0.1, None, {"stopPrice": 58000, "reduceOnly": True})
        assert kinds(await step(stream)) == ["ALGO:NEW"]
        await ex.cancel_order(stop["id"], BTC, {"trigger": True})
        assert kinds(await step(stream)) == ["ALGO:CANCELED"]
        stop = await ex.create_order(BTC, "stop_market", "sell", 0.1, None, {"stopPrice": 58000, "reduceOnly": True})
        [placed] = await step(stream)
        assert (placed["o"]["X"], placed["o"]["ai"], placed["o"]["tp"]) == ("NEW", "", "58000")
        await sim.set_price("BTCUSDT", 57900)
        frames = await step(stream)
        assert kinds(frames) == [
            "ALGO:TRIGGERING",
            "ALGO:TRIGGERED",
            "OTU:NEW",
            "TRADE_LITE",
            "AU:ORDER",
            "OTU:TRADE",
            "ALGO:FINISHED",
        ]
        actual = frames[2]["o"]
        assert (actual["ot"], actual["o"], actual["R"]) == ("STOP_MARKET", "MARKET", True)
        assert frames[1]["o"]["ai"] == frames[6]["o"]["ai"] == str(actual["i"])
        assert (frames[1]["o"]["act"], frames[6]["o"]["aq"], frames[6]["o"]["ap"]) == ("MARKET", "0.1", "57900")
        assert_account_update_is_the_truth(frames, sim, "usdm")

        # An IOC that cannot fill expires (reason 2); a cancel is CANCELED; neither touches the account.
        await ex.create_order(BTC, "limit", "buy", 0.01, 57000, {"timeInForce": "IOC"})
        frames = await step(stream)
        assert (kinds(frames), frames[1]["o"]["er"]) == (["OTU:NEW", "OTU:EXPIRED"], "2")
        away = await ex.create_order(BTC, "limit", "sell", 0.01, 60000)
        await ex.cancel_order(away["id"], BTC)
        assert kinds(await step(stream)) == ["OTU:NEW", "OTU:CANCELED"]

        await ex.add_margin(BTC, 50)
        [transfer] = await step(stream)
        # 600 at 10x plus 5,900 / 15 at 15x, half released by the stop, plus the 50 added.
        assert (transfer["a"]["m"], transfer["a"]["P"][0]["iw"]) == ("MARGIN_TRANSFER", "546.66666667")
        assert transfer["a"]["B"][0]["bc"] == "0"
        assert_account_update_is_the_truth([transfer], sim, "usdm")

        # Funding at the next 8 h mark: the cross ETH position moves the balance only, the isolated BTC one its
        # isolated wallet too; bc is the amount.
        await to_next_funding(sim)
        frames = await step(stream)
        assert kinds(frames) == ["AU:FUNDING_FEE", "AU:FUNDING_FEE"]
        assert [(f["a"]["S"], [p["s"] for p in f["a"]["P"]]) for f in frames] == [
            ("ETHUSDT", []),
            ("BTCUSDT", ["BTCUSDT"]),
        ]
        income = await ex.fapiPrivateGetIncome({"incomeType": "FUNDING_FEE"})
        assert [f["a"]["B"][0]["bc"] for f in frames] == [i["income"] for i in income]
        assert_account_update_is_the_truth(frames, sim, "usdm")

        await ex.create_order(BTC, "market", "sell", 0.1, None, {"reduceOnly": True})
        frames = await step(stream)
        assert kinds(frames) == ["OTU:NEW", "TRADE_LITE", "AU:ORDER", "OTU:TRADE"]
        assert (frames[2]["a"]["P"][0]["pa"], frames[2]["a"]["P"][0]["iw"]) == ("0", "0")
        assert_account_update_is_the_truth(frames, sim, "usdm")
        assert [p["symbol"] for p in truth(sim, "usdm")["positions"]] == ["ETHUSDT"]


async def test_portfolio_margin_trading_day_on_the_stream(sim: Simulator) -> None:
    async with trading(sim, "pm") as ex, user_stream(sim, "pm") as stream:
        await sim.set_price("BTCUSDT", 59999.9)
        await ex.set_leverage(10, BTC)
        [config] = await step(stream)
        assert config == {
            "e": "ACCOUNT_CONFIG_UPDATE",
            "fs": "UM",
            "E": config["E"],
            "T": config["T"],
            "ac": {"s": "BTCUSDT", "l": 10},
        }
        await ex.create_order(BTC, "market", "buy", 0.1)
        frames = await step(stream)
        assert kinds(frames) == ["OTU:NEW", "AU:ORDER", "OTU:TRADE"]
        assert_one_transaction(frames, "ACCOUNT_UPDATE", "ORDER_TRADE_UPDATE")
        assert {f["fs"] for f in frames} == {"UM"} and {f["i"] for f in frames} == {""}
        assert_account_update_is_the_truth(frames, sim, "pm")

        # PM is cross only: funding moves the UM wallet, and the frame carries no position row.
        await to_next_funding(sim)
        [funding] = await step(stream)
        assert (funding["a"]["m"], funding["a"]["P"]) == ("FUNDING_FEE", [])
        assert_account_update_is_the_truth([funding], sim, "pm")

        await sim.set_price("BTCUSDT", 60000)
        await ex.create_order(BTC, "stop_market", "sell", 0.1, None, {"stopPrice": 58000, "reduceOnly": True})
        [placed] = await step(stream)
        assert (placed["e"], placed["fs"], placed["ao"]["X"]) == ("ALGO_UPDATE", "UM", "NEW")
        await sim.set_price("BTCUSDT", 57900)
        frames = await step(stream)
        assert kinds(frames) == [
            "ALGO:TRIGGERING",
            "ALGO:TRIGGERED",
            "OTU:NEW",
            "AU:ORDER",
            "OTU:TRADE",
            "ALGO:FINISHED",
        ]
        # PM marks the order a conditional one placed with st (strategy type), as its doc example does.
        assert frames[2]["o"]["st"] == "STOP_MARKET" and frames[5]["ao"]["ai"] == str(frames[2]["o"]["i"])
        assert_account_update_is_the_truth(frames, sim, "pm")
        assert truth(sim, "pm")["positions"] == []
