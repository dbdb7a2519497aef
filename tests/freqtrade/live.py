"""A LIVE Freqtrade bot (``dry_run: false``) on the simulator's USDⓈ-M account, built and driven in-process.

The bot is Freqtrade's own: its configuration loader, strategy resolver, database, ``FreqtradeBot`` and real ccxt,
pointed at the simulator by the config file alone (every ccxt URL, ``enable_ws: false``). The strategy is steered
by the test through plain attributes (enter, trail the stop, exit), so each scenario is one ``bot.process()`` away
and no test waits for a candle.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from freqtrade.enums import RunMode
from freqtrade.freqtradebot import FreqtradeBot
from freqtrade.persistence import Trade, init_db
from freqtrade.rpc import RPC

from pmbridge.sim import SimulatorThread

from ..helpers import ccxt_logger
from .conftest import load_config
from .ft_process import ORDER_TYPES, write_user_data
from .request_log import Answers

PAIR: Final = "BTC/USDT:USDT"
SYMBOL: Final = "BTCUSDT"
PRICE: Final = 60_000.0
STAKE: Final = 200

STRATEGY: Final = '''
from freqtrade.strategy import IStrategy

from pmbridge.freqtrade import PMBridgeMixin


class LiveUSDM(PMBridgeMixin, IStrategy):
    """Enters long whenever the test says so, trails its stop or exits on request, and records pmbridge's hooks."""

    INTERFACE_VERSION = 3
    timeframe = "1m"
    minimal_roi = {"0": 100}
    stoploss = -0.25
    use_custom_stoploss = True
    use_exit_signal = True
    process_only_new_candles = False
    startup_candle_count = 0

    def __init__(self, config):
        super().__init__(config)
        self.enter = True
        self.trail_to = None
        self.exit_now = False
        self.answers = []
        self.leverage_changes = []
        self.position_changes = []

    def leverage(self, pair, current_time, current_rate, proposed_leverage, max_leverage, entry_tag, side, **kwargs):
        answer = super().leverage(
            pair, current_time, current_rate, proposed_leverage, max_leverage, entry_tag, side, **kwargs
        )
        self.answers.append(answer)
        return answer

    def populate_indicators(self, dataframe, metadata):
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        dataframe["enter_long"] = 1 if self.enter else 0
        return dataframe

    def populate_exit_trend(self, dataframe, metadata):
        return dataframe

    def custom_stoploss(self, pair, trade, current_time, current_rate, current_profit, after_fill, **kwargs):
        return self.trail_to

    def custom_exit(self, pair, trade, current_time, current_rate, current_profit, **kwargs):
        return "test_exit" if self.exit_now else None

    def pmbridge_leverage_changed(self, change):
        if change.old is not None:  # not the first snapshot
            self.leverage_changes.append(change)

    def pmbridge_position_changed(self, change):
        self.position_changes.append(change)
'''


def live_config(tmp_path: Path, sim: SimulatorThread, margin_mode: str, pmbridge: dict[str, Any]) -> Path:
    """A live futures config file for the usdm account: its keys in the exchange section, as a user's would be."""
    config, _ = write_user_data(
        tmp_path,
        sim,
        "usdm",
        strategy_file=("live_usdm.py", STRATEGY),
        pair_whitelist=[PAIR],
        margin_mode=margin_mode,
        stake_amount=STAKE,
        unfilledtimeout={"entry": 10, "exit": 10, "unit": "minutes"},
        # Replace the stop as soon as the custom stop moves (default 60 s).
        order_types={**ORDER_TYPES, "stoploss_on_exchange_interval": 0},
        internals={"process_throttle_secs": 5},
        pmbridge={"account": "usdm", **pmbridge},
    )
    return config


@contextmanager
def live_bot(
    tmp_path: Path, sim: SimulatorThread, margin_mode: str, pmbridge: dict[str, Any]
) -> Iterator[tuple[FreqtradeBot, Answers]]:
    """A started live bot and the answers its ccxt got; on leaving, the bot is cleaned up (pmbridge stops with it)
    and Freqtrade's process-global Trade session is left empty for the next test."""
    config = load_config(live_config(tmp_path, sim, margin_mode, pmbridge), RunMode.LIVE, "LiveUSDM")
    answers = Answers()
    config["exchange"]["ccxt_sync_config"] = {
        # At DEBUG ccxt logs every signed request with its API-key header: a real bot runs ccxt at INFO (Freqtrade's
        # logging set-up), the secrets audit at DEBUG. So Freqtrade's trading object gets the scrubbing logger the
        # tests' own ccxt clients use (its async object only reads public market data).
        "logger": ccxt_logger(*sim.credentials("usdm")),
        # ccxt's client-side throttle sleeps 50 ms per unit of weight (1.5 s per start-up check); the simulator meters
        # weight itself, as tests/sim/trading.py says.
        "enableRateLimit": False,
        "session": answers.session,
    }
    bot = FreqtradeBot(config)
    try:
        bot.startup()
        yield bot, answers
    finally:
        bot.cleanup()
        init_db("sqlite://")


def process_until(bot: FreqtradeBot, predicate: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Run bot loops until ``predicate`` holds: what the stream brings reaches the strategy at the next loop."""
    deadline = time.monotonic() + timeout
    while True:
        bot.process()
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s of bot loops")
        time.sleep(0.05)


def open_trades() -> list[Any]:
    return list(Trade.get_trades_proxy(pair=PAIR, is_open=True))


def all_trades() -> list[Any]:
    return list(Trade.get_trades_proxy(pair=PAIR))


def rpc_messages(records: list[logging.LogRecord]) -> list[str]:
    """What Freqtrade's RPC sent (Telegram, webhooks): its own log line per message."""
    prefix = "Sending rpc strategy_msg: "
    return [r.getMessage()[len(prefix) :] for r in records if r.getMessage().startswith(prefix)]


def truth(sim: SimulatorThread) -> dict[str, Any]:
    """The usdm account as the simulator holds it (what the Binance app would show)."""
    account: dict[str, Any] = sim.state()["accounts"]["usdm"]
    return account


def exchange_position(sim: SimulatorThread) -> dict[str, Any] | None:
    return next((p for p in truth(sim)["positions"] if p["symbol"] == SYMBOL and p["amount"] != "0"), None)


def exchange_leverage(sim: SimulatorThread) -> int:
    return int(truth(sim)["leverage"]["UM"][SYMBOL])


def telegram(bot: FreqtradeBot) -> RPC:
    """What Telegram's commands (/forceexit, /unlock...) call: Freqtrade's RPC on this bot."""
    return RPC(bot)


def unlock(bot: FreqtradeBot) -> None:
    """/unlock: Freqtrade locks a pair for the rest of the candle after an exit (freqtradebot.py:2624), so the next
    entry would wait up to a minute; the user's command lifts it."""
    telegram(bot)._rpc_delete_lock(pair=PAIR)
