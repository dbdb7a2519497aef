"""Overhead benchmark: what pmbridge costs the bot that hosts it, idle and under a leverage change every second.

Four processes on 127.0.0.1, all started here and all running at once, so the machine's weather is the same for
every figure:

- the simulator (``python -m pmbridge.sim``), not measured;
- two Freqtrade dry-run bots (``freqtrade trade``, as users start them) with the same strategy (``PMBridgeMixin``
  over an ``IStrategy`` that never enters) and the same config but for ``pmbridge.enabled``: true in one, false in
  the other. The difference between the two is what pmbridge adds to a bot;
- ``pmbridge watch --json`` (the CLI alone).

For each process, over each phase: CPU-seconds per minute (``utime + stime`` from ``/proc/<pid>/stat``, clock
ticks of 10 ms: the kernel charges a whole tick to the thread it finds running, so small figures are estimates and
need long phases), context switches per minute (exact: every time a thread sleeps or is preempted; a thread that
wakes up 50 times a second shows 3,000) and RSS at the end of the phase. Inside the enabled bot, pmbridge's own
threads (named ``pmbridge*`` for the OS, see pmbridge/native.py) are reported apart: their CPU and wake-ups are
pmbridge's alone, while the bot's own figures move by more than pmbridge's cost between two runs.

Phases (``--seconds`` each, after ``--settle`` seconds for start-up):

1. ``idle``: nothing happens on the account.
2. ``changes``: the leverage of a whitelisted pair is changed in the app every ``--change-every`` seconds (each one
   an ``ACCOUNT_CONFIG_UPDATE`` the bridge applies and announces, and a queued strategy callback).

Targets (issue 13): idle, pmbridge's threads and ``pmbridge watch`` each under 0.02 CPU-seconds per minute, and the
enabled bot within that of the disabled one.

Run: ``python bench/overhead.py [--seconds 120] [--settle 20] [--change-every 1]``. Prints one JSON object. Needs
Freqtrade (``pip install -e '.[freqtrade]'``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from childproc import BenchError, loadavg, machine, proc_status_kib

BIN = Path(sys.executable).parent
PAIR = "BTC/USDT:USDT"
TICKS = os.sysconf("SC_CLK_TCK")
IDLE_TARGET_CPU_S_PER_MIN = 0.02

STRATEGY = '''
from freqtrade.strategy import IStrategy

from pmbridge.freqtrade import PMBridgeMixin


class Idle(PMBridgeMixin, IStrategy):
    """Never enters: the bot runs its loop (candles, pairlist, heartbeats) and nothing else."""

    INTERFACE_VERSION = 3
    timeframe = "1m"
    minimal_roi = {"0": 100}
    stoploss = -0.5
    startup_candle_count = 0

    def populate_indicators(self, dataframe, metadata):
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        dataframe["enter_long"] = 0
        return dataframe

    def populate_exit_trend(self, dataframe, metadata):
        dataframe["exit_long"] = 0
        return dataframe
'''


# ---------------------------------------------------------------------------------------------------------------
# /proc
# ---------------------------------------------------------------------------------------------------------------
def _stat_ticks(path: str) -> int:
    """utime + stime of a /proc stat file (the name field may hold spaces: split after its closing paren)."""
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _switches(path: str) -> int:
    total = 0
    with open(path) as f:
        for line in f:
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


def sample(pid: int) -> dict[str, Any]:
    """The process's CPU ticks, and per thread (by tid): name, CPU ticks, context switches."""
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        base = f"/proc/{pid}/task/{tid}"
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a thread that ended meanwhile
            with open(f"{base}/comm") as f:
                name = f.read().strip()
            threads[tid] = {"name": name, "ticks": _stat_ticks(f"{base}/stat"), "switches": _switches(f"{base}/status")}
    return {"ticks": _stat_ticks(f"/proc/{pid}/stat"), "threads": threads, "at": time.monotonic()}


def usage(before: dict[str, Any], after: dict[str, Any], pid: int) -> dict[str, Any]:
    """Per-minute figures between two samples: the whole process, its pmbridge threads, and all its threads."""
    minutes = (after["at"] - before["at"]) / 60
    ours_ticks = ours_switches = all_switches = 0
    names: set[str] = set()
    for tid, thread in after["threads"].items():
        old = before["threads"].get(tid, {"ticks": 0, "switches": 0})
        switches = thread["switches"] - old["switches"]
        all_switches += switches
        if thread["name"].startswith("pmbridge"):
            names.add(thread["name"])
            ours_ticks += thread["ticks"] - old["ticks"]
            ours_switches += switches
    return {
        "cpu_s_per_min": round((after["ticks"] - before["ticks"]) / TICKS / minutes, 4),
        "context_switches_per_min": round(all_switches / minutes, 1),
        "rss_kib": proc_status_kib(pid, "VmRSS"),
        "pmbridge_threads": {
            "names": sorted(names),
            "cpu_s_per_min": round(ours_ticks / TICKS / minutes, 4),
            "context_switches_per_min": round(ours_switches / minutes, 1),
        },
    }


# ---------------------------------------------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------------------------------------------
class Sim:
    def __init__(self, symbols: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pmbridge.sim", "--port", "0", "--symbols", str(symbols)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.info: dict[str, Any] = json.loads(self.process.stdout.readline())
        self.base_url: str = self.info["base_url"]

    def post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            self.base_url + path, json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base_url + path, timeout=10) as answer:
            return json.loads(answer.read())

    def pm_sockets(self) -> int:
        return int(self.get("/_sim/state")["sockets"]["pm"])

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(10)


def environment(sim: Sim) -> dict[str, str]:
    """The user's environment, with the simulator's key where pmbridge looks for it (Freqtrade's dry run drops the
    exchange keys)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FREQTRADE__", "PYTEST_"))}
    env["PMBRIDGE_API_KEY"] = sim.info["api_key"]
    env["PMBRIDGE_API_SECRET"] = sim.info["api_secret"]
    return env


def bot_folder(root: Path, sim: Sim, enabled: bool) -> Path:
    folder = root / ("enabled" if enabled else "disabled")
    (folder / "user_data" / "strategies").mkdir(parents=True)
    (folder / "user_data" / "strategies" / "idle.py").write_text(STRATEGY)
    config = {
        "trading_mode": "futures",
        "margin_mode": "cross",
        "max_open_trades": 1,
        "stake_currency": "USDT",
        "stake_amount": 100,
        "dry_run": True,
        "dry_run_wallet": 10000,
        "timeframe": "1m",
        "entry_pricing": {"price_side": "same", "use_order_book": True, "order_book_top": 1},
        "exit_pricing": {"price_side": "same", "use_order_book": True, "order_book_top": 1},
        "exchange": {
            "name": "binance",
            "key": "",
            "secret": "",
            "ccxt_config": sim.info["ccxt_config"],
            "ccxt_async_config": sim.info["ccxt_config"],
            "pair_whitelist": [PAIR],
            "pair_blacklist": [],
            "enable_ws": False,
        },
        "pairlists": [{"method": "StaticPairList"}],
        "internals": {"process_throttle_secs": 5},
        "pmbridge": {"enabled": enabled, "account": "pm", "policy": "follow"},
        "user_data_dir": str(folder / "user_data"),
        "db_url": f"sqlite:///{folder / 'trades.sqlite'}",
        "initial_state": "running",
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder


def start_bot(folder: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (folder / "freqtrade.log").open("wb")
    return subprocess.Popen(
        [str(BIN / "freqtrade"), "trade", "--config", "config.json", "--strategy", "Idle"],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


@contextlib.contextmanager
def running(*processes: subprocess.Popen[Any]) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for(predicate: Any, timeout: float, what: str, processes: dict[str, subprocess.Popen[Any]]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        for name, process in processes.items():
            if process.poll() is not None:
                raise BenchError(f"{name} exited with code {process.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def measure(pids: dict[str, int], seconds: float, sim: Sim | None, change_every: float) -> dict[str, Any]:
    """One phase: sample every process, wait ``seconds`` (changing leverage if ``sim`` is given), sample again."""
    before = {name: sample(pid) for name, pid in pids.items()}
    changes = 0
    if sim is None:
        time.sleep(seconds)
    else:
        start = time.monotonic()
        while (due := start + changes * change_every) < start + seconds:
            time.sleep(max(0.0, due - time.monotonic()))
            sim.post("/_sim/leverage", {"symbol": "BTCUSDT", "leverage": 10 + changes % 2 * 5})
            changes += 1
        time.sleep(max(0.0, start + seconds - time.monotonic()))
    after = {name: sample(pid) for name, pid in pids.items()}
    figures = {name: usage(before[name], after[name], pid) for name, pid in pids.items()}
    enabled, disabled = figures["bot_enabled"], figures["bot_disabled"]
    figures["added_to_the_bot"] = {
        "cpu_s_per_min": round(enabled["cpu_s_per_min"] - disabled["cpu_s_per_min"], 4),
        "context_switches_per_min": round(
            enabled["context_switches_per_min"] - disabled["context_switches_per_min"], 1
        ),
        "rss_kib": enabled["rss_kib"] - disabled["rss_kib"],
    }
    return {"seconds": seconds, "leverage_changes": changes, **figures}


def run(args: argparse.Namespace) -> dict[str, Any]:
    if shutil.which("freqtrade", path=str(BIN)) is None:
        raise BenchError("Freqtrade is not installed in this environment: pip install -e '.[freqtrade]'")
    report: dict[str, Any] = {"benchmark": "overhead", **machine()}
    sim = Sim(args.symbols)
    try:
        env = environment(sim)
        with tempfile.TemporaryDirectory(prefix="pmbridge-overhead-") as tmp:
            root = Path(tmp)
            enabled = start_bot(bot_folder(root, sim, True), env)
            disabled = start_bot(bot_folder(root, sim, False), env)
            watch = subprocess.Popen(
                [str(BIN / "pmbridge"), "watch", "--base-url", sim.base_url, "--json"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            processes = {"bot_enabled": enabled, "bot_disabled": disabled, "watch": watch}
            with running(enabled, disabled, watch):
                wait_for(lambda: sim.pm_sockets() >= 2, 90, "pmbridge to connect in the bot and in watch", processes)
                time.sleep(args.settle)
                pids = {name: process.pid for name, process in processes.items()}
                report["idle"] = measure(pids, args.seconds, None, args.change_every)
                report["changes"] = measure(pids, args.seconds, sim, args.change_every)
                for name, process in processes.items():
                    if process.poll() is not None:
                        raise BenchError(f"{name} exited (code {process.returncode}) during the run")
    finally:
        sim.stop()
    idle = report["idle"]
    report["targets"] = {"idle_cpu_s_per_min": IDLE_TARGET_CPU_S_PER_MIN}
    report["within_targets"] = {
        "watch_idle": idle["watch"]["cpu_s_per_min"] <= IDLE_TARGET_CPU_S_PER_MIN,
        "pmbridge_threads_idle": idle["bot_enabled"]["pmbridge_threads"]["cpu_s_per_min"] <= IDLE_TARGET_CPU_S_PER_MIN,
    }
    report["loadavg_after"] = loadavg()
    report["clock_tick_s"] = 1 / TICKS
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0, help="length of each phase (default 120)")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds after start-up before measuring")
    parser.add_argument("--change-every", type=float, default=1.0, help="seconds between leverage changes")
    parser.add_argument("--symbols", type=int, default=6)
    args = parser.parse_args()
    try:
        report = run(args)
    except BenchError as exc:
        print(f"overhead.py: {exc}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
