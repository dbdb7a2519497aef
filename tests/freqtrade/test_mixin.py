"""PMBridgeMixin loaded by Freqtrade's own StrategyResolver from a user_data folder and a real config file."""

from __future__ import annotations

import json
import pickle
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
from freqtrade.enums import RunMode
from freqtrade.exceptions import OperationalException
from freqtrade.resolvers import StrategyResolver

from pmbridge.errors import ConfigError
from pmbridge.freqtrade import PMBridgeMixin
from pmbridge.sim import SimulatorThread

from ..helpers import until
from .conftest import load_config, make_user_data

RECORDING_STRATEGY = """
import threading
from pmbridge_example import PMBridgeExample


class Recording(PMBridgeExample):
    def __init__(self, config):
        super().__init__(config)
        self.seen = []

    def bot_start(self, **kwargs):
        pass  # forgets super(): pmbridge must start anyway

    def bot_loop_start(self, current_time, **kwargs):
        pass  # forgets super() too: callbacks must still be delivered

    def pmbridge_leverage_changed(self, change):
        self.seen.append((change.exchange_symbol, change.old, change.new, change.source,
                          threading.get_ident(), change.open_trades))
"""


def load(
    tmp_path: Path,
    runmode: RunMode,
    sim_info: dict[str, Any] | None,
    pmbridge: dict[str, Any] | None = None,
    strategy: str = "PMBridgeExample",
) -> Any:
    path = make_user_data(tmp_path, sim_info, pmbridge, RECORDING_STRATEGY)
    return StrategyResolver.load_strategy(load_config(path, runmode, strategy))


def load_live(tmp_path: Path, sim: SimulatorThread, monkeypatch: pytest.MonkeyPatch, pmbridge: dict[str, Any]) -> Any:
    """The strategy of a live bot (``dry_run: false``) on the simulator's USDⓈ-M account, without the bot: only a
    live run writes to the exchange. With no Freqtrade exchange object, pmbridge takes the keys from the environment."""
    key, secret = sim.credentials("usdm")
    monkeypatch.setenv("PMBRIDGE_API_KEY", key)
    monkeypatch.setenv("PMBRIDGE_API_SECRET", secret)
    path = make_user_data(tmp_path, sim.startup_info(), {"account": "usdm", **pmbridge}, RECORDING_STRATEGY)
    config = load_config(path, RunMode.LIVE)
    config["dry_run"] = False
    return StrategyResolver.load_strategy(config)


def usdm_leverage(sim: SimulatorThread, symbol: str) -> int:
    return int(sim.state()["accounts"]["usdm"]["leverage"]["UM"][symbol])


def leverage_writes(sim: SimulatorThread) -> int:
    """set_leverage calls that reached the exchange's REST API (``POST`` fapi or papi ``.../leverage``; the control
    API the tests use to play the app is apart)."""
    calls = sim.stats()["rest_calls"].items()
    return sum(
        n for call, n in calls if call.startswith("POST ") and call.endswith("/leverage") and "/_sim" not in call
    )


def test_resolver_loads_the_documented_example(tmp_path: Path) -> None:
    strategy = load(tmp_path, RunMode.BACKTEST, None)
    assert isinstance(strategy, PMBridgeMixin)
    assert type(strategy).__name__ == "PMBridgeExample"
    assert strategy._pmbridge_settings.for_pair("ETH/USDT:USDT") == ("enforce", 5, 1, 20)


def test_backtest_mode_holds_plain_data_opens_nothing_and_pickles(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    threads = threading.active_count()
    strategy = load(tmp_path, RunMode.BACKTEST, None)
    with caplog.at_level("INFO"):
        strategy.ft_bot_start()
        strategy.bot_start()
    assert strategy.pmbridge is None
    assert threading.active_count() == threads
    assert caplog.text.count("backtest mode, no connection") == 1
    # hyperopt ships the strategy to worker processes with joblib's cloudpickle (by value: the module is loaded
    # from a path, not importable)
    clone = pickle.loads(cloudpickle.dumps(strategy))
    assert clone._pmbridge_settings == strategy._pmbridge_settings
    now = time.time()
    assert strategy.leverage("BTC/USDT:USDT", now, 1.0, 1.0, 10.0, None, "long") == 3.0  # configured leverage
    assert strategy.leverage("BTC/USDT:USDT", now, 1.0, 1.0, 2.0, None, "long") == 2.0  # Freqtrade's ceiling


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ({"policy": "yolo"}, "pmbridge.policy: unknown policy 'yolo'"),
        ({"polcy": "follow"}, "pmbridge.polcy: unknown setting; did you mean 'policy'?"),
        ({"leverage": "3"}, "pmbridge.leverage: must be a number or null"),
        ({"api_key": "abc"}, "never put secrets in the pmbridge section"),
        ({"pairs": {"BTC/USDT:USDT": {"max_leverage": 500}}}, "pmbridge.pairs.BTC/USDT:USDT.max_leverage"),
        ({"min_leverage": 10, "max_leverage": 5}, "min_leverage (10) is above max_leverage (5)"),
        ({"account": "coinm"}, "coinm cannot be used with Freqtrade: Freqtrade trades USDⓈ-M (linear) futures only"),
        ({"reconcile_interval": "900"}, "pmbridge: reconcile_interval must be a number, got '900'"),
        ({"backtest_recording": "missing.jsonl"}, "pmbridge.backtest_recording: cannot open the recording"),
    ],
)
def test_bad_sections_fail_at_load_naming_the_key(tmp_path: Path, section: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, RunMode.BACKTEST, None, section)
    assert words in str(caught.value)
    assert "abc" not in str(caught.value)
    # Freqtrade's own kind of config mistake: it prints the message as one line and exits 2 (test_bot runs it).
    assert isinstance(caught.value, OperationalException)


def test_dry_run_follow_callbacks_on_freqtrades_thread(
    tmp_path: Path, sim: SimulatorThread, sim_env: dict[str, Any]
) -> None:
    strategy = load(tmp_path, RunMode.DRY_RUN, sim_env, {"policy": "follow", "max_leverage": 50}, strategy="Recording")
    strategy.ft_bot_start()  # what FreqtradeBot calls; the user's bot_start forgot super()
    try:
        runtime = strategy.pmbridge
        assert runtime is not None and runtime.thread.ready
        now = time.time()
        assert strategy.leverage("BTC/USDT:USDT", now, 1.0, 1.0, 125.0, None, "long") == 20.0  # the exchange's
        sim.set_leverage("BTCUSDT", 25)  # "in the Binance app"
        until(lambda: runtime.thread.book.leverage("BTCUSDT") == 25, what="the change in the book")
        assert strategy.leverage("BTC/USDT:USDT", now, 1.0, 1.0, 125.0, None, "long") == 25.0
        assert strategy.leverage("BTC/USDT:USDT", now, 1.0, 1.0, 10.0, None, "long") == 10.0  # Freqtrade's max
        assert [s for s in strategy.seen if s[1] is not None] == []  # queued until the bot loop starts
        strategy.bot_loop_start(current_time=now)
        changed = [s for s in strategy.seen if s[1] is not None]
        assert changed == [("BTCUSDT", 20, 25, "stream", threading.get_ident(), ())]
    finally:
        strategy.ft_bot_cleanup()
    assert strategy.pmbridge is None


def test_live_enforce_sets_the_exchange_back(
    tmp_path: Path, sim: SimulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    strategy = load_live(tmp_path, sim, monkeypatch, {"policy": "enforce", "leverage": 4, "enforce_min_interval": 0.1})
    strategy.ft_bot_start()
    try:
        strategy.bot_loop_start(current_time=time.time())  # the audit sets whitelisted pairs to 4x
        until(lambda: usdm_leverage(sim, "BTCUSDT") == 4, what="enforcement at start")
        sim.set_leverage("BTCUSDT", 30, account="usdm")
        until(lambda: usdm_leverage(sim, "BTCUSDT") == 4, what="the set-back")
        assert strategy.leverage("BTC/USDT:USDT", time.time(), 1.0, 1.0, 125.0, None, "long") == 4.0
    finally:
        strategy.ft_bot_cleanup()


def test_dry_run_enforce_and_caps_write_nothing_and_say_what_they_would_set_back_once(
    tmp_path: Path, sim: SimulatorThread, sim_env: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Freqtrade writes nothing in a dry run, and users try strategies there with their real keys: neither does
    pmbridge. ETH under enforce (4x) and BTC under follow above the 10x cap are only reported, once per value."""
    section = {
        "policy": "follow",
        "max_leverage": 10,
        "enforce_min_interval": 0.05,
        "pairs": {"ETH/USDT:USDT": {"policy": "enforce", "leverage": 4}},
    }
    strategy = load(tmp_path, RunMode.DRY_RUN, sim_env, section)
    caplog.set_level("INFO")
    strategy.ft_bot_start()
    try:
        eth = "pmbridge dry run: would set ETH/USDT:USDT leverage back 20x -> 4x on the exchange (policy enforce)"
        btc = (
            "pmbridge dry run: would set BTC/USDT:USDT leverage back 20x -> 10x on the exchange (outside the "
            "configured min/max leverage), not written: a dry run never writes to the exchange, so Binance keeps 20x."
        )

        def said(text: str) -> int:
            return sum(r.getMessage().startswith(text) for r in caplog.records)

        def bot_loop() -> None:
            strategy.bot_loop_start(current_time=time.time())
            time.sleep(0.06)  # past enforce_min_interval

        until(lambda: bot_loop() or (said(eth) and said(btc)), what="what would be set back")
        sim.set_leverage("ETHUSDT", 30)  # "in the app": said again, for the new value
        until(lambda: bot_loop() or said(eth.replace("20x", "30x")), what="what would be set back after the change")
        for _ in range(5):  # more bot loops: nothing new to say
            bot_loop()
        now = time.time()
        assert strategy.leverage("ETH/USDT:USDT", now, 1.0, 1.0, 125.0, None, "long") == 4.0  # as enforce answers
        assert strategy.leverage("BTC/USDT:USDT", now, 1.0, 1.0, 125.0, None, "long") == 10.0  # inside the cap
        runtime = strategy.pmbridge
        assert runtime is not None and runtime.thread.config.read_only, "the bridge itself refuses writes too"
    finally:
        strategy.ft_bot_cleanup()
    assert (said(eth), said(btc), said(eth.replace("20x", "30x"))) == (1, 1, 1)
    assert leverage_writes(sim) == 0
    assert sim.state()["leverage"]["UM"]["ETHUSDT"] == 30 and sim.state()["leverage"]["UM"]["BTCUSDT"] == 20
    start = [r.getMessage() for r in caplog.records if r.getMessage().startswith("pmbridge: dry run:")]
    assert start == [
        "pmbridge: dry run: nothing is written to the exchange (Freqtrade writes nothing in a dry run either): the "
        "enforce policy (ETH/USDT:USDT) and the min/max leverage caps only say what they would set back. leverage() "
        "answers as in live trading."
    ]


def test_switch_to_hedge_mode_is_said_loudly_with_what_to_do(
    tmp_path: Path, sim: SimulatorThread, sim_env: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    strategy = load(tmp_path, RunMode.DRY_RUN, sim_env, {"reconcile_interval": 0.3})
    strategy.ft_bot_start()
    try:
        runtime = strategy.pmbridge
        sim.set_position_mode(True)  # Binance pushes nothing for this: the fixed-cadence reconcile finds it
        until(lambda: runtime.thread.book.dual_side_position is True, what="the reconcile to see hedge mode")
        with caplog.at_level("ERROR"):
            strategy.bot_loop_start(current_time=time.time())
        assert "HEDGE (dual side) position mode" in caplog.text
        assert "switch the account back to one-way" in caplog.text
        sim.set_multi_assets(True)
        until(lambda: runtime.thread.book.multi_assets is True, what="multi-assets on")
        caplog.clear()
        with caplog.at_level("ERROR"):
            strategy.bot_loop_start(current_time=time.time())
        assert "MULTI-ASSETS" not in caplog.text  # the example config trades cross margin: allowed
    finally:
        strategy.ft_bot_cleanup()


def test_without_keys_in_dry_run_it_says_how_to_fix_and_keeps_trading(
    tmp_path: Path, sim: SimulatorThread, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("PMBRIDGE_API_KEY", raising=False)
    monkeypatch.delenv("PMBRIDGE_API_SECRET", raising=False)
    strategy = load(tmp_path, RunMode.DRY_RUN, sim.startup_info())
    with caplog.at_level("WARNING"):
        strategy.ft_bot_start()  # Freqtrade's start: bot_start, then pmbridge's own start if bot_start forgot it
        strategy.bot_start()  # a strategy whose bot_start calls super() late, or twice
    assert strategy.pmbridge is None
    assert caplog.text.count("set PMBRIDGE_API_KEY and PMBRIDGE_API_SECRET") == 1
    assert strategy.leverage("BTC/USDT:USDT", time.time(), 1.0, 1.0, 125.0, None, "long") == 3.0


def test_immediate_callbacks_run_on_the_bridge_thread_at_once(
    tmp_path: Path, sim: SimulatorThread, sim_env: dict[str, Any]
) -> None:
    strategy = load(tmp_path, RunMode.DRY_RUN, sim_env, {"callbacks": "immediate"}, strategy="Recording")
    strategy.ft_bot_start()
    try:
        sim.set_leverage("SOLUSDT", 9)
        seen = until(
            lambda: [s for s in strategy.seen if s[0] == "SOLUSDT" and s[1] is not None],
            what="the immediate callback, without any bot loop",
        )
        assert seen[0][4] != threading.get_ident()  # the bridge's thread, as asked
    finally:
        strategy.ft_bot_cleanup()


def test_live_caps_are_enforced_whatever_the_policy(
    tmp_path: Path, sim: SimulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    strategy = load_live(
        tmp_path, sim, monkeypatch, {"policy": "follow", "max_leverage": 10, "enforce_min_interval": 0.1}
    )
    strategy.ft_bot_start()
    try:
        strategy.bot_loop_start(current_time=time.time())  # the whitelist is known from here
        until(lambda: usdm_leverage(sim, "BTCUSDT") == 10, what="20x brought under the 10x cap")
        sim.set_leverage("BTCUSDT", 8, account="usdm")  # inside the caps under follow: left alone and followed
        until(lambda: strategy.pmbridge.thread.book.leverage("BTCUSDT") == 8, what="the change")
        time.sleep(0.3)
        assert usdm_leverage(sim, "BTCUSDT") == 8
        assert strategy.leverage("BTC/USDT:USDT", time.time(), 1.0, 1.0, 125.0, None, "long") == 8.0
        sim.set_leverage("BTCUSDT", 50, account="usdm")  # outside: set back inside
        until(lambda: usdm_leverage(sim, "BTCUSDT") == 10, what="50x brought back under the cap")
    finally:
        strategy.ft_bot_cleanup()


DECIDING_STRATEGY = """
from pmbridge_example import PMBridgeExample


class Deciding(PMBridgeExample):
    def pmbridge_decide_leverage(self, request):
        return 2 if request.symbol == "ETH/USDT:USDT" else None
"""


def test_a_strategy_hook_decides_first_and_is_still_clamped(
    tmp_path: Path, sim: SimulatorThread, sim_env: dict[str, Any]
) -> None:
    path = make_user_data(tmp_path, sim_env, {"policy": "follow"}, DECIDING_STRATEGY)
    strategy = StrategyResolver.load_strategy(load_config(path, RunMode.DRY_RUN, "Deciding"))
    strategy.ft_bot_start()
    try:
        now = time.time()
        assert strategy.leverage("ETH/USDT:USDT", now, 1.0, 1.0, 125.0, None, "long") == 2.0
        assert strategy.leverage("BTC/USDT:USDT", now, 1.0, 1.0, 125.0, None, "long") == 20.0  # follow decides
    finally:
        strategy.ft_bot_cleanup()


def test_leverage_is_safe_from_many_threads_while_changes_stream(
    tmp_path: Path, sim: SimulatorThread, sim_env: dict[str, Any]
) -> None:
    """Freqtrade calls leverage() from the bot, API and Telegram threads (/forceenter)."""
    strategy = load(tmp_path, RunMode.DRY_RUN, sim_env, {"policy": "follow"})
    strategy.ft_bot_start()
    answers: list[float] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            answers.append(strategy.leverage("BTC/USDT:USDT", time.time(), 1.0, 1.0, 125.0, None, "long"))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    try:
        for thread in threads:
            thread.start()
        for leverage in (5, 6, 7, 8):
            sim.set_leverage("BTCUSDT", leverage)
        until(lambda: strategy.pmbridge.thread.book.leverage("BTCUSDT") == 8, what="the last change")
        time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        strategy.ft_bot_cleanup()
    assert set(answers) <= {20.0, 5.0, 6.0, 7.0, 8.0} and answers[-1] == 8.0


def test_backtest_follows_a_recorded_leverage_timeline(tmp_path: Path) -> None:
    """`pmbridge record` file -> in a backtest, follow answers with the leverage the exchange had at each candle."""
    t0 = 1_700_000_000_000.0
    lines = [
        {"pmbridge_recording": 1, "account": "pm", "started": t0, "pmbridge": "0.1.0"},
        {"t": t0, "markets": {"BTC/USDT:USDT": {"id": "BTCUSDT", "swap": True, "future": False, "inverse": False}}},
        {
            "t": t0 + 10,
            "snapshot": {"UM": {"BTCUSDT": 20}, "CM": {}, "multi_assets": False, "dual_side_position": False},
            "source": "snapshot",
            "trigger": "connect",
        },
        {
            "t": t0 + 3_600_000,
            "frame": '{"e":"ACCOUNT_CONFIG_UPDATE","fs":"UM","E":1700003600000,'
            '"T":1700003599998,"ac":{"s":"BTCUSDT","l":8}}',
        },
    ]
    recording = tmp_path / "account.jsonl"
    recording.write_text("".join(json.dumps(line) + "\n" for line in lines))
    strategy = load(tmp_path, RunMode.BACKTEST, None, {"policy": "follow", "backtest_recording": str(recording)})
    clone = pickle.loads(cloudpickle.dumps(strategy))  # still plain data for hyperopt

    def at(ms: float, who: Any = strategy) -> float:
        when = datetime.fromtimestamp(ms / 1000, tz=UTC)
        return who.leverage("BTC/USDT:USDT", when, 1.0, 1.0, 125.0, None, "long")

    assert at(t0 - 60_000) == 1.0  # before the recording: the strategy's own proposal
    assert at(t0 + 60_000) == 20.0
    assert at(t0 + 3_600_000 + 60_000) == 8.0
    assert at(t0 + 3_600_000 + 60_000, clone) == 8.0
