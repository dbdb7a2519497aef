"""End to end: a real Freqtrade dry-run futures bot (its own FreqtradeBot object, resolver and database) whose ccxt
points at the simulator. Leverage changed "in the app" decides the next entry under follow; under enforce the
exchange goes back to the strategy's leverage and the entry uses it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from freqtrade.enums import RunMode
from freqtrade.freqtradebot import FreqtradeBot
from freqtrade.persistence import Trade, init_db

from pmbridge.sim import SimulatorThread

from ..helpers import until
from .conftest import load_config, make_user_data
from .ft_process import FREQTRADE, run_all, write_user_data

ALWAYS_ENTER = '''
import threading
from pmbridge_example import PMBridgeExample


class AlwaysEnter(PMBridgeExample):
    """The documented example, entering on every candle so the test sees an entry in one bot loop."""

    def __init__(self, config):
        super().__init__(config)
        self.seen = []
        self.notes = []

    def populate_entry_trend(self, dataframe, metadata):
        dataframe["enter_long"] = 1
        return dataframe

    def pmbridge_leverage_changed(self, change):
        self.seen.append((change.exchange_symbol, change.old, change.new, change.source, threading.get_ident()))
        self.notes.append((change.open_trades, change.note))
'''


@pytest.fixture
def bot_factory(tmp_path: Path, sim_env: dict[str, Any]) -> Iterator[Callable[[dict[str, Any]], FreqtradeBot]]:
    bots: list[FreqtradeBot] = []

    def make(pmbridge: dict[str, Any]) -> FreqtradeBot:
        path = make_user_data(tmp_path, sim_env, pmbridge, ALWAYS_ENTER)
        config = load_config(path, RunMode.DRY_RUN, "AlwaysEnter")
        config["exchange"]["pair_whitelist"] = ["BTC/USDT:USDT"]
        bot = FreqtradeBot(config)  # loads the strategy with Freqtrade's resolver; ft_bot_start starts pmbridge
        bots.append(bot)
        bot.startup()
        return bot

    yield make
    for bot in bots:
        bot.cleanup()  # ft_bot_cleanup stops pmbridge
    init_db("sqlite://")  # Freqtrade's Trade session is process-global: leave an empty one for the next test


def open_btc_trades() -> list[Any]:
    return list(Trade.get_trades_proxy(pair="BTC/USDT:USDT", is_open=True))


def test_follow_the_next_entry_uses_the_leverage_set_in_the_app(
    sim: SimulatorThread, bot_factory: Callable[[dict[str, Any]], FreqtradeBot], caplog: pytest.LogCaptureFixture
) -> None:
    bot = bot_factory({"policy": "follow", "max_leverage": 50})
    runtime = bot.strategy.pmbridge
    assert runtime is not None and runtime.thread.ready
    sim.set_leverage("BTCUSDT", 7)  # "in the Binance app"
    until(lambda: runtime.thread.book.leverage("BTCUSDT") == 7, what="the change to reach the book")
    bot.process()  # one bot loop: bot_loop_start delivers the callback, then the strategy enters
    trades = until(open_btc_trades, what="an entry")
    assert trades[0].leverage == 7
    seen = [s for s in bot.strategy.seen if s[1] is not None]
    assert seen == [("BTCUSDT", 20, 7, "stream", threading.get_ident())]  # on Freqtrade's thread
    # A change while the trade is open: the trade keeps its entry leverage, and both the message and the hook say so.
    sim.set_leverage("BTCUSDT", 12)
    until(lambda: runtime.thread.book.leverage("BTCUSDT") == 12, what="the second change")
    with caplog.at_level("INFO"):
        bot.process()
    open_trades, note = bot.strategy.notes[-1]
    assert open_trades == (trades[0].id,)
    assert f"Open trade #{trades[0].id} (7x) is a dry-run trade: no position on the exchange" in note
    # Through Freqtrade's own RPC (dp.send_msg), so Telegram and webhook users see it.
    assert (
        "Sending rpc strategy_msg: BTC/USDT:USDT leverage changed on the exchange 7x -> 12x, not by this bot "
        "(source: stream), policy follow"
    ) in caplog.text
    assert Trade.get_trades_proxy(pair="BTC/USDT:USDT", is_open=True)[0].leverage == 7  # never rewritten


def test_enforce_the_exchange_returns_to_the_strategys_leverage_and_the_entry_uses_it(
    sim: SimulatorThread, bot_factory: Callable[[dict[str, Any]], FreqtradeBot]
) -> None:
    bot = bot_factory({"policy": "enforce", "leverage": 4, "enforce_min_interval": 0.1})
    runtime = bot.strategy.pmbridge
    assert runtime is not None
    sim.set_leverage("BTCUSDT", 30)  # someone changes it in the app
    until(lambda: runtime.thread.book.leverage("BTCUSDT") in (4, 30), what="the change")
    bot.process()
    until(lambda: sim.state()["leverage"]["UM"]["BTCUSDT"] == 4, what="pmbridge to set it back")
    trades = until(open_btc_trades, what="an entry")
    assert trades[0].leverage == 4


def test_a_mistake_in_the_pmbridge_section_stops_freqtrade_with_one_line(tmp_path: Path, sim: SimulatorThread) -> None:
    """``freqtrade trade`` as a user types it: a typo'd key, and a bridge setting of the wrong type (checked when the
    strategy loads too), stop Freqtrade the way its own config mistakes do: the message, exit 2, no traceback."""
    cases = {
        "typo": ({"account": "usdm", "polcy": "enforce"}, "pmbridge.polcy: unknown setting; did you mean 'policy'?"),
        "type": ({"account": "usdm", "reconcile_interval": "900"}, "pmbridge: reconcile_interval must be a number"),
    }
    configs = {
        name: write_user_data(tmp_path / name, sim, "usdm", dry_run=True, pmbridge=section)[0]
        for name, (section, _) in cases.items()
    }
    runs = run_all(
        [
            ([FREQTRADE, "trade", "-c", str(config), "--strategy", "PMLive"], config.parent)
            for config in configs.values()
        ]
    )
    for run, (_, message) in zip(runs, cases.values(), strict=True):
        output = run.stdout + run.stderr
        assert run.returncode == 2, output
        assert message in output
        assert "Traceback" not in output and "Fatal exception" not in output
