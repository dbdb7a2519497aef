"""End to end: a real Freqtrade dry-run futures bot (its own FreqtradeBot object, resolver and database) whose ccxt
points at the simulator. Leverage changed "in the app" decides the next entry under follow; under enforce the entry
uses the strategy's leverage and, a dry run writing nothing, pmbridge only says what it would set back."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
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

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"

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
def bot_factory(tmp_path: Path, sim_env: dict[str, Any]) -> Iterator[Callable[..., FreqtradeBot]]:
    bots: list[FreqtradeBot] = []

    def make(pmbridge: dict[str, Any] | None, whitelist: tuple[str, ...] = ("BTC/USDT:USDT",)) -> FreqtradeBot:
        """A started bot; ``pmbridge`` None keeps the example config's own section."""
        path = make_user_data(tmp_path, sim_env, pmbridge, ALWAYS_ENTER)
        config = load_config(path, RunMode.DRY_RUN, "AlwaysEnter")
        config["exchange"]["pair_whitelist"] = list(whitelist)
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
    sim: SimulatorThread, bot_factory: Callable[..., FreqtradeBot], caplog: pytest.LogCaptureFixture
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


def test_dry_run_enforce_writes_nothing_and_says_what_it_would_set_back(
    sim: SimulatorThread, bot_factory: Callable[..., FreqtradeBot], caplog: pytest.LogCaptureFixture
) -> None:
    """The documented example config as shipped (dry run, ETH under enforce at 5x) on an account whose ETH is at 20x:
    Freqtrade writes nothing in a dry run, and users try strategies there with their real keys, so pmbridge must not
    either. The entry uses the strategy's 5x; the exchange keeps its value, also after a change in the app."""
    caplog.set_level(logging.INFO)
    bot = bot_factory(None, whitelist=(BTC, ETH))
    assert bot.config["dry_run"] is True and bot.strategy.pmbridge is not None
    would = "pmbridge dry run: would set ETH/USDT:USDT leverage back {}x -> 5x on the exchange (policy enforce), not"

    def said(text: str) -> int:
        return sum(r.getMessage().startswith(text) for r in caplog.records if r.name == "pmbridge.freqtrade")

    until(lambda: bot.process() or said(would.format(20)), what="what enforce would set back at start")
    [eth] = [t for t in until(open_trades, what="the entries") if t.pair == ETH]
    assert eth.leverage == 5  # leverage() answered as enforce does
    sim.set_leverage("ETHUSDT", 30)  # "in the app"
    until(lambda: bot.process() or said(would.format(30)), what="what enforce would set back after the change")
    for _ in range(3):  # more bot loops: nothing new to say, nothing written
        bot.process()
    now = datetime.now(UTC)
    assert bot.strategy.leverage(ETH, now, 1.0, 1.0, 125.0, None, "long") == 5.0
    assert (said(would.format(20)), said(would.format(30))) == (1, 1)
    assert said("pmbridge set ETH/USDT:USDT leverage back") == 0  # what a live bot says after a set-back
    # The exchange's own record: every value ETHUSDT's leverage has had (the start, the app's 30x) and no write.
    history = [r["value"] for r in sim.history()["leverage"]["UM"]["ETHUSDT"]]
    assert history == [20, 30]
    assert not [call for call in sim.stats()["rest_calls"] if call.startswith("POST ") and call.endswith("/leverage")]
    assert said("pmbridge: dry run: nothing is written to the exchange") == 1


def open_trades() -> list[Any]:
    return list(Trade.get_trades_proxy(is_open=True))


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
