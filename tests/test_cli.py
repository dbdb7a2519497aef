"""The command line as a user runs it: real processes, the simulator on 127.0.0.1."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pmbridge.cli import commands
from pmbridge.cli.exits import RUN_UNTIL_STOPPED
from pmbridge.cli.output import Printer
from pmbridge.models import LeverageChange, ReconcileReport

from .helpers import SimProcess, simulator_process

BIN = Path(sys.executable).parent


def pmbridge(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "pmbridge"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture
def sim_process() -> Iterator[dict[str, Any]]:
    yield from simulator_process()


def test_demo_json_converges() -> None:
    result = pmbridge("demo", "--json", timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[-1]["kind"] == "demo" and lines[-1]["converged"] is True
    assert lines[-1]["plugin_errors"]["demo.broken-plugin:pmbridge_leverage_changed"] >= 1
    kinds = {(line["kind"], line.get("source")) for line in lines}
    assert {
        ("leverage", "snapshot"),
        ("leverage", "stream"),
        ("leverage", "reconcile"),
        ("multi_assets", "stream"),
        ("position", "stream"),
    } <= kinds
    # Every step's effects come after its line and before the next one.
    by_step: dict[str, list[dict[str, Any]]] = {}
    step = ""
    for line in lines:
        if line["kind"] == "demo" and "step" in line:
            step = line["step"][:2]
        else:
            by_step.setdefault(step, []).append(line)
    [opened] = [line for line in by_step["6."] if line["kind"] == "position"]
    assert (opened["change"], opened["symbol"], opened["direction"], opened["amount"]) == (
        "opened",
        "BTC/USDT:USDT",
        "long",
        "0.5",
    )
    assert opened["entry_price"].startswith("600") and opened["leverage"] == 25 and opened["old"] is None
    assert float(opened["liquidation_price"]) > 0  # read back from the exchange before it was announced
    # The app's leverage change carries the position as the exchange then reports it: at 10x, same size, read back.
    [leverage] = [line for line in by_step["7."] if line["kind"] == "leverage"]
    assert (leverage["old"], leverage["new"], leverage["origin"]) == (25, 10, "external")
    [after] = leverage["positions"]
    assert (after["leverage"], after["amount"], after["source"]) == (10, "0.5", "readback")
    assert after["liquidation_price"] == opened["liquidation_price"]  # PM: the account's uniMMR, not the leverage
    [closed] = [line for line in by_step["8."] if line["kind"] == "position"]
    assert (closed["change"], closed["amount"], closed["direction"]) == ("closed", "0", None)
    assert closed["old"]["amount"] == "0.5" and closed["old"]["direction"] == "long"


@contextmanager
def watch_json(sim: dict[str, Any]) -> Iterator[tuple[list[dict[str, Any]], Callable[[], dict[str, Any]]]]:
    """``pmbridge watch --json`` on the simulator: yields its lines up to "connected" (within 30 s) and a reader of
    the next one. Leaving stops it with Ctrl-C, which must exit 0 with neither key in its stderr."""
    env = {**os.environ, "PMBRIDGE_API_KEY": sim["api_key"], "PMBRIDGE_API_SECRET": sim["api_secret"]}
    watcher = subprocess.Popen(
        [str(BIN / "pmbridge"), "watch", "--base-url", sim["base_url"], "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    stdout = watcher.stdout
    assert stdout is not None
    try:
        lines: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while not any(line.get("state") == "connected" for line in lines):
            assert time.monotonic() < deadline, lines
            lines.append(json.loads(stdout.readline()))
        yield lines, lambda: json.loads(stdout.readline())
    finally:
        watcher.send_signal(signal.SIGINT)
        _out, err = watcher.communicate(timeout=15)
    assert watcher.returncode == 0, err
    assert sim["api_key"] not in err and sim["api_secret"] not in err


def test_watch_json_prints_the_snapshot_then_changes(sim_process: dict[str, Any]) -> None:
    with watch_json(sim_process) as (lines, next_line):
        snapshot = [line for line in lines if line["kind"] == "leverage"]
        assert snapshot and all(line["old"] is None and line["source"] == "snapshot" for line in snapshot)
        btc = next(line for line in snapshot if line["exchange_symbol"] == "BTCUSDT")
        assert btc == {
            "kind": "leverage",
            "symbol": "BTC/USDT:USDT",
            "exchange_symbol": "BTCUSDT",
            "unit": "UM",
            "old": None,
            "new": 20,
            "source": "snapshot",
            "event_time": None,
            "origin": "external",
            "positions": [],
        }
        SimProcess(sim_process).post("/_sim/leverage", {"symbol": "BTCUSDT", "leverage": 25})
        change = next_line()
        assert {k: change[k] for k in ("kind", "symbol", "exchange_symbol", "unit", "old", "new", "source")} == {
            "kind": "leverage",
            "symbol": "BTC/USDT:USDT",
            "exchange_symbol": "BTCUSDT",
            "unit": "UM",
            "old": 20,
            "new": 25,
            "source": "stream",
        }
        assert isinstance(change["event_time"], int)


POSITION_FIELDS = {
    "symbol", "exchange_symbol", "unit", "side", "direction", "amount", "entry_price", "leverage", "margin_type",
    "isolated_margin", "liquidation_price", "unrealized_pnl", "mark_price", "break_even_price", "initial_margin",
    "update_time", "source",
}  # fmt: skip


def test_watch_json_shows_a_position_opened_in_the_app_and_the_leverage_change_on_it(
    sim_process: dict[str, Any],
) -> None:
    sim = SimProcess(sim_process)
    with watch_json(sim_process) as (_, next_line):
        sim.post("/_sim/price", {"symbol": "BTCUSDT", "price": 60000})
        sim.post("/_sim/order", {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.020"})
        opened = next_line()
        [truth] = sim.get("/_sim/state")["positions"]
        assert set(opened) == {"kind", "change", "reason", "event_time", "old"} | POSITION_FIELDS
        assert {k: opened[k] for k in ("kind", "change", "symbol", "exchange_symbol", "unit", "side", "direction")} == {
            "kind": "position",
            "change": "opened",
            "symbol": "BTC/USDT:USDT",
            "exchange_symbol": "BTCUSDT",
            "unit": "UM",
            "side": "BOTH",
            "direction": "short",
        }
        # Decimals as the exchange wrote them; the liquidation price is the exchange's, read back before printing.
        assert (opened["amount"], opened["entry_price"]) == (truth["amount"], truth["entry_price"])
        assert opened["liquidation_price"] == truth["liquidation_price"]
        assert (opened["source"], opened["reason"], opened["leverage"], opened["old"]) == ("stream", "ORDER", 20, None)
        assert isinstance(opened["event_time"], int)

        sim.post("/_sim/leverage", {"symbol": "BTCUSDT", "leverage": 5})
        change = next_line()
        assert (change["kind"], change["new"], change["origin"]) == ("leverage", 5, "external")
        [position] = change["positions"]
        assert set(position) == POSITION_FIELDS
        assert (position["amount"], position["leverage"], position["source"]) == (truth["amount"], 5, "readback")


def test_watch_with_bad_credentials_exits_1_and_says_what_to_check(sim_process: dict[str, Any]) -> None:
    result = pmbridge(
        "watch",
        "--base-url",
        sim_process["base_url"],
        env={"PMBRIDGE_API_KEY": "K" * 64, "PMBRIDGE_API_SECRET": "S" * 64},
    )
    assert result.returncode == 1
    assert "could not start" in result.stderr and "-2015" in result.stderr and "API key" in result.stderr
    assert "K" * 64 not in result.stderr


def test_watch_without_keys_is_a_usage_error() -> None:
    result = pmbridge("watch", env={"PMBRIDGE_API_KEY": "", "PMBRIDGE_API_SECRET": ""})
    assert result.returncode == 2
    assert "PMBRIDGE_API_KEY" in result.stderr


def test_every_command_has_help_with_examples() -> None:
    for command in ("demo", "watch", "reconcile", "doctor", "record", "replay", "plugins", "decode"):
        result = pmbridge(command, "--help")
        assert result.returncode == 0
        assert "examples:" in result.stdout, command


def test_decode_command_reports_each_frame() -> None:
    frames = '{"e":"ACCOUNT_CONFIG_UPDATE","E":1,"ac":{"s":"BTCUSDT","l":0}}\n{"e":"listenKeyExpired","E":"5"}\n'
    result = subprocess.run(
        [str(BIN / "pmbridge"), "decode"], input=frames, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first == {
        "error": "DecodeError",
        "field": "ac.l",
        "message": "ac.l: leverage must be between 1 and 125, got 0",
    }
    assert second == {"type": "ListenKeyExpired", "event_time": 5}


def test_plugins_command_lists_builtins() -> None:
    result = pmbridge("plugins", "--json")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["name"] for row in rows] == ["pmbridge.builtin.logger", "pmbridge.builtin.policy"]


def test_demo_to_a_file_writes_every_line_whole(tmp_path: Path) -> None:
    """`pmbridge demo > out.txt 2>&1`: no live table, a transcript whose lines never run together."""
    out = tmp_path / "out.txt"
    with out.open("w") as file:
        result = subprocess.run(
            [str(BIN / "pmbridge"), "demo"], stdout=file, stderr=subprocess.STDOUT, timeout=120, check=False
        )
    text = out.read_text()
    assert result.returncode == 0, text
    lines = text.splitlines()
    steps = [line for line in lines if line[:2] in {f"{n}." for n in range(1, 9)}]
    assert [step[:2] for step in steps] == [f"{n}." for n in range(1, 9)], text
    hooks = ("leverage_changed", "position_changed", "account_mode_changed", "stream_state_changed", "reconciled")
    starts = (
        *(f"pmbridge_{hook}  " for hook in hooks),  # how the transcript names a hook call
        "demo.broken-plugin raised",
        "demo finished",
        "pmbridge demo  |",
        *(step[:40] for step in steps),
    )
    for line in lines:
        for start in starts:  # a line that begins another one inside it is two lines run together
            assert start not in line[1:], f"lines run together: {line!r}"
    assert "demo.broken-plugin raised: isolated and counted, the other plugins got the call" in lines
    assert lines[-1].startswith("demo finished: the book equals the simulator's truth; plugin errors isolated: {")
    assert "\x1b[" not in text  # no cursor movement or colour codes in a file
    [status] = [line for line in lines if line.startswith("pmbridge demo  |")]
    assert status.endswith("|  hedge mode: off")  # not wrapped at 80 columns either


def test_the_first_snapshot_reports_entries_loaded_not_drifted(sim_process: dict[str, Any]) -> None:
    env = {**os.environ, "PMBRIDGE_API_KEY": sim_process["api_key"], "PMBRIDGE_API_SECRET": sim_process["api_secret"]}
    watcher = subprocess.Popen(
        [str(BIN / "pmbridge"), "watch", "--base-url", sim_process["base_url"]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert watcher.stdout is not None
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while not lines or not lines[-1].startswith("first snapshot"):
            assert time.monotonic() < deadline and watcher.poll() is None, lines
            lines.append(watcher.stdout.readline().rstrip("\n"))
    finally:
        watcher.send_signal(signal.SIGINT)
        _out, err = watcher.communicate(timeout=15)
    assert watcher.returncode == 0, err
    loaded = len([line for line in lines if "(snapshot, external)" in line or "(snapshot)" in line])
    assert loaded > 6  # every symbol's leverage and the account flags, loaded from nothing
    pattern = (
        rf"first snapshot \(connect\): \d+ symbols, 0 open positions, \d+ REST calls, {loaded} entries loaded, \d+ ms"
    )
    assert re.fullmatch(pattern, lines[-1]), lines[-1]
    assert not any("drifted" in line for line in lines)


def test_a_later_snapshot_still_counts_its_drift() -> None:
    out = io.StringIO()
    printer = Printer(json_lines=False, out=out)
    loaded = tuple(LeverageChange("UM", f"S{n}USDT", None, 20, "snapshot", None) for n in range(13))
    first = ReconcileReport("snapshot", "connect", 5, 13, 0.1, loaded)
    drifted = LeverageChange("UM", "S1USDT", 20, 50, "reconcile", None)
    later = ReconcileReport("reconcile", "connect", 5, 13, 0.1, (drifted,))
    assert (first.first, first.drift, first.drifted) == (True, False, 0)
    assert (later.first, later.drift, later.drifted) == (False, True, 1)
    printer.pmbridge_reconciled(first)
    printer.pmbridge_reconciled(later)
    assert out.getvalue().splitlines() == [
        "first snapshot (connect): 13 symbols, 0 open positions, 5 REST calls, 13 entries loaded, 100 ms",
        "reconciled (connect): 13 symbols, 0 open positions, 5 REST calls, 1 drifted, 100 ms",
    ]


def test_every_command_states_its_exit_codes_and_the_one_rule_for_signals() -> None:
    """Ctrl-C and SIGTERM: 0 for the commands that run until stopped, 130 / 143 for the others (docs/cli.md)."""
    for name, (_help, add_arguments, _run) in commands().items():
        if name == "freqtrade":
            continue  # Freqtrade's own exit codes
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        epilog = " ".join((parser.epilog or "").split())
        assert "exit codes: 0 " in epilog, name
        if name in RUN_UNTIL_STOPPED:
            assert "0 stopped by Ctrl-C" in epilog and "SIGTERM" in epilog, name
        elif name != "plugins":  # it reads nothing and waits for nothing: there is no moment to interrupt
            assert "130 (Ctrl-C) or 143 (SIGTERM) interrupted" in epilog, name
    doc = (Path(__file__).parent.parent / "docs" / "cli.md").read_text()
    assert "| `watch`, `record` | `0` | `0` |" in doc and "| every other command | `130` | `143` |" in doc
