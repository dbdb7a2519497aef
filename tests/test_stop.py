"""Ctrl-C and SIGTERM stop every command at any moment of its start-up, its retries and its backoff (issue 14).

The commands run as a user runs them (the console script, real signals) against a host that is not there: a port
that refuses connections, and one that accepts them and never answers. Each case sends its signal at a moment of
start-up (loading, the first attempt, a backoff, a later attempt) and wants the documented exit code (docs/cli.md:
0 for watch and record, whose normal end a stop is; 130 for Ctrl-C and 143 for SIGTERM otherwise) within a few
seconds, without a traceback. The cases run side by side so the whole matrix takes about as long as its slowest case.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attrs
import pytest

from pmbridge.bridge import Bridge, SetupFailed
from pmbridge.config import BridgeConfig
from pmbridge.manager import create_plugin_manager
from pmbridge.thread import BridgeThread

BIN = Path(sys.executable).parent / "pmbridge"
ENV = {"PMBRIDGE_API_KEY": "stop-test-key", "PMBRIDGE_API_SECRET": "stop-test-secret"}
DEADLINE_S = 5.0
"""How long a stop may take, signal to exit (a couple of seconds, plus room for a loaded 2-core machine)."""
SIGINT, SIGTERM = signal.SIGINT, signal.SIGTERM


def refused_port() -> int:
    """A port on which nothing listens: every connection is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class SilentHost:
    """Accepts every connection and never answers: each attempt lasts the whole REST timeout."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port: int = self.server.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:  # closed
                return
            self.held.append(connection)

    def close(self) -> None:
        self.server.close()
        for connection in self.held:
            connection.close()


@pytest.fixture(scope="module")
def silent() -> Iterator[SilentHost]:
    host = SilentHost()
    yield host
    host.close()


def handles_sigterm(pid: int) -> bool:
    """True once pmbridge's own handler is installed (a signal before it, in the interpreter's first ~0.2 s, gets
    the default action: nothing but the interpreter is running yet)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True  # gone already: the exit code tells
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (SIGTERM - 1)))


@attrs.frozen
class Case:
    name: str
    argv: tuple[str, ...]
    at: float
    """Seconds after the start when the signal goes out."""
    signum: int
    expected: int


@attrs.frozen
class Outcome:
    case: Case
    code: int | None
    took: float | None
    """Seconds from the signal to the exit; None: it did not exit within the deadline (then killed)."""
    stderr: str


def play(case: Case) -> Outcome:
    process = subprocess.Popen(
        [str(BIN), *case.argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **ENV},
    )
    started = time.monotonic()
    while not handles_sigterm(process.pid) and time.monotonic() - started < 10:
        time.sleep(0.01)
    time.sleep(max(0.0, started + case.at - time.monotonic()))
    if process.poll() is not None:
        return Outcome(case, process.returncode, 0.0, f"exited before the signal: {process.communicate()[1]}")
    process.send_signal(case.signum)
    sent = time.monotonic()
    try:
        _, stderr = process.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
        return Outcome(case, None, None, stderr)
    return Outcome(case, process.returncode, time.monotonic() - sent, stderr)


def cases(refused: str, silent: str, tmp: Path, slow_config: Path) -> list[Case]:
    """``refused`` and ``silent``: base URLs. The moments: 0.3 s (loading, or the first attempt), 1.5 s (a backoff,
    or still the first attempt), 4 s (a later attempt or its backoff)."""
    found: list[Case] = []
    for host, url in (("refused", refused), ("silent", silent)):
        for at in (0.3, 1.5, 4.0):
            for signum in (SIGTERM, SIGINT):
                name = f"watch {host} {signal.Signals(signum).name} at {at}s"
                found.append(Case(name, ("watch", "--base-url", url), at, signum, 0))
        for at, signum in ((1.5, SIGINT), (4.0, SIGTERM)):
            moment = f"{signal.Signals(signum).name} at {at}s"
            path = tmp / f"{host}-{at}.jsonl"
            found.append(Case(f"record {host} {moment}", ("record", str(path), "--base-url", url), at, signum, 0))
            found.append(Case(f"reconcile {host} {moment}", ("reconcile", "--base-url", url), at, signum, 128 + signum))
    for at, signum in ((1.5, SIGINT), (4.0, SIGTERM)):
        moment = f"{signal.Signals(signum).name} at {at}s"
        found.append(Case(f"doctor silent {moment}", ("doctor", "--base-url", silent), at, signum, 128 + signum))
    # Attempts of 1 s against the silent host: at 4 s it is in its third attempt or the backoff before it.
    found.append(Case("watch silent, short attempts, SIGTERM at 4.0s", ("watch", "--config", str(slow_config)), 4.0,
                      SIGTERM, 0))  # fmt: skip
    found.append(Case("demo SIGTERM at 1.5s", ("demo",), 1.5, SIGTERM, 143))
    return found


def test_every_command_stops_at_any_moment_of_start_up(silent: SilentHost, tmp_path: Path) -> None:
    silent_url = f"http://127.0.0.1:{silent.port}"
    slow_config = tmp_path / "config.json"
    slow_config.write_text(
        json.dumps(
            {
                "exchange": {"name": "binance", "key": ENV["PMBRIDGE_API_KEY"], "secret": ENV["PMBRIDGE_API_SECRET"]},
                "pmbridge": {"base_url": silent_url, "rest_timeout": 1.0, "backoff_initial": 0.5},
            }
        )
    )
    matrix = cases(f"http://127.0.0.1:{refused_port()}", silent_url, tmp_path, slow_config)
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(play, matrix))
    wrong = [
        f"{o.case.name}: exit {o.code} after {o.took if o.took is None else round(o.took, 2)} s "
        f"(wanted {o.case.expected} within {DEADLINE_S} s); stderr tail: {o.stderr[-400:]!r}"
        for o in outcomes
        if o.code != o.case.expected or o.took is None or "Traceback" in o.stderr
    ]
    assert not wrong, "\n".join(wrong)
    slowest = max(outcomes, key=lambda o: o.took or 0.0)
    assert slowest.took is not None and slowest.took < DEADLINE_S
    # One that runs to an end says it was interrupted; watch and record say nothing of the kind.
    for outcome in outcomes:
        interrupted = "interrupted by SIG" in outcome.stderr
        assert interrupted == (outcome.case.expected != 0), (outcome.case.name, outcome.stderr[-300:])


def test_a_replay_stops_at_a_signal_while_it_waits_for_the_recorded_pace(tmp_path: Path) -> None:
    t0 = 1_700_000_000_000.0
    path = tmp_path / "paced.jsonl"
    frame = json.dumps({"e": "ACCOUNT_CONFIG_UPDATE", "E": 1, "T": 1, "ac": {"s": "BTCUSDT", "l": 21}})
    lines = [
        {"pmbridge_recording": 1, "account": "pm", "started": t0},
        {"t": t0, "snapshot": {"UM": {"BTCUSDT": 20}, "CM": {}}, "source": "snapshot", "trigger": "connect"},
        {"t": t0 + 60_000, "frame": frame},  # a minute later: the replay sleeps until then
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    outcome = play(Case("replay SIGINT at 1.0s", ("replay", str(path)), 1.0, SIGINT, 130))
    assert (outcome.code, "Traceback" in outcome.stderr) == (130, False), outcome
    assert outcome.took is not None and outcome.took < DEADLINE_S
    assert "pmbridge replay: interrupted by SIGINT before it finished" in outcome.stderr


# -- the root cause, in process --------------------------------------------------------------------------------------
def config_for(port: int) -> BridgeConfig:
    return BridgeConfig.from_mapping(
        {"base_url": f"http://127.0.0.1:{port}", "backoff_initial": 0.5},
        api_key=ENV["PMBRIDGE_API_KEY"],
        api_secret=ENV["PMBRIDGE_API_SECRET"],
    )


@pytest.mark.parametrize("host", ["refused", "silent"])
async def test_stop_during_start_up_ends_the_retries_for_good(
    host: str, silent: SilentHost, caplog: pytest.LogCaptureFixture
) -> None:
    """stop() closes the REST client under the start-up retries: the retry loop must take that as final (it used to
    retry "ExchangeClosedByUser" forever) and the backoff sleep must end at once."""
    port = refused_port() if host == "refused" else silent.port
    bridge = Bridge(config_for(port), pm=create_plugin_manager(load_entrypoints=False))
    starting = asyncio.create_task(bridge.start())
    await asyncio.sleep(1.5)  # refused: in a backoff; silent: in the first attempt
    asked = time.monotonic()
    await asyncio.wait_for(bridge.stop("requested"), 2.0)
    with pytest.raises(SetupFailed, match=r"stopped during start-up \(requested\)"):
        await asyncio.wait_for(starting, 2.0)
    assert time.monotonic() - asked < 2.0
    retries = len([r for r in caplog.records if "retrying in" in r.getMessage()])
    await asyncio.sleep(1.0)
    assert len([r for r in caplog.records if "retrying in" in r.getMessage()]) == retries  # nothing retries on
    assert "ExchangeClosedByUser" not in caplog.text


@pytest.mark.parametrize("host", ["refused", "silent"])
def test_the_freqtrade_bridge_thread_stops_during_start_up(host: str, silent: SilentHost) -> None:
    port = refused_port() if host == "refused" else silent.port
    runner = BridgeThread(config_for(port), create_plugin_manager(load_entrypoints=False))
    assert runner.start(timeout=1.2) is False  # not ready: it goes on trying in the background
    asked = time.monotonic()
    runner.stop(timeout=10.0)
    assert time.monotonic() - asked < 2.0
    assert "pmbridge" not in [thread.name for thread in threading.enumerate()]
