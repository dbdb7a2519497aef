"""End to end with a LIVE Freqtrade bot (``dry_run: false``: real ccxt, Freqtrade's own FreqtradeBot, resolver and
database) trading the simulator's USDⓈ-M account, market orders and a stoploss on the exchange, while leverage and
positions change in the Binance app. Freqtrade's RPC log line ("Sending rpc strategy_msg") is what Telegram and
webhook users read."""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from pathlib import Path

import pytest

from pmbridge.sim import SimulatorThread

from ..helpers import until
from .live import (
    PRICE,
    SYMBOL,
    all_trades,
    exchange_leverage,
    exchange_position,
    live_bot,
    open_trades,
    process_until,
    rpc_messages,
    telegram,
    truth,
    unlock,
)
from .request_log import assert_like_a_real_bot, warnings

REFUSED_REDUCTION = ("POST", "/fapi/v1/leverage", -4161)


def number(value: object) -> str:
    """A figure as the messages write it: thousands separated, exact, no trailing zeros."""
    return f"{Decimal(str(value)):,f}".rstrip("0").rstrip(".")


def test_cross_follow_an_app_change_reaches_the_open_trade_and_the_next_entry(
    tmp_path: Path, sim: SimulatorThread, caplog: pytest.LogCaptureFixture
) -> None:
    """Scenarios 1-4 on a cross account under follow: entry at leverage()'s answer, an app change on the open trade
    (read-back figures to the hook, the message and the trade's custom data), Freqtrade's own re-send before its stop
    replacement (origin self: silent), and the next entry at the app's value."""
    caplog.set_level(logging.INFO)
    sim.set_price(SYMBOL, PRICE)
    sim.deposit(-9400, account="usdm")  # 600 USDT left: the cross position has a liquidation price to show
    sim.set_leverage(SYMBOL, 5, account="usdm")  # in the app, before the bot starts
    with live_bot(tmp_path, sim, "cross", {"policy": "follow"}) as (bot, answers):
        strategy, runtime = bot.strategy, bot.strategy.pmbridge

        # 1. The entry uses what leverage() answered (the app's 5x), and the exchange's position is the trade.
        bot.process()
        [trade] = open_trades()
        assert (strategy.answers, trade.leverage) == ([5.0], 5)
        held = exchange_position(sim)
        assert held is not None and (held["leverage"], held["margin_type"]) == (5, "CROSSED")
        assert (float(held["amount"]), float(held["entry_price"])) == (trade.amount, trade.open_rate)
        bot.process()  # the stoploss goes on the exchange; Freqtrade sets 5x before it (unchanged: no event)
        [stop] = truth(sim)["open_algo_orders"]

        # 2. 10x in the app with the trade open: the strategy, the user and the trade's record get the exchange's
        # figures.
        sim.set_leverage(SYMBOL, 10, account="usdm")
        [change] = process_until(bot, lambda: [c for c in strategy.leverage_changes if c.new == 10], "the change")
        held = exchange_position(sim)
        assert held is not None
        assert (change.origin, change.old, change.open_trades) == ("external", 5, (trade.id,))
        [read] = change.positions
        assert (read.leverage, read.source, str(read.liquidation_price)) == (10, "readback", held["liquidation_price"])
        assert rpc_messages(caplog.records) == [
            "BTC/USDT:USDT leverage changed on the exchange 5x -> 10x, not by this bot (source: stream), policy "
            "follow: the next new trade uses 10x. Binance applied 10x to the open position at once: long 0.016 at "
            f"60,000.1, 10x, margin in use 96 USDT, liquidation price {number(held['liquidation_price'])}. Freqtrade "
            f"still records trade #1 (5x, liquidation price {number(trade.liquidation_price)}) and sets 5x again "
            "before its next stoploss or DCA order on this pair, which returns the position to that leverage. pmbridge "
            "never rewrites Freqtrade's trade records"
        ]
        figures = open_trades()[0].get_custom_data("pmbridge_exchange")
        assert (figures["leverage"], figures["liquidation_price"]) == (10, held["liquidation_price"])
        assert open_trades()[0].leverage == 5  # never rewritten

        # 3. Freqtrade re-sends 5x before it replaces its stop: this bot's own write, no message, no set-back.
        strategy.trail_to = -0.1
        [own] = process_until(bot, lambda: [c for c in strategy.leverage_changes if c.origin == "self"], "own write")
        assert (own.old, own.new, exchange_leverage(sim)) == (10, 5, 5)
        [replaced] = truth(sim)["open_algo_orders"]
        assert float(replaced["trigger_price"]) > float(stop["trigger_price"])
        assert len(rpc_messages(caplog.records)) == 1 and runtime.enforcer.set_backs == 0

        # 4. The trade closes; under follow the next entry uses the app's 10x, not the 5x Freqtrade re-sent.
        strategy.exit_now = True
        bot.process()
        assert open_trades() == [] and exchange_position(sim) is None
        strategy.exit_now = False
        unlock(bot)
        bot.process()
        [second] = open_trades()
        assert (second.leverage, strategy.answers[-1], exchange_leverage(sim)) == (10, 10.0, 10)

        calls = assert_like_a_real_bot(sim, answers)
        # Every leverage write was Freqtrade's own, each recorded as such before it went out.
        assert calls["POST /fapi/v1/leverage"] == runtime.tap.recorded == 4
        assert warnings(caplog.records, rpc_messages(caplog.records)) == []


def test_isolated_alert_the_stop_survives_an_app_raise_then_a_stop_fires_and_drift(
    tmp_path: Path, sim: SimulatorThread, caplog: pytest.LogCaptureFixture
) -> None:
    """Isolated under alert: Freqtrade's own writes never alert; an app change does. Freqtrade's re-send of the
    trade's lower leverage before its stop replacement would be refused by Binance (-4161) and cost the trade its
    stop, so pmbridge holds it back and says so: the stop is replaced, the position keeps the app's leverage. A stop
    fired by a price move closes the trade in Freqtrade; a position closed in the app is reported as drift."""
    caplog.set_level(logging.INFO)
    sim.set_price(SYMBOL, PRICE)
    with live_bot(tmp_path, sim, "isolated", {"policy": "alert", "leverage": 5}) as (bot, answers):
        strategy, runtime = bot.strategy, bot.strategy.pmbridge

        # 1. Freqtrade sets 5x itself before the entry (the account had 20x): its own write, not an alert.
        bot.process()
        [trade] = open_trades()
        held = exchange_position(sim)
        assert held is not None and (held["leverage"], held["margin_type"]) == (5, "ISOLATED")
        assert (strategy.answers, trade.leverage, float(held["amount"])) == ([5.0], 5, trade.amount)
        bot.process()  # the stoploss goes on the exchange
        assert [(c.old, c.new, c.origin) for c in strategy.leverage_changes] == [(20, 5, "self")]
        assert len(truth(sim)["open_algo_orders"]) == 1 and rpc_messages(caplog.records) == []

        # 2. 10x in the app: an open isolated position can only be raised, and Freqtrade's 5x can never come back.
        sim.set_leverage(SYMBOL, 10, account="usdm")
        [change] = process_until(bot, lambda: [c for c in strategy.leverage_changes if c.new == 10], "the change")
        raised = exchange_position(sim)
        assert raised is not None and raised["liquidation_price"] == held["liquidation_price"]  # the margin stays
        [read] = change.positions
        assert (change.origin, read.leverage, str(read.isolated_margin)) == ("external", 10, raised["isolated_wallet"])
        assert rpc_messages(caplog.records) == [
            "BTC/USDT:USDT leverage changed on the exchange 5x -> 10x, not by this bot (source: stream), policy alert: "
            "the next new trade uses 5x. Binance applied 10x to the open position at once: long 0.016 at 60,000.1, "
            f"10x, isolated margin {number(raised['isolated_wallet'])} USDT, liquidation price "
            f"{number(raised['liquidation_price'])}. Freqtrade still records trade #1 (5x, liquidation price "
            f"{number(trade.liquidation_price)}). Binance does not let an open isolated position's leverage be "
            "lowered, so the position keeps 10x until it is closed: pmbridge does not pass on Freqtrade's 5x before "
            "its stoploss and DCA orders (Binance would refuse it, and Freqtrade would then drop the order, leaving "
            "the trade without its stop). To trade at 5x again, close the trade (/forceexit 1). pmbridge never "
            "rewrites Freqtrade's trade records"
        ]
        figures = open_trades()[0].get_custom_data("pmbridge_exchange")
        assert (figures["leverage"], figures["isolated_margin"]) == (10, raised["isolated_wallet"])

        # Freqtrade replaces its stop: its 5x would be refused (and the new stop dropped), so pmbridge holds it back.
        [old_stop] = truth(sim)["open_algo_orders"]
        strategy.trail_to = -0.1
        bot.process()  # the custom stop moves Freqtrade's record
        bot.process()  # ... and the order on the exchange follows it: cancel, (5x held back), place
        [new_stop] = truth(sim)["open_algo_orders"]
        assert new_stop["algo_id"] != old_stop["algo_id"] and exchange_leverage(sim) == 10
        assert answers.errors().get(REFUSED_REDUCTION, 0) == 0 and runtime.tap.held_back >= 1
        process_until(bot, lambda: len(rpc_messages(caplog.records)) == 2, "the message (sent at the next loop)")
        assert rpc_messages(caplog.records)[1:] == [
            "pmbridge did not send Freqtrade's request to set BTC/USDT:USDT to 5x before its next stoploss or DCA "
            "order: Binance refuses to lower the leverage of an open isolated position (-4161), and that refusal "
            "would make Freqtrade drop the order, leaving trade #1 without its stoploss on the exchange. The "
            "position keeps 10x until it is closed; Freqtrade still records 5x. To trade at 5x again, close the "
            "trade (/forceexit 1)."
        ]
        telegram(bot)._rpc_force_exit(str(trade.id))  # what the message advises
        assert exchange_position(sim) is None
        strategy.trail_to = None

        # 6. The next trade's stop fires on a price move; Freqtrade sees its stop filled and closes the trade.
        unlock(bot)
        bot.process()
        bot.process()
        [second] = open_trades()
        [stop] = truth(sim)["open_algo_orders"]
        assert (second.leverage, exchange_leverage(sim)) == (5, 5)  # set by Freqtrade on a flat symbol: allowed
        sim.set_price(SYMBOL, float(stop["trigger_price"]) - 1000)
        process_until(bot, lambda: not open_trades(), "the stop to close the trade")
        assert all_trades()[-1].exit_reason == "stoploss_on_exchange" and exchange_position(sim) is None

        # 7. The app closes the next trade's position: drift, reported once it held on two checks `settle` apart.
        unlock(bot)
        bot.process()
        bot.process()
        [third] = open_trades()
        runtime.reporter.drift.settle = 0.2  # 5 s in a bot: Freqtrade's own fills move the position first
        sim.close_position(SYMBOL, account="usdm")
        until(lambda: not runtime.thread.bridge.positions.open_positions(), what="pmbridge to see it closed")
        bot.process()
        assert len(rpc_messages(caplog.records)) == 2  # seen once, not yet reported
        time.sleep(0.25)
        bot.process()
        bot.process()
        assert rpc_messages(caplog.records)[2:] == [
            f"pmbridge: trade #{third.id} BTC/USDT:USDT is open in Freqtrade, but Binance has no long position on "
            "BTC/USDT:USDT: it was closed outside this bot (the app, another bot, a stop Freqtrade does not track). "
            "Freqtrade will find nothing to sell at its next exit. Check the account in the app; if the position is "
            f"gone for good, close the trade in Freqtrade: /forceexit {third.id} (if no exit order can be placed, "
            f"/delete {third.id} removes the record)."
        ]

        # Under alert only the app's change and the drift were sent, never Freqtrade's own writes (before each entry).
        assert [(c.old, c.new, c.origin) for c in strategy.leverage_changes] == [
            (20, 5, "self"),
            (5, 10, "external"),
            (10, 5, "self"),
        ]
        calls = assert_like_a_real_bot(sim, answers)  # not one refusal, not one dropped order
        assert calls["POST /fapi/v1/leverage"] == runtime.tap.recorded  # the held-back request never went out
        assert warnings(caplog.records, rpc_messages(caplog.records)) == []


def test_cross_enforce_sets_an_app_change_back_once_and_leaves_freqtrades_own_writes_alone(
    tmp_path: Path, sim: SimulatorThread, caplog: pytest.LogCaptureFixture
) -> None:
    """Enforce on a cross account: an app change is set back once; a second one that Freqtrade's own stop replacement
    already undid is not set back again (no ping-pong, no extra call)."""
    caplog.set_level(logging.INFO)
    sim.set_price(SYMBOL, PRICE)
    with live_bot(tmp_path, sim, "cross", {"policy": "enforce", "leverage": 5}) as (bot, answers):
        strategy, runtime = bot.strategy, bot.strategy.pmbridge
        bot.process()  # pmbridge sets the account's 20x to 5x at its first look; the entry follows
        bot.process()
        [trade] = open_trades()
        assert (trade.leverage, exchange_leverage(sim), runtime.enforcer.set_backs) == (5, 5, 1)
        sent = len(rpc_messages(caplog.records))

        # 10x in the app with the trade open: set back once, and said so beside the alert.
        sim.set_leverage(SYMBOL, 10, account="usdm")
        until(lambda: runtime.enforcer.set_backs == 2, what="the set-back")
        process_until(bot, lambda: len(rpc_messages(caplog.records)) == sent + 2, "the messages")
        assert exchange_leverage(sim) == 5
        alert, set_back = sorted(rpc_messages(caplog.records)[sent:])
        assert alert.startswith(
            "BTC/USDT:USDT leverage changed on the exchange 5x -> 10x, not by this bot (source: stream), policy "
            "enforce: the next new trade uses 5x. Binance applied 10x to the open position at once: long 0.016"
        )
        assert set_back == "pmbridge set BTC/USDT:USDT leverage back 10x -> 5x on the exchange (policy enforce)"

        # 12x in the app just as Freqtrade replaces its stop: enforce_min_interval (2 s) holds pmbridge's set-back,
        # Freqtrade's own 5x lands first, and pmbridge, looking again, has nothing left to do.
        strategy.trail_to = -0.1
        bot.process()  # the custom stop moves Freqtrade's record; the next loop replaces the order
        leverage_calls = sim.stats()["rest_calls"]["POST /fapi/v1/leverage"]
        sim.set_leverage(SYMBOL, 12, account="usdm")
        until(lambda: runtime.thread.book.leverage(SYMBOL) == 12, what="the change")
        bot.process()
        assert exchange_leverage(sim) == 5
        deadline = time.monotonic() + runtime.settings.enforce_min_interval + 0.3
        while time.monotonic() < deadline:  # Freqtrade's loop, meanwhile
            bot.process()
            time.sleep(0.1)
        assert (exchange_leverage(sim), runtime.enforcer.set_backs, runtime.enforcer.given_up) == (5, 2, set())
        assert sim.stats()["rest_calls"]["POST /fapi/v1/leverage"] == leverage_calls + 1  # Freqtrade's one, no pong
        assert [(c.old, c.new, c.origin) for c in strategy.leverage_changes] == [
            (20, 5, "self"),
            (5, 10, "external"),
            (10, 5, "self"),
            (5, 12, "external"),
            (12, 5, "self"),
        ]
        assert not any(m.startswith("pmbridge set") for m in rpc_messages(caplog.records)[sent + 2 :])

        calls = assert_like_a_real_bot(sim, answers)
        assert calls["POST /fapi/v1/leverage"] == runtime.tap.recorded + runtime.enforcer.set_backs
        assert warnings(caplog.records, rpc_messages(caplog.records)) == []


def test_isolated_enforce_waits_for_the_position_to_close_instead_of_asking_again(
    tmp_path: Path, sim: SimulatorThread, caplog: pytest.LogCaptureFixture
) -> None:
    """Enforce on an isolated account: Binance refuses to lower an open isolated position's leverage, so pmbridge says
    so once and sets it back when the position is closed, instead of asking every bot loop and then giving up."""
    caplog.set_level(logging.INFO)
    sim.set_price(SYMBOL, PRICE)
    settings = {"policy": "enforce", "leverage": 5, "enforce_min_interval": 0.05}
    with live_bot(tmp_path, sim, "isolated", settings) as (bot, answers):
        strategy, runtime = bot.strategy, bot.strategy.pmbridge
        bot.process()
        bot.process()
        [trade] = open_trades()
        sim.set_leverage(SYMBOL, 10, account="usdm")  # a raise: the only change an open isolated position allows
        refusal = (
            "pmbridge cannot set BTC/USDT:USDT leverage back to 5x while its isolated position is open: Binance "
            "refuses to lower the leverage of an open isolated position (-4161). The position keeps 10x until it is "
            "closed; pmbridge sets 5x then."
        )
        process_until(bot, lambda: refusal in rpc_messages(caplog.records), "the refusal")
        for _ in range(10):  # bot loops: every one looks at the pair again
            bot.process()
            time.sleep(0.05)
        assert rpc_messages(caplog.records).count(refusal) == 1
        assert (exchange_leverage(sim), runtime.enforcer.given_up) == (10, set())

        strategy.enter = False
        telegram(bot)._rpc_force_exit(str(trade.id))
        set_back = "pmbridge set BTC/USDT:USDT leverage back 10x -> 5x on the exchange (policy enforce)"
        process_until(bot, lambda: set_back in rpc_messages(caplog.records), "the set-back once the position closed")
        assert exchange_leverage(sim) == 5
        calls = assert_like_a_real_bot(sim, answers)
        # Freqtrade's entry and stop, pmbridge's set-back at start, the one refused, the one after the close.
        assert calls["POST /fapi/v1/leverage"] == runtime.tap.recorded + 3 == 5


def test_a_restart_reports_an_open_trade_whose_leverage_was_changed_while_the_bot_was_stopped(
    tmp_path: Path, sim: SimulatorThread, caplog: pytest.LogCaptureFixture
) -> None:
    """The bot stops with a trade open at 5x, 10x is set in the app, the bot starts again from its database: the
    stream's first snapshot is no change to report, so the start-up comparison of open trades with the positions
    Binance reports says it, once, with the exchange's figures and what to do."""
    caplog.set_level(logging.INFO)
    sim.set_price(SYMBOL, PRICE)
    sim.deposit(-9400, account="usdm")  # 600 USDT left: the cross position has a liquidation price to show
    sim.set_leverage(SYMBOL, 5, account="usdm")
    with live_bot(tmp_path, sim, "cross", {"policy": "follow"}) as (bot, _):
        bot.process()
        [trade] = open_trades()
        bot.process()  # its stoploss on the exchange
        assert (trade.leverage, exchange_leverage(sim), rpc_messages(caplog.records)) == (5, 5, [])
    sim.set_leverage(SYMBOL, 10, account="usdm")  # in the app, while the bot is stopped
    with live_bot(tmp_path, sim, "cross", {"policy": "follow"}) as (bot, answers):
        [message] = process_until(bot, lambda: rpc_messages(caplog.records), "the start-up message")
        [trade] = open_trades()
        held = exchange_position(sim)
        assert held is not None and held["leverage"] == 10
        assert message == (
            f"pmbridge: trade #{trade.id} BTC/USDT:USDT is open at 5x in Freqtrade, but at start-up Binance reports "
            "its position at 10x: the leverage was changed after the trade opened, not by Freqtrade. Binance holds "
            "long 0.016 at 60,000.1, 10x, margin in use 96 USDT, liquidation price "
            f"{number(held['liquidation_price'])}. Freqtrade still records trade #{trade.id} (5x, liquidation price "
            f"{number(trade.liquidation_price)}) and "
            "sets 5x again before its next stoploss or DCA order on this pair, which returns the position to that "
            "leverage. To match the trade now, set BTC/USDT:USDT to 5x in the app."
        )
        for _ in range(2):
            bot.process()
        assert rpc_messages(caplog.records) == [message]  # once
        assert (trade.leverage, exchange_leverage(sim)) == (5, 10)  # neither rewritten nor set back
        assert_like_a_real_bot(sim, answers)
