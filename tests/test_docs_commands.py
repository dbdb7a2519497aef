"""Every `pmbridge` command shown in README.md and docs/ runs, as written, against the simulator.

Two substitutions, both forced by the rules of this machine: the simulator stands in for Binance (a command shown
without --base-url gets the simulator's), and waits longer than a test should take are shortened (--listen 60 -> 1).
Long-running commands (watch) are stopped with Ctrl-C once they show the first snapshot.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers import freqtrade_config, simulator_process

ROOT = Path(__file__).parent.parent
BIN = Path(sys.executable).parent
DOC_URL = "http://127.0.0.1:8765"


def documented_commands() -> list[tuple[str, list[str]]]:
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in re.findall(r"```bash\n(.*?)```", path.read_text(), re.S):
            for raw in block.replace("\\\n", " ").splitlines():
                line = raw.split("#")[0].split("|")[0].strip()
                match = re.search(r"(?:^|[\s/])pmbridge (.*)$", line)
                if match and not match[1].startswith("freqtrade "):  # a live bot: test_walkthrough.py runs it
                    found.append((f"{path.name}: {line}", shlex.split(match[1])))
    unique: dict[tuple[str, ...], tuple[str, list[str]]] = {}
    for where, argv in found:
        unique.setdefault(tuple(argv), (where, argv))  # the same command in two places runs once
    return list(unique.values())


COMMANDS = documented_commands()


@pytest.fixture(scope="module")
def sim() -> Iterator[dict[str, Any]]:
    yield from simulator_process()


def test_the_docs_show_commands() -> None:
    assert {argv[0] for _, argv in COMMANDS} >= {"demo", "watch", "reconcile", "doctor"}


@pytest.mark.parametrize(("where", "argv"), COMMANDS, ids=[where for where, _ in COMMANDS])
def test_documented_command_runs(where: str, argv: list[str], sim: dict[str, Any], tmp_path: Path) -> None:
    argv = [sim["base_url"] if arg == DOC_URL else arg for arg in argv]
    argv = ["1" if previous == "--listen" else arg for previous, arg in zip(["", *argv[:-1]], argv, strict=True)]
    if argv[0] != "demo" and "--base-url" not in argv and "--config" not in argv:
        argv += ["--base-url", sim["base_url"]]  # "Binance itself": the simulator stands in
    if "--config" in argv:
        freqtrade_config(sim, tmp_path / argv[argv.index("--config") + 1])
    env = {**os.environ, "PMBRIDGE_API_KEY": sim["api_key"], "PMBRIDGE_API_SECRET": sim["api_secret"]}
    command = [str(BIN / "pmbridge"), *argv]
    if argv[0] == "watch":
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path
        )
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        while json.loads(process.stdout.readline()).get("state") != "connected":
            assert time.monotonic() < deadline and process.poll() is None, where
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=15)
        assert process.returncode == 0, err
        return
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False)
    allowed = {0, 3} if argv[0] == "reconcile" else {0}  # 3: drift found, a documented outcome
    assert result.returncode in allowed, f"{where}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    assert sim["api_secret"] not in result.stdout + result.stderr
