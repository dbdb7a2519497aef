"""docs/walkthrough.md works as written: from an empty folder to a dry-run bot whose next entry takes the leverage
set in the app.

Its bash blocks run in a scratch directory as a reader pastes them: steps 1 to 3 as one shell (the first terminal,
whose last line starts the bot), step 4's curl in another, step 5's ``freqtrade show-trades`` once the next entry is
in. One substitution: the simulator takes a free port instead of 8765 (the config gets it from ``sim.json``, the curl
line follows it). The test also notes the simulator's PID, which a reader stops with ``kill %1``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from ..doc_shell import bash_blocks, curl_stand_in, stop_background
from ..helpers import until
from ..secrets_audit import audit_input
from .ft_process import user_environment

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "walkthrough.md"
BIN = Path(sys.executable).parent
DOC_URL = "http://127.0.0.1:8765"
START = "pmbridge freqtrade trade --config user_data/config.json --strategy FlatEntry"
SHOWN = re.compile(r"^Trade\(id=(\d+), pair=BTC/USDT:USDT, .*, leverage=(\d+), ", re.M)


def trades(database: Path) -> list[tuple[int, float, int]]:
    """(id, leverage, is_open) of each trade in the bot's dry-run database, read-only; none before it exists."""
    if not database.exists():
        return []
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            return list(db.execute("SELECT id, leverage, is_open FROM trades ORDER BY id"))
    except sqlite3.OperationalError:  # created, not yet migrated
        return []


def flat(text: str) -> str:
    """Freqtrade's console wraps long lines: compare with whitespace collapsed."""
    return " ".join(text.split())


def test_the_dry_run_walkthrough_runs_as_written(tmp_path: Path) -> None:
    *setup, start_bot, change, show = bash_blocks(DOC.read_text())
    assert start_bot.strip().splitlines()[-1] == START
    first_terminal = "\n".join([*setup, start_bot]).splitlines()
    [sim_line] = [i for i, line in enumerate(first_terminal) if line.startswith("python -m pmbridge.sim ")]
    assert "--port 8765" in first_terminal[sim_line]
    first_terminal[sim_line] = first_terminal[sim_line].replace("--port 8765", "--port 0")
    first_terminal.insert(sim_line + 1, "echo $! > sim.pid")
    env = {**user_environment(), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    if shutil.which("curl") is None:  # a bare CI machine: the page's curl line runs through a stand-in
        env["PATH"] = f"{curl_stand_in(tmp_path / 'shims')}{os.pathsep}{env['PATH']}"

    output = tmp_path / "first-terminal.out"  # a file, not a pipe: the simulator in the background keeps it open
    with output.open("w") as sink:
        terminal = subprocess.Popen(
            ["bash", "-e", "-c", "\n".join(first_terminal)],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Ctrl-C reaches the bot as a reader's would
        )
    database = tmp_path / "tradesv3.dryrun.sqlite"

    def running() -> bool:
        assert terminal.poll() is None, output.read_text()[-3000:]
        return True

    sim_pid = None
    try:
        until(lambda: running() and (tmp_path / "sim.pid").exists(), 30, what="the simulator's PID")
        sim_pid = int((tmp_path / "sim.pid").read_text())
        sim_json = tmp_path / "sim.json"
        # bash writes sim.pid right after the fork; the child opens sim.json for its output a moment later
        started = lambda: sim_json.exists() and sim_json.read_text().endswith("\n")  # noqa: E731
        until(started, 30, what="the simulator's start-up line")
        audit_input(sim_json)  # the simulator's key and secret are in it, as in a reader's
        until(lambda: running() and trades(database), 90, what="the first entry")
        assert [leverage for _, leverage, _ in trades(database)] == [20]  # the simulator's starting leverage

        base_url = json.loads(sim_json.read_text())["base_url"]
        assert DOC_URL in change
        answer = subprocess.run(
            ["bash", "-e", "-c", change.replace(DOC_URL, base_url)],
            cwd=tmp_path,
            env=user_environment() | {"PATH": env["PATH"]},  # the second terminal: no exports
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        assert json.loads(answer.stdout)["leverage"] == 3

        until(lambda: running() and len(trades(database)) >= 2, 150, what="the next entry")
        shown = subprocess.run(
            ["bash", "-e", "-c", show], cwd=tmp_path, env=env, capture_output=True, text=True, check=True, timeout=60
        )
        leverages = {int(trade): int(leverage) for trade, leverage in SHOWN.findall(shown.stdout)}
        assert leverages[1] == 20 and leverages[2] == 3, shown.stdout  # the next entry took the app's 3x

        log = flat(output.read_text())
        for said in (
            "first snapshot (connect):",
            "Sending rpc message: {'trade_id': 1, 'type': entry,",
            "BTC/USDT:USDT leverage changed on the exchange 20x -> 3x, not by this bot (source: stream), policy "
            "follow: the next new trade uses 3x",
        ):
            assert flat(said) in log, said
        [entry] = re.findall(r"'trade_id': 1, 'type': entry, .*?'leverage': ([\d.]+)", log)
        assert float(entry) == 20
    finally:
        if terminal.poll() is None:
            os.killpg(terminal.pid, signal.SIGINT)  # Ctrl-C, as the page says
            terminal.wait(timeout=60)
        if sim_pid is not None:
            stop_background(sim_pid)
    text = output.read_text()
    assert "Traceback" not in text and " - ERROR - " not in text, text[-3000:]
