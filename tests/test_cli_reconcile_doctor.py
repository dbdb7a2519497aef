"""`pmbridge reconcile`, `pmbridge doctor` and `--config`, run as a user runs them: real processes, the simulator on
127.0.0.1, real ccxt."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from rich.console import Console

from pmbridge.cli.common import add_connection_arguments, config_from_args
from pmbridge.cli.reconcile import Outcome, print_table
from pmbridge.errors import ConfigError
from pmbridge.models import Position, PositionChange

from .helpers import freqtrade_config, simulator_process


# Until these modules are wired into pmbridge.cli.COMMANDS, run them through the same argparse wiring the console
# script uses (one sub-parser per module's COMMANDS entry). Switch to [BIN / "pmbridge", *args] once wired.
def command(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "pmbridge"), *args]


def pmbridge(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(*args), capture_output=True, text=True, timeout=timeout, env=env, check=False)


@pytest.fixture(scope="module")
def sim() -> Iterator[dict[str, Any]]:
    """Shared by the tests that leave the account as they found it."""
    yield from simulator_process()


@pytest.fixture
def fresh_sim() -> Iterator[dict[str, Any]]:
    """For the tests that change the account."""
    yield from simulator_process()


def env_for(sim: dict[str, Any], **changes: str) -> dict[str, str]:
    return {**os.environ, "PMBRIDGE_API_KEY": sim["api_key"], "PMBRIDGE_API_SECRET": sim["api_secret"], **changes}


def assert_no_secrets(sim: dict[str, Any], *texts: str) -> None:
    for text in texts:
        assert sim["api_key"] not in text
        assert sim["api_secret"] not in text


def control(sim: dict[str, Any], action: str, body: dict[str, Any] | None = None) -> Any:
    answer = requests.post(f"{sim['base_url']}/_sim/{action}", json=body or {}, timeout=5)
    answer.raise_for_status()
    return answer.json()


def start_reconcile(sim: dict[str, Any], *args: str) -> subprocess.Popen[str]:
    """Start `pmbridge reconcile` and return once it has its first snapshot and is listening."""
    process = subprocess.Popen(
        command("reconcile", "--base-url", sim["base_url"], *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_for(sim),
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "listening to the stream" in line:
            return process
    process.kill()
    pytest.fail(f"reconcile never started listening: {''.join(seen)}")


# -- reconcile ---------------------------------------------------------------------------------------------------------
def test_reconcile_without_drift_exits_0_with_one_json_object(sim: dict[str, Any]) -> None:
    result = pmbridge("reconcile", "--base-url", sim["base_url"], "--listen", "0.5", "--json", env=env_for(sim))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)  # exactly one JSON object: progress went to stderr
    assert out["drift"] is False and out["changes"] == []
    assert out["symbols"] == 9  # 6 USD-M + the simulator's 3 COIN-M
    assert out["rest_calls"] >= 6 and out["listened_s"] >= 0.5
    assert "first snapshot: 9 symbols" in result.stderr
    assert_no_secrets(sim, result.stdout, result.stderr)


def test_reconcile_finds_a_change_made_while_the_socket_was_down(fresh_sim: dict[str, Any]) -> None:
    process = start_reconcile(fresh_sim, "--listen", "1.5", "--json")
    # Hold the reconnect back (the listenKey call fails twice) so the change lands in the gap, then drop the socket.
    control(fresh_sim, "fail", {"status": 503, "count": 2, "paths": ["/papi/v1/listenKey"]})
    control(fresh_sim, "drop")
    control(fresh_sim, "leverage", {"symbol": "ETHUSDT", "leverage": 33})
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 3, stderr
    out = json.loads(stdout)
    assert out["drift"] is True
    [change] = out["changes"]
    assert change == {
        "kind": "leverage",
        "symbol": "ETH/USDT:USDT",
        "exchange_symbol": "ETHUSDT",
        "unit": "UM",
        "old": change["old"],
        "new": 33,
        "source": "reconcile",
        "event_time": None,
        "origin": "external",
        "positions": [],
        "trigger": "connect",
    }
    assert out["position_changes"] == [] and out["positions"] == 0
    assert change["old"] != 33
    assert_no_secrets(fresh_sim, stdout, stderr)


def test_reconcile_finds_a_position_opened_while_the_socket_was_down(fresh_sim: dict[str, Any]) -> None:
    control(fresh_sim, "price", {"symbol": "ETHUSDT", "price": 3000})
    process = start_reconcile(fresh_sim, "--listen", "1.5", "--json")
    # A fill in the gap: Binance never replays its ACCOUNT_UPDATE, only the resync after the reconnect sees it.
    control(fresh_sim, "fail", {"status": 503, "count": 2, "paths": ["/papi/v1/listenKey"]})
    control(fresh_sim, "drop")
    control(fresh_sim, "order", {"symbol": "ETHUSDT", "side": "SELL", "type": "MARKET", "quantity": "1.000"})
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 3, stderr
    out = json.loads(stdout)
    [truth] = requests.get(f"{fresh_sim['base_url']}/_sim/state", timeout=5).json()["positions"]
    assert out["drift"] is True and out["changes"] == [] and out["positions"] == 1
    [found] = out["position_changes"]
    assert {k: found[k] for k in ("kind", "change", "symbol", "side", "direction", "source", "trigger", "old")} == {
        "kind": "position",
        "change": "opened",
        "symbol": "ETH/USDT:USDT",
        "side": "BOTH",
        "direction": "short",
        "source": "reconcile",
        "trigger": "connect",
        "old": None,
    }
    assert (found["amount"], found["entry_price"]) == (truth["amount"], truth["entry_price"])
    assert found["liquidation_price"] == truth["liquidation_price"]  # the snapshot's reading carries it
    assert "found 1 value(s) or position(s) the stream missed" in stderr
    assert_no_secrets(fresh_sim, stdout, stderr)


def test_reconcile_table_names_a_drifted_position_with_what_the_book_had() -> None:
    # The table's rendering of what the test above finds live: the outcome is built from the models directly.
    opened = Position("UM", "ETHUSDT", "BOTH", Decimal("-1.000"), Decimal("2999.9"), "ETH/USDT:USDT", 20, "cross",
                      liquidation_price=Decimal("12519.5"), source="reconcile")  # fmt: skip
    change = PositionChange("opened", opened, None, "reconcile", None)
    outcome = Outcome([], 9, 14, 1.5, 0, [("connect", change)], 1)
    console = Console(width=200, file=io.StringIO())
    print_table(outcome, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    row = next(line for line in text.splitlines() if "ETHUSDT" in line)
    assert "ETH/USDT:USDT" in row and "BOTH position" in row and "flat" in row
    assert "short 1.000 @ 2999.9, 20x, liquidation 12519.5" in row and "resync after reconnect" in row
    assert "1 value(s) or position(s) drifted" in text and "1 open position(s)" in text


def test_reconcile_table_shows_a_position_mode_change_the_stream_never_reports(fresh_sim: dict[str, Any]) -> None:
    process = start_reconcile(fresh_sim, "--listen", "0.5")
    control(fresh_sim, "position_mode", {"dual_side": True})  # Binance pushes nothing for this: only a snapshot sees it
    control(fresh_sim, "leverage", {"symbol": "BTCUSDT", "leverage": 7})  # pushed: not drift
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 3, stderr
    assert "drift: values the stream did not report" in stdout
    row = next(line for line in stdout.splitlines() if "dual_side_position" in line)
    assert "off" in row and "on" in row and "second snapshot" in row
    assert "BTCUSDT" not in stdout
    assert "1 change(s) from the stream" in stdout
    assert "second snapshot" in stderr


def test_reconcile_config_error_exits_2_and_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"exchange": {"key": "k", "secret": "s"}, "pmbridge": {"acount": "usdm"}}')
    result = pmbridge("reconcile", "--config", str(config), env=dict(os.environ))
    assert result.returncode == 2
    assert "pmbridge.acount: unknown setting; did you mean 'account'?" in result.stderr
    assert str(config) in result.stderr


def test_reconcile_help_lists_examples_and_exit_codes() -> None:
    result = pmbridge("reconcile", "--help", env=dict(os.environ))
    assert result.returncode == 0
    assert "examples:" in result.stdout
    assert "exit codes: 0 no drift; 3 drift found" in result.stdout


# -- doctor ------------------------------------------------------------------------------------------------------------
def checks_of(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, str]]:
    report = json.loads(result.stdout)
    assert set(report) == {"checks", "diagnostics"}
    return {check["name"]: check for check in report["checks"]}


def test_doctor_all_ok(sim: dict[str, Any]) -> None:
    result = pmbridge("doctor", "--base-url", sim["base_url"], "--json", env=env_for(sim))
    assert result.returncode == 0, result.stdout + result.stderr
    checks = checks_of(result)
    assert list(checks) == [
        "configuration",
        "exchange reachable",
        "clock",
        "credentials",
        "user stream",
        "account mode",
        "positions",
        "plugins",
    ]
    assert {check["status"] for check in checks.values()} == {"ok"}
    assert "one-way mode; multi-assets off" in checks["account mode"]["message"]
    assert checks["positions"]["message"] == "no open positions"
    assert "pmbridge.builtin.policy (pmbridge_decide_leverage)" in checks["plugins"]["message"]
    diagnostics = json.loads(result.stdout)["diagnostics"]
    assert diagnostics["config"]["api_key"] == diagnostics["config"]["api_secret"] == "**REDACTED**"
    assert diagnostics["book"]["symbols"] == 9
    assert diagnostics["rest"]["calls"] >= 5
    assert diagnostics["positions"]["open"] == 0 and diagnostics["positions"]["open_positions"] == []
    assert_no_secrets(sim, result.stdout, result.stderr)


def test_doctor_shows_the_open_positions_and_nothing_secret(fresh_sim: dict[str, Any]) -> None:
    control(fresh_sim, "price", {"symbol": "BTCUSDT", "price": 60000})
    control(fresh_sim, "order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.010"})
    result = pmbridge("doctor", "--base-url", fresh_sim["base_url"], "--json", env=env_for(fresh_sim))
    assert result.returncode == 0, result.stdout + result.stderr
    checks = checks_of(result)
    [truth] = requests.get(f"{fresh_sim['base_url']}/_sim/state", timeout=5).json()["positions"]
    assert checks["positions"]["status"] == "ok"
    said = f"1 open: BTC/USDT:USDT long {truth['amount']} @ {truth['entry_price']}, 20x"
    assert checks["positions"]["message"].startswith(said)
    positions = json.loads(result.stdout)["diagnostics"]["positions"]
    assert positions["open"] == 1
    [shown] = positions["open_positions"]
    assert (shown["exchange_symbol"], shown["amount"], shown["liquidation_price"], shown["leverage"]) == (
        "BTCUSDT",
        truth["amount"],
        truth["liquidation_price"],
        truth["leverage"],
    )
    text = pmbridge("doctor", "--base-url", fresh_sim["base_url"], env=env_for(fresh_sim))
    assert f"ok    positions          {said}" in text.stdout
    assert_no_secrets(fresh_sim, result.stdout, result.stderr, text.stdout, text.stderr)


def test_doctor_wrong_secret_says_minus_1022_and_what_to_do(sim: dict[str, Any]) -> None:
    wrong = "W" * 64
    result = pmbridge("doctor", "--base-url", sim["base_url"], "--json", env=env_for(sim, PMBRIDGE_API_SECRET=wrong))
    assert result.returncode == 1
    checks = checks_of(result)
    assert checks["credentials"]["status"] == "fail"
    assert "-1022" in checks["credentials"]["message"]
    assert "secret" in checks["credentials"]["message"]
    assert checks["user stream"]["status"] == "ok"  # a listenKey needs the key only: so the key itself is fine
    assert checks["account mode"]["status"] == "skip"
    assert_no_secrets(sim, result.stdout, result.stderr)
    assert wrong not in result.stdout + result.stderr


def test_doctor_wrong_key_says_minus_2015_key_ip_permissions(sim: dict[str, Any]) -> None:
    wrong = "K" * 64
    result = pmbridge("doctor", "--base-url", sim["base_url"], env=env_for(sim, PMBRIDGE_API_KEY=wrong))
    assert result.returncode == 1
    line = next(line for line in result.stdout.splitlines() if line.startswith("fail  credentials"))
    assert "-2015" in line and "IP whitelist" in line and "permission" in line
    assert "fail  user stream" in result.stdout
    assert "diagnostics (secrets redacted" in result.stdout
    assert_no_secrets(sim, result.stdout, result.stderr)
    assert wrong not in result.stdout + result.stderr


def test_doctor_unreachable_host_fails_fast_and_skips_the_rest() -> None:
    env = {**os.environ, "PMBRIDGE_API_KEY": "k" * 64, "PMBRIDGE_API_SECRET": "s" * 64}
    result = pmbridge("doctor", "--base-url", "http://127.0.0.1:1", "--json", env=env, timeout=30)
    assert result.returncode == 1
    checks = checks_of(result)
    assert checks["exchange reachable"]["status"] == "fail"
    assert "--base-url" in checks["exchange reachable"]["message"]
    skipped = ("clock", "credentials", "user stream", "account mode", "positions")
    assert [checks[name]["status"] for name in skipped] == ["skip"] * 5


# -- --config ----------------------------------------------------------------------------------------------------------
def test_doctor_with_a_freqtrade_config_file(sim: dict[str, Any], tmp_path: Path) -> None:
    config = freqtrade_config(sim, tmp_path / "config.json", reconcile_interval=60, policy="alert")
    env = {k: v for k, v in os.environ.items() if k not in ("PMBRIDGE_API_KEY", "PMBRIDGE_API_SECRET")}
    result = pmbridge("doctor", "--config", str(config), "--json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    checks = checks_of(result)
    assert f"credentials from --config {config}" in checks["configuration"]["message"]
    assert sim["base_url"] in checks["configuration"]["message"]  # from the ccxt urls
    assert json.loads(result.stdout)["diagnostics"]["config"]["reconcile_interval"] == 60
    assert_no_secrets(sim, result.stdout, result.stderr)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_connection_arguments(parser)
    return parser.parse_args(argv)


def test_config_precedence_file_over_env_and_command_line_over_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PMBRIDGE_API_KEY", "env-key")
    monkeypatch.setenv("PMBRIDGE_API_SECRET", "env-secret")
    fake = {"api_key": "file-key", "api_secret": "file-secret", "ccxt_config": {"urls": {"api": {"fapi": "x"}}}}
    path = freqtrade_config(fake, tmp_path / "c.json", account="usdm", base_url="http://127.0.0.1:9")
    from_file = config_from_args(parse("--config", str(path)))
    assert (from_file.api_key, from_file.account, from_file.base_url) == ("file-key", "usdm", "http://127.0.0.1:9")
    overridden = config_from_args(parse("--config", str(path), "--account", "pm", "--base-url", "http://127.0.0.1:8"))
    assert (overridden.account, overridden.base_url) == ("pm", "http://127.0.0.1:8")
    path.write_text('{"exchange": {"key": "", "secret": ""}}')
    assert config_from_args(parse("--config", str(path))).api_key == "env-key"  # empty in the file: the environment
    monkeypatch.delenv("PMBRIDGE_API_KEY")
    with pytest.raises(ConfigError, match=r"exchange\.key and exchange\.secret are empty"):
        config_from_args(parse("--config", str(path)))


def test_config_file_may_have_comments_like_freqtrade_allows(tmp_path: Path) -> None:
    pytest.importorskip("rapidjson", reason="comments need python-rapidjson, installed with Freqtrade")
    path = tmp_path / "c.json"
    path.write_text('// the bot\n{"exchange": {"key": "k", "secret": "s"}, /* PM */ "pmbridge": {"account": "pm",},}')
    assert config_from_args(parse("--config", str(path))).account == "pm"


def test_reading_a_config_file_does_not_need_freqtrade() -> None:
    code = (
        "import sys; import pmbridge.cli.common, pmbridge.freqtrade.settings, pmbridge.freqtrade.runtime; "
        "sys.exit('freqtrade' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
