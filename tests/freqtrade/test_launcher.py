"""``pmbridge freqtrade <arguments>``: which configs get PMBinance, and that everything else is Freqtrade's own.

The decision is read from the config the way Freqtrade reads it (its own argument parser, file merging and
``FREQTRADE__`` variables), so those cases run in-process on ``decide``. What a user sees (exit codes, output,
refusals, which exchange class a bot really runs, commands that pass through) runs as real processes, side by side
with Freqtrade's own console script where the two must agree.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import freqtrade.exchange as ft_exchange
import pytest
from freqtrade.exchange.binance import Binance

from pmbridge.errors import ConfigError
from pmbridge.freqtrade import launcher
from pmbridge.sim import SimulatorThread

from ..helpers import SimProcess
from .ft_process import FREQTRADE, PMBRIDGE, FreqtradeProcess, json_lines, run_all, write_user_data

FAKE_KEYS = {"type": "pm", "api_key": "k" * 64, "api_secret": "s" * 64}
"""Keys of an account that does not exist: ``show-config`` only prints them (masked)."""
PM = {"exchange": {"name": "binance"}, "trading_mode": "futures", "margin_mode": "cross", "pmbridge": {"account": "pm"}}


def write(path: Path, data: dict[str, Any]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return str(path)


@pytest.fixture(autouse=True)
def user_shell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("FREQTRADE__"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


# -- the decision, in-process ------------------------------------------------------------------------------------
def test_the_last_config_wins_as_in_freqtrade(tmp_path: Path) -> None:
    pm = write(tmp_path / "pm.json", PM)
    usdm = write(tmp_path / "usdm.json", {"pmbridge": {"account": "usdm"}})
    assert launcher.decide(["trade", "-c", pm, "-c", usdm]).use_pm is False
    assert launcher.decide(["trade", "-c", usdm, "--config", pm]).use_pm is True
    assert launcher.decide(["trade", "--conf", pm]).use_pm is True  # argparse's abbreviations, as Freqtrade's


def test_freqtrade_environment_variables_override_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pm = write(tmp_path / "pm.json", PM)
    monkeypatch.setenv("FREQTRADE__PMBRIDGE__ACCOUNT", "usdm")
    decision = launcher.decide(["trade", "-c", pm])
    assert decision.use_pm is False and "usdm" in decision.reason
    monkeypatch.setenv("FREQTRADE__PMBRIDGE__ACCOUNT", "pm")
    monkeypatch.setenv("FREQTRADE__EXCHANGE__NAME", "okx")
    with pytest.raises(ConfigError, match="Portfolio Margin is a Binance account"):
        launcher.decide(["trade", "-c", pm])


def test_freqtrades_default_config_locations(tmp_path: Path) -> None:
    write(tmp_path / "config.json", {**PM, "pmbridge": {"account": "usdm"}})
    assert launcher.decide(["trade"]).use_pm is False  # ./config.json
    write(tmp_path / "user_data" / "config.json", PM)
    assert launcher.decide(["trade"]).use_pm is True  # user_data/config.json comes first (arguments.py:336-352)
    write(tmp_path / "elsewhere" / "config.json", {**PM, "pmbridge": {"account": "coinm"}})
    with pytest.raises(ConfigError, match="coinm cannot be used with Freqtrade"):  # elsewhere's file was read
        launcher.decide(["trade", "--userdir", "elsewhere"])


def test_included_files_and_the_default_account(tmp_path: Path) -> None:
    write(tmp_path / "sub" / "exchange.json", {"exchange": {"name": "binanceusdm"}})
    main = write(tmp_path / "sub" / "main.json", {"add_config_files": ["exchange.json"], "trading_mode": "futures"})
    decision = launcher.decide(["trade", "-c", main])
    assert (decision.use_pm, decision.exchange_name) == (True, "binanceusdm")
    assert decision.notes == ["the config has no pmbridge.account: pmbridge's default, pm, applies"]


def test_a_config_on_stdin_is_still_there_for_freqtrade(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(PM)))
    assert launcher.decide(["trade", "-c", "-"]).use_pm is True
    from freqtrade.configuration.load_config import load_from_files

    assert load_from_files(["-"])["pmbridge"]["account"] == "pm"


def test_what_cannot_be_read_here_is_left_for_freqtrade_to_say(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert launcher.decide(["trade", "-c", str(tmp_path / "missing.json")]).use_pm is False
    assert launcher.decide(["trade", "--help"]).use_pm is False
    assert launcher.decide(["list-exchanges"]).use_pm is False  # a config.json is named, never read
    assert capsys.readouterr() == ("", "")  # Freqtrade prints its help and errors once, itself


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({**PM, "pmbridge": {"account": "spot"}}, "pmbridge.account: must be one of"),
        ({**PM, "pmbridge": {"acount": "pm"}}, "pmbridge.acount: unknown setting; did you mean 'account'?"),
        ({**PM, "exchange": {"name": "okx"}}, "pmbridge.account is pm, but exchange.name is 'okx'"),
        ({**PM, "margin_mode": "isolated"}, 'pmbridge.account is pm, but margin_mode is "isolated"'),
    ],
)
def test_pmbridges_own_mistakes_are_refused(tmp_path: Path, config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        launcher.decide(["trade", "-c", write(tmp_path / "config.json", config)])


def test_show_config_still_shows_an_isolated_pm_config(tmp_path: Path) -> None:
    isolated = write(tmp_path / "config.json", {**PM, "margin_mode": "isolated"})
    assert launcher.decide(["show-config", "-c", isolated]).use_pm is True  # to look at it, not to trade it


def test_the_version_check_names_the_supported_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert launcher.check_freqtrade_version() is None  # the installed one
    monkeypatch.setattr(launcher, "installed_version", lambda name: "2025.12")
    with pytest.raises(SystemExit) as exit_info:
        launcher.run(["trade", "-c", write(tmp_path / "pm.json", PM)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "pmbridge freqtrade: Freqtrade 2025.12 is older than the range pmbridge supports on Portfolio Margin "
        "(2026.1 up to, not including, 2027.1; tested with 2026.9): upgrade Freqtrade, e.g. pip install -U "
        "'freqtrade>=2026.1,<2027.1'\n"
    )
    assert ft_exchange.Binance is Binance  # refused before anything was bound

    monkeypatch.setattr(launcher, "installed_version", lambda name: "2027.1")
    monkeypatch.delenv("PMBRIDGE_FREQTRADE_UNTESTED", raising=False)
    assert launcher.check_freqtrade_version() == (
        "Freqtrade 2027.1 is newer than the range pmbridge supports on Portfolio Margin (2026.1 up to, not including, "
        "2027.1; tested with 2026.9): its exchange code may have changed under pmbridge's Portfolio Margin overrides. "
        "Install a supported release (pip install 'freqtrade>=2026.1,<2027.1'), or, to try this one with small stakes "
        "and watch the first trades, set PMBRIDGE_FREQTRADE_UNTESTED=1"
    )
    monkeypatch.setenv("PMBRIDGE_FREQTRADE_UNTESTED", "1")
    assert launcher.check_freqtrade_version() is None  # the start-up note then says it is not the tested release


# -- what users see, as processes --------------------------------------------------------------------------------
def test_refusals_exit_2_and_say_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before Freqtrade starts: the message on stderr, code 2, nothing bound. Once as a process (the command line's
    dispatch), the other mistakes through ``run``, which the command line calls."""
    [isolated] = run_all(
        [
            (
                [
                    PMBRIDGE,
                    "freqtrade",
                    "trade",
                    "-c",
                    write(tmp_path / "isolated.json", {**PM, "margin_mode": "isolated"}),
                ],
                tmp_path,
            )
        ]
    )
    assert (isolated.returncode, isolated.stdout) == (2, "")
    assert isolated.stderr == (
        'pmbridge freqtrade: pmbridge.account is pm, but margin_mode is "isolated": a Portfolio Margin account\'s '
        'USDⓈ-M positions are always cross margin. Set "margin_mode": "cross", or pmbridge.account to usdm for a '
        "USDⓈ-M futures account\n"
    )
    for config, message in (
        ({**PM, "pmbridge": {"account": "spot"}}, "pmbridge.account: must be one of pm, usdm, coinm, got 'spot'\n"),
        (
            {**PM, "exchange": {"name": "okx"}},
            "pmbridge.account is pm, but exchange.name is 'okx': Portfolio Margin is a Binance account; set "
            "exchange.name to binance, or pmbridge.account to the account you trade\n",
        ),
    ):
        with pytest.raises(SystemExit) as exit_info:
            launcher.run(["trade", "-c", write(tmp_path / "config.json", config)])
        assert exit_info.value.code == 2
        assert capsys.readouterr() == ("", f"pmbridge freqtrade: {message}")
    assert ft_exchange.Binance is Binance


def test_exit_codes_and_output_are_freqtrades(tmp_path: Path) -> None:
    """Freqtrade 2026.9's own codes, odd ones included: 0 after an argparse error and after a configuration error
    (main.py:67-79), 2 for a missing file. ``--version`` and ``show-config`` print what Freqtrade prints, keys
    masked (the config holds them)."""
    sim = SimProcess({"base_url": "http://127.0.0.1:9", "ccxt_config": {}, "accounts": [FAKE_KEYS]})
    config, _ = write_user_data(tmp_path, sim)
    (tmp_path / "BAD").write_text("{bad json")
    # show-config rather than trade for the config errors: the same main() handling, a lighter command to start.
    codes = {("trade", "--bogus"): 0, ("show-config", "-c", "BAD"): 0, ("show-config", "-c", "missing.json"): 2}
    same = [["--version"], ["show-config", "-c", str(config)]]
    runs = run_all(
        [([PMBRIDGE, "freqtrade", *args], tmp_path) for args in codes]
        + [(argv, tmp_path) for args in same for argv in ([PMBRIDGE, "freqtrade", *args], [FREQTRADE, *args])]
    )
    assert [r.returncode for r in runs[: len(codes)]] == list(codes.values())
    version, version_ft, shown, shown_ft = runs[len(codes) :]
    assert (version.returncode, version.stdout) == (0, version_ft.stdout)
    assert "Freqtrade Version:\tfreqtrade 2026.9" in version.stdout
    assert (shown.returncode, shown.stdout) == (0, shown_ft.stdout)
    assert '"pmbridge": {' in shown.stdout and '"key": "REDACTED"' in shown.stdout


def test_a_non_pm_config_runs_freqtrades_own_binance_class(tmp_path: Path, sim: SimulatorThread) -> None:
    """A USDⓈ-M config in dry-run through the launcher: the bot's exchange is Freqtrade's ``Binance``; it stops on
    Ctrl-C with Freqtrade's 130."""
    config, user_data = write_user_data(tmp_path, sim, account="usdm", dry_run=True)
    bot = FreqtradeProcess(
        [PMBRIDGE, "freqtrade", "trade", "-c", str(config), "--strategy", "PMLive"], tmp_path, tmp_path / "ft.log"
    )
    try:
        bot.wait_for("Changing state to: RUNNING", timeout=40)
        code = bot.stop(signal.SIGINT)
    finally:
        bot.kill()
    assert json_lines(user_data / "exchange.jsonl") == [{"class": "freqtrade.exchange.binance.Binance"}]
    assert code == 130 and "PMBinance" not in bot.log()
    assert not [name for name in sim.stats()["rest_calls"] if "/papi/" in name]


def test_data_and_backtesting_commands_pass_through(tmp_path: Path, sim: SimulatorThread) -> None:
    """A Portfolio Margin config: Freqtrade downloads candles from the simulator's public market data and backtests
    them, with PMBinance bound and pmbridge opening no connection."""
    config, user_data = write_user_data(tmp_path, sim)
    common = ["-c", str(config), "--timeframes", "1m", "--pairs", "BTC/USDT:USDT"]
    [download] = run_all([([PMBRIDGE, "freqtrade", "download-data", *common, "--days", "1"], tmp_path)])
    assert download.returncode == 0, download.stderr
    assert "Downloaded data for BTC/USDT:USDT, 1m, futures" in download.stderr
    (user_data / "enter").write_text("")  # PMLive enters on every candle while the file is there
    [backtest] = run_all(
        [
            (
                [PMBRIDGE, "freqtrade", "backtesting", "-c", str(config), "--strategy", "PMLive", "--timeframe", "1m"],
                tmp_path,
            )
        ]
    )
    assert backtest.returncode == 0, backtest.stderr
    assert "pmbridge: backtest mode, no connection" in backtest.stderr
    assert "BACKTESTING REPORT" in backtest.stdout and "BTC/USDT:USDT" in backtest.stdout
    assert not (user_data / "enter").exists()  # confirm_trade_entry ran: the backtest entered
    assert json_lines(user_data / "exchange.jsonl") == [{"class": "pmbridge.freqtrade.portfolio.exchange.PMBinance"}]
    assert not [name for name in sim.stats()["rest_calls"] if "/papi/" in name or name.endswith("/listenKey")]
