"""The enforce policy against an adversary that flips the leverage back as fast as it can, on its own thread.

(It replaced test_mixin's test of the same rule, where the test itself flipped between checks.)

pmbridge must make a bounded number of set_leverage calls (``enforce_max_reverts`` per pair within
``enforce_window``), then stop fighting that pair, say so once, and keep enforcing the pairs nobody fights over.
A live bot's strategy (``dry_run: false``, the USDⓈ-M account): a dry run writes nothing, so fights nobody.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from pmbridge.sim import SimulatorThread

from ..helpers import until
from .test_mixin import leverage_writes, load_live, usdm_leverage

FIGHT_S = 3.0
MAX_REVERTS = 3
SET_BACKS = 2 + (MAX_REVERTS - 1) + 1
"""BTC and ETH at start, ETH twice while fought over, BTC once more after: nothing else is set."""


class Adversary(threading.Thread):
    """Another bot (or a person in the app) that wants ETHUSDT at 9x and puts it back within ~10 ms, forever."""

    def __init__(self, sim: SimulatorThread) -> None:
        super().__init__(name="adversary", daemon=True)
        self.sim = sim
        self.flips = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            if usdm_leverage(self.sim, "ETHUSDT") != 9:
                self.sim.set_leverage("ETHUSDT", 9, account="usdm")
                self.flips += 1
            self.stop.wait(0.01)


def test_enforce_makes_bounded_calls_then_stops_and_alerts(
    tmp_path: Path, sim: SimulatorThread, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    strategy = load_live(
        tmp_path,
        sim,
        monkeypatch,
        {"policy": "enforce", "leverage": 4, "enforce_min_interval": 0.05, "enforce_max_reverts": MAX_REVERTS},
    )
    strategy.ft_bot_start()
    adversary = Adversary(sim)
    try:
        runtime = strategy.pmbridge
        strategy.bot_loop_start(current_time=time.time())
        until(lambda: usdm_leverage(sim, "ETHUSDT") == 4, what="enforcement at start")
        until(lambda: usdm_leverage(sim, "BTCUSDT") == 4, what="enforcement at start")
        calls_before = leverage_writes(sim)
        caplog.clear()
        with caplog.at_level("WARNING"):
            adversary.start()
            deadline = time.monotonic() + FIGHT_S
            while time.monotonic() < deadline:  # Freqtrade's loop: every bot loop audits the whitelist too
                strategy.bot_loop_start(current_time=time.time())
                time.sleep(0.05)
            calls_fighting = leverage_writes(sim) - calls_before
            # The pairs nobody fights over are still enforced.
            sim.set_leverage("BTCUSDT", 30, account="usdm")
            until(lambda: usdm_leverage(sim, "BTCUSDT") == 4, what="BTC still enforced")
            # The simulator applies a write before it answers: the enforcer counts the set-back once the answer is in.
            until(lambda: runtime.enforcer.set_backs >= SET_BACKS, what="the enforcer to count BTC's set-back")
            strategy.bot_loop_start(current_time=time.time())
        assert runtime.enforcer.given_up == {"ETH/USDT:USDT"}
        # The set-back at start counts in the window too: MAX_REVERTS set-backs of ETH in all, then no more.
        assert calls_fighting == MAX_REVERTS - 1, f"bounded: {calls_fighting} set_leverage calls in {FIGHT_S} s"
        assert adversary.flips == MAX_REVERTS, "the adversary's last flip is left alone"
        assert runtime.enforcer.set_backs == SET_BACKS
        assert usdm_leverage(sim, "ETHUSDT") == 9
        alerts = [r.getMessage() for r in caplog.records if "stopped enforcing ETH/USDT:USDT" in r.getMessage()]
        assert len(alerts) == 1, "said once, not on every bot loop"
        assert "keeps changing it" in alerts[0] and "restart" in alerts[0]
    finally:
        adversary.stop.set()
        adversary.join(5)
        strategy.ft_bot_cleanup()
