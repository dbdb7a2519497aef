"""The Freqtrade mixin's configuration and start-up errors, provoked with secrets where they do not belong.

The secrets audit (tests/secrets_audit.py) scans every message, log line and exception these produce.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from freqtrade.enums import RunMode

from pmbridge.errors import ConfigError
from pmbridge.sim import SimulatorThread

from ..secrets_audit import SENTINEL, audit_input, audit_secrets
from .test_mixin import load

PASTED = SENTINEL + "pastedSecret" + "Xc4Rt8Wm" * 5 + "q"  # a 64-character key pasted into the wrong setting
WRONG_KEY = SENTINEL + "wrongFreqtradeKey" + "k2Mx9Tp" * 5 + "Ab"


@pytest.fixture(autouse=True)
def _audited() -> None:
    audit_secrets(pasted=PASTED, wrong_key=WRONG_KEY)


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ({"policy": PASTED}, "pmbridge.policy: unknown policy '**REDACTED**'"),
        ({"callbacks": PASTED}, "pmbridge.callbacks: must be queued or immediate, got '**REDACTED**'"),
        ({"leverage": PASTED}, "pmbridge.leverage: must be a number or null, got '**REDACTED**'"),
        ({"account": PASTED}, "pmbridge.account: must be one of pm, usdm, coinm, got '**REDACTED**'"),
        ({"pairs": {"BTC/USDT:USDT": PASTED}}, "pmbridge.pairs.BTC/USDT:USDT: must be an object, got '**REDACTED**'"),
        ({"pairs": {"BTC/USDT:USDT": {"policy": PASTED}}}, "unknown policy '**REDACTED**'"),
        ({"secret": PASTED}, "never put secrets in the pmbridge section"),
    ],
)
def test_a_secret_pasted_into_a_setting_is_named_not_quoted(
    tmp_path: Path, section: dict[str, Any], words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, RunMode.BACKTEST, None, section)
    audit_input(tmp_path / "config.json")  # the pasted value is in the config: the user's own file
    assert words in str(caught.value)


@pytest.mark.parametrize("section", [{"base_url": PASTED}, {"heartbeat": PASTED}])
def test_a_secret_pasted_into_a_bridge_setting_is_named_not_quoted(
    tmp_path: Path, sim_env: dict[str, Any], section: dict[str, Any]
) -> None:
    with pytest.raises(ConfigError) as caught:  # when the strategy loads, as the section's own settings
        load(tmp_path, RunMode.DRY_RUN, sim_env, section)
    audit_input(tmp_path / "config.json")
    message = str(caught.value)
    assert next(iter(section)) in message
    assert PASTED not in message


def test_a_rejected_key_in_dry_run_is_reported_without_it(
    tmp_path: Path,
    sim: SimulatorThread,
    sim_env: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("PMBRIDGE_API_KEY", WRONG_KEY)
    strategy = load(tmp_path, RunMode.DRY_RUN, sim_env)
    try:
        with caplog.at_level("WARNING"):
            strategy.ft_bot_start()
            strategy.bot_loop_start(current_time=time.time())
        assert strategy.pmbridge is None
        assert "pmbridge could not start" in caplog.text and "-2015" in caplog.text
        assert strategy.leverage("BTC/USDT:USDT", time.time(), 1.0, 1.0, 125.0, None, "long") == 3.0
    finally:
        strategy.ft_bot_cleanup()
