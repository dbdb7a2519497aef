"""docs/troubleshooting.md quotes what users really see: every line of its ``text`` blocks was printed by a run made
here, against the simulator, of the situation its section describes.

pmbridge's own words come from real runs: ``pmbridge doctor`` and ``pmbridge watch`` as processes (a wrong key, a
wrong secret, Binance answering -1021, no key, nothing listening), and the strategy loaded by Freqtrade's resolver in
dry run (no key, a wrong key). Two messages are not reproduced: Freqtrade's own start-up refusals, taken from the
installed Freqtrade's source (its tests and pmbridge's test_pm_exchange.py run them), and pmbridge's account-mode
messages, made by the function the bot calls when the stream reports the mode (test_mixin.py drives that path).
"""

from __future__ import annotations

import ast
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import freqtrade.exchange.binance
import pytest
from freqtrade.enums import RunMode
from freqtrade.resolvers import StrategyResolver

from pmbridge.freqtrade.messages import account_mode_problem
from pmbridge.models import AccountModeChange
from pmbridge.sim import SimulatorThread

from ..doc_shell import FENCE_TEXT
from .conftest import load_config, make_user_data

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "troubleshooting.md"
PMBRIDGE = str(Path(sys.executable).parent / "pmbridge")
DOC_URL = "http://127.0.0.1:8765"
SIGNED = [
    "/papi/v1/um/symbolConfig",
    "/papi/v1/um/accountConfig",
    "/papi/v1/um/positionSide/dual",
    "/papi/v1/listenKey",
]


def quoted() -> list[str]:
    return [line for block in FENCE_TEXT.findall(DOC.read_text()) for line in block.splitlines() if line.strip()]


def wrong(token: str) -> str:
    """The same token with its first character changed: well-formed, not the account's."""
    return ("a" if token[0] != "a" else "b") + token[1:]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cli(argv: list[str], key: str | None, secret: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PMBRIDGE_API_KEY", "PMBRIDGE_API_SECRET")}
    if key is not None and secret is not None:
        env |= {"PMBRIDGE_API_KEY": key, "PMBRIDGE_API_SECRET": secret}
    done = subprocess.run([PMBRIDGE, *argv], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stdout + done.stderr  # each situation here is a failure, said as one
    return done.stdout + done.stderr


def bot_start_log(tmp_path: Path, sim: SimulatorThread, caplog: pytest.LogCaptureFixture) -> str:
    """What the strategy logs when Freqtrade starts it in dry run with the environment as it is."""
    strategy = StrategyResolver.load_strategy(
        load_config(make_user_data(tmp_path, sim.startup_info()), RunMode.DRY_RUN)
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        strategy.ft_bot_start()
        strategy.bot_loop_start(current_time=None)  # queued messages reach the log on the bot's loop
        strategy.ft_bot_cleanup()
    return caplog.text


def freqtrade_refusals() -> str:
    """The string constants of Freqtrade's Binance exchange module (its start-up refusals among them)."""
    tree = ast.parse(Path(freqtrade.exchange.binance.__file__).read_text())
    return "\n".join(n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str))


def test_every_quoted_line_is_what_a_run_prints(
    tmp_path: Path, sim: SimulatorThread, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    key, secret = sim.credentials("pm")
    doctor = ["doctor", "--base-url", sim.base_url]
    port = closed_port()
    seen = [
        cli(doctor, wrong(key), secret),
        cli(doctor, key, wrong(secret)),
        cli(["watch", "--base-url", sim.base_url], wrong(key), secret),
        cli(doctor, None, None),
        cli(["doctor", "--base-url", f"http://127.0.0.1:{port}"], key, secret).replace(f":{port}", ":8765"),
    ]
    sim.fail(400, 100, code=-1021, paths=SIGNED)
    seen.append(cli(doctor, key, secret))
    sim.fail(400, 0)

    monkeypatch.delenv("PMBRIDGE_API_KEY", raising=False)
    monkeypatch.delenv("PMBRIDGE_API_SECRET", raising=False)
    seen.append(bot_start_log(tmp_path / "no-key", sim, caplog))
    monkeypatch.setenv("PMBRIDGE_API_KEY", wrong(key))
    monkeypatch.setenv("PMBRIDGE_API_SECRET", secret)
    seen.append(bot_start_log(tmp_path / "wrong-key", sim, caplog))

    hedge = AccountModeChange("dual_side_position", False, True, "stream", None)
    multi = AccountModeChange("multi_assets", False, True, "stream", None)
    seen += [account_mode_problem(hedge, "cross") or "", account_mode_problem(multi, "isolated") or ""]
    seen.append(freqtrade_refusals())

    said = "\n".join(seen)
    missing = [line for line in quoted() if line.strip() not in said]
    assert len(quoted()) >= 10
    assert missing == [], "docs/troubleshooting.md quotes lines no run printed:\n" + "\n".join(missing)
