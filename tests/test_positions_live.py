"""Positions end to end: a live bridge against the simulator's tradable accounts, fed by the stream, read back over
REST after each change, reconciled after a gap; leverage changes carry their origin and the positions read back."""

from __future__ import annotations

from decimal import Decimal

from pmbridge.models import PositionChange
from pmbridge.sim import Simulator
from pmbridge.testing import HookRecorder, running_bridge

D = Decimal


class LiquidationAlarm:
    """A plugin as a user would write one: it only cares about liquidations."""

    def __init__(self) -> None:
        self.alarms: list[tuple[str | None, str | None, Decimal]] = []

    def pmbridge_position_changed(self, change: PositionChange) -> None:
        if change.kind == "liquidated" and change.old is not None:
            self.alarms.append((change.symbol, change.old.direction, abs(change.old.amount)))


async def test_an_app_trade_opens_changes_and_closes_a_position_with_exchange_figures(pmbridge_sim: Simulator) -> None:
    await pmbridge_sim.set_price("BTCUSDT", 60000)
    recorder = HookRecorder()
    async with running_bridge(pmbridge_sim, recorder) as bridge:
        await pmbridge_sim.place_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010")
        opened = (await recorder.wait_for(lambda: recorder.position_changes("opened"), what="the position to open"))[0]
        p = opened.position
        truth = pmbridge_sim.state()["positions"][0]
        assert (opened.source, p.symbol, p.side, p.direction) == ("stream", "BTC/USDT:USDT", "BOTH", "long")
        assert (str(p.amount), str(p.entry_price)) == (truth["amount"], truth["entry_price"])
        # Announced after the read-back: the exchange's own liquidation price (PM: the account at uniMMR 1.05).
        assert p.liquidation_price == D(truth["liquidation_price"]) and p.leverage == 20 and p.margin_type == "cross"
        assert bridge.positions.get("BTC/USDT:USDT") is not None

        # A leverage change in the app applies at once to the open position: the hook carries it, read back.
        await pmbridge_sim.set_leverage("BTCUSDT", 10)
        change = await recorder.wait_for_leverage("BTCUSDT", 10)
        assert change.origin == "external"
        (after,) = change.positions
        assert (after.leverage, after.amount, after.source) == (10, p.amount, "readback")
        assert after.liquidation_price is not None

        # The bridge's own request comes back as self.
        await bridge.set_leverage("UM", "BTCUSDT", 12)
        assert (await recorder.wait_for_leverage("BTCUSDT", 12)).origin == "self"

        await pmbridge_sim.close_position("BTCUSDT")
        closed = (await recorder.wait_for(lambda: recorder.position_changes("closed"), what="the close"))[0]
        assert closed.position.amount == 0 and closed.old is not None and closed.old.amount == p.amount
        assert bridge.positions.open_positions() == ()


async def test_a_position_opened_during_a_gap_is_found_by_the_resync(pmbridge_sim: Simulator) -> None:
    await pmbridge_sim.set_price("ETHUSDT", 3000)
    recorder = HookRecorder()
    async with running_bridge(pmbridge_sim, recorder) as bridge:
        await pmbridge_sim.drop()
        await pmbridge_sim.place_order(symbol="ETHUSDT", side="SELL", type="MARKET", quantity="1.000")
        found = await recorder.wait_for(
            lambda: [c for c in recorder.position_changes("opened") if c.source == "reconcile"],
            what="the resync to find the position",
        )
        assert found[0].position.direction == "short" and found[0].position.amount == D("-1.000")
        assert bridge.positions.get("ETHUSDT").liquidation_price is not None


async def test_a_liquidation_is_reported_as_such(pmbridge_sim: Simulator) -> None:
    await pmbridge_sim.set_price("BTCUSDT", 60000)
    recorder, alarm = HookRecorder(), LiquidationAlarm()
    async with running_bridge(pmbridge_sim, recorder, alarm) as bridge:
        # 3 BTC at 20x on 10,000 USDT of collateral: a 5% fall takes uniMMR down to 1.05.
        await pmbridge_sim.place_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="3.000")
        opened = (await recorder.wait_for(lambda: recorder.position_changes("opened"), what="the long"))[0]
        liquidation = opened.position.liquidation_price
        assert liquidation is not None and D(56000) < liquidation < D(58000)
        await pmbridge_sim.set_price("BTCUSDT", float(liquidation) * 0.99)
        liquidated = await recorder.wait_for(lambda: recorder.position_changes("liquidated"), what="the liquidation")
        assert liquidated[0].old is not None and liquidated[0].old.amount == D("3.000")
        assert liquidated[0].source == "stream" and bridge.positions.open_positions() == ()
        assert alarm.alarms == [("BTC/USDT:USDT", "long", D(3))]


async def test_a_usdm_account_position_takes_leverage_from_the_symbol_config(pmbridge_sim: Simulator) -> None:
    # fapi's positionRisk v3 has no leverage field: the position book fills it from symbolConfig.
    await pmbridge_sim.set_price("BTCUSDT", 60000)
    await pmbridge_sim.set_margin_type("BTCUSDT", "ISOLATED", account="usdm")
    await pmbridge_sim.set_leverage("BTCUSDT", 10, account="usdm")
    await pmbridge_sim.place_order("usdm", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010")
    recorder = HookRecorder()
    async with running_bridge(pmbridge_sim, recorder, account="usdm") as bridge:
        (p,) = bridge.positions.open_positions()
        truth = pmbridge_sim.state()["accounts"]["usdm"]["positions"][0]
        assert (p.leverage, p.margin_type, p.source) == (10, "isolated", "snapshot")
        assert (str(p.liquidation_price), str(p.isolated_margin)) == (
            truth["liquidation_price"],
            truth["isolated_wallet"],
        )
        (opened,) = recorder.position_changes("opened")
        assert opened.source == "snapshot"
