"""Freqtrade started the way users start it: a real process (``pmbridge freqtrade ...`` or ``freqtrade ...``), a
config file and a user_data folder with a strategy, against the simulator started as a process too.

The strategy is steered through files in user_data (``enter`` holds the pair to enter once, ``exit`` asks for an exit
signal) and writes what it sees (pmbridge's leverage hook, Freqtrade's wallet, its exchange class) as JSON lines there:
the process boundary is the user's, nothing is reached into.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final, Protocol

from ..helpers import SimProcess, simulator_process, until
from ..secrets_audit import audit_input

BIN: Final = Path(sys.executable).parent
PMBRIDGE: Final = str(BIN / "pmbridge")
FREQTRADE: Final = str(BIN / "freqtrade")
BTC: Final = "BTC/USDT:USDT"
ETH: Final = "ETH/USDT:USDT"
ORDER_TYPES: Final = {"entry": "market", "exit": "market", "stoploss": "market", "stoploss_on_exchange": True}

STRATEGY: Final = '''
import json
from pathlib import Path

from freqtrade.strategy import IStrategy

from pmbridge.freqtrade import PMBridgeMixin


class PMLive(PMBridgeMixin, IStrategy):
    """Enters the pair named in user_data/enter (once), exits on user_data/exit, and writes what it sees."""

    INTERFACE_VERSION = 3
    timeframe = "1m"
    minimal_roi = {"0": 100}
    stoploss = -0.05
    use_exit_signal = True
    process_only_new_candles = False
    startup_candle_count = 0

    def _path(self, name):
        return Path(self.config["user_data_dir"]) / name

    def _write(self, name, row):
        with self._path(name).open("a") as out:
            out.write(json.dumps(row, default=str) + "\\n")

    def bot_start(self, **kwargs):
        super().bot_start(**kwargs)
        exchange = type(self.dp._exchange)
        self._write("exchange.jsonl", {"class": f"{exchange.__module__}.{exchange.__qualname__}"})

    def populate_indicators(self, dataframe, metadata):
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        wanted = self._path("enter").read_text() if self._path("enter").exists() else ""
        dataframe["enter_long"] = int(wanted in ("", metadata["pair"]) and self._path("enter").exists())
        return dataframe

    def populate_exit_trend(self, dataframe, metadata):
        dataframe["exit_long"] = int(self._path("exit").exists())
        return dataframe

    def confirm_trade_entry(self, pair, order_type, amount, rate, time_in_force, current_time, entry_tag, side, **kw):
        self._path("enter").unlink(missing_ok=True)
        return True

    def confirm_trade_exit(self, pair, trade, order_type, amount, rate, time_in_force, exit_reason, current_time, **kw):
        self._path("exit").unlink(missing_ok=True)
        return True

    def bot_loop_start(self, current_time, **kwargs):
        wallets = self.wallets
        if wallets is None or self.config["dry_run"]:
            return
        self._write("wallets.jsonl", {
            "free": wallets.get_free("USDT"),
            "used": wallets.get_used("USDT"),
            "total": wallets.get_total("USDT"),
            "available_stake": wallets.get_available_stake_amount(),
            "positions": {
                pair: {"amount": p.position, "leverage": p.leverage, "collateral": p.collateral, "side": p.side}
                for pair, p in wallets.get_all_positions().items()
            },
        })

    def pmbridge_leverage_changed(self, change):
        self._write("leverage_changes.jsonl", {
            "symbol": change.symbol, "old": change.old, "new": change.new, "source": change.source,
            "open_trades": list(change.open_trades), "note": change.note,
        })
'''


class SimConnection(Protocol):
    """What a config needs from the simulator: a ``SimProcess`` or a ``SimulatorThread``."""

    @property
    def ccxt_config(self) -> dict[str, Any]: ...

    def credentials(self, account: str) -> tuple[str, str]: ...


def write_user_data(
    tmp_path: Path,
    sim: SimConnection,
    account: str = "pm",
    *,
    strategy_file: tuple[str, str] = ("pm_live.py", STRATEGY),
    pair_whitelist: Sequence[str] = (BTC, ETH),
    **overrides: Any,
) -> tuple[Path, Path]:
    """(config file, user_data folder): a live futures config with the ``account``'s keys in its exchange section,
    every ccxt URL at the simulator and no websocket, and a strategy file (name, source; PMLive by default).
    ``overrides`` replace top-level keys."""
    user_data = tmp_path / "user_data"
    (user_data / "strategies").mkdir(parents=True, exist_ok=True)
    name, source = strategy_file
    (user_data / "strategies" / name).write_text(source)
    key, secret = sim.credentials(account)
    config: dict[str, Any] = {
        "trading_mode": "futures",
        "margin_mode": "cross",
        "max_open_trades": 1,
        "stake_currency": "USDT",
        "stake_amount": 200,
        "tradable_balance_ratio": 0.99,
        "dry_run": False,
        "timeframe": "1m",
        "entry_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
        "exit_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
        "order_types": ORDER_TYPES,
        "exchange": {
            "name": "binance",
            "key": key,
            "secret": secret,
            "ccxt_config": sim.ccxt_config,
            "ccxt_async_config": sim.ccxt_config,
            "pair_whitelist": list(pair_whitelist),
            "pair_blacklist": [],
            "enable_ws": False,
        },
        "pairlists": [{"method": "StaticPairList"}],
        "internals": {"process_throttle_secs": 1},
        "pmbridge": {"account": account, "policy": "follow"},
        "user_data_dir": str(user_data),
        "db_url": f"sqlite:///{tmp_path / 'trades.sqlite'}",
        "initial_state": "running",
        **overrides,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config, indent=2))
    audit_input(path)  # the keys are in it on purpose, as in a user's config
    return path, user_data


def json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def sim_process(symbols: int = 6) -> Iterator[SimProcess]:
    """For a fixture: ``yield from sim_process()``."""
    for info in simulator_process(symbols):
        yield SimProcess(info)


def user_environment() -> dict[str, str]:
    """This environment as a user's shell has it: without ``FREQTRADE__*`` (they override config files), pmbridge's
    own key variables, and pytest's (Freqtrade sets up no logging, not even ``--logfile``, under ``PYTEST_VERSION``)."""
    drop = ("PMBRIDGE_API_KEY", "PMBRIDGE_API_SECRET")
    return {k: v for k, v in os.environ.items() if not k.startswith(("FREQTRADE__", "PYTEST_")) and k not in drop}


class FreqtradeProcess:
    """One command as a user types it; its output is collected as it comes, its log file read on demand."""

    def __init__(self, argv: Sequence[str], cwd: Path, logfile: Path | None = None) -> None:
        self.logfile = logfile
        extra = ["--logfile", str(logfile)] if logfile is not None else []
        self.process = subprocess.Popen(
            [*argv, *extra],
            cwd=cwd,
            env=user_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self._lines)

    def log(self) -> str:
        """Freqtrade's log file: one line per record, unlike the terminal output, which wraps long lines."""
        return self.logfile.read_text() if self.logfile is not None and self.logfile.exists() else ""

    def wait_for(self, text: str, timeout: float = 20.0) -> None:
        def seen() -> bool:
            if self.process.poll() is not None and text not in self.log():
                raise AssertionError(f"Freqtrade exited ({self.process.returncode}) before {text!r}:\n{self.output}")
            return text in self.log()

        until(seen, timeout, what=repr(text))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            if sig == signal.SIGINT:
                self._until_between_loops()
            self.process.send_signal(sig)
        return self.wait(timeout)

    def _until_between_loops(self, timeout: float = 15.0) -> None:
        """Wait (bounded) until Freqtrade's main thread sleeps between two bot loops, as a person's Ctrl-C mostly
        finds it. A KeyboardInterrupt landing inside one of Freqtrade's own database calls leaves its session in a
        failed transaction, and its cleanup then logs a PendingRollbackError traceback: Freqtrade's behaviour (seen
        once in CI, freqtradebot.manage_open_orders -> sqlalchemy, no pmbridge frame), not what these tests check."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                waiting_in = Path(f"/proc/{self.process.pid}/wchan").read_text()
            except OSError:
                return  # gone, or no /proc here: signal at once
            if "nanosleep" in waiting_in:  # worker._throttle's time.sleep
                return
            time.sleep(0.005)

    def wait(self, timeout: float = 120.0) -> int:
        code = self.process.wait(timeout)
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def run_all(
    commands: Sequence[tuple[Sequence[str], Path]], timeout: float = 120.0
) -> list[subprocess.CompletedProcess[str]]:
    """Run short commands side by side (each starts Freqtrade: ~2 s of imports); their results, in order."""
    started = [
        subprocess.Popen(
            list(argv), cwd=cwd, env=user_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for argv, cwd in commands
    ]
    try:
        results = []
        for process in started:
            out, err = process.communicate(timeout=timeout)
            results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
        return results
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def sampler(probe: Callable[[], None], interval: float = 0.1) -> tuple[threading.Event, threading.Thread]:
    """Call ``probe`` every ``interval`` seconds on a thread until the returned event is set."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            probe()
            time.sleep(interval)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return stop, thread
