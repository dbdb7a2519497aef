"""Backtesting a strategy that uses the mixin: Freqtrade's own commands; pmbridge opens no connection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pmbridge.sim import SimulatorThread

from .conftest import make_user_data

FREQTRADE = str(Path(sys.executable).parent / "freqtrade")


def freqtrade(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FREQTRADE, *args], capture_output=True, text=True, timeout=300, check=False, env={**os.environ, **(env or {})}
    )


def test_backtest_runs_and_pmbridge_opens_no_connection(tmp_path: Path) -> None:
    with SimulatorThread(symbols=8) as sim:
        config_path = make_user_data(tmp_path, sim.startup_info(), {"policy": "follow", "leverage": 3})
        user_data = json.loads(config_path.read_text())["user_data_dir"]
        downloaded = freqtrade(
            "download-data",
            "--config",
            str(config_path),
            "--userdir",
            user_data,
            "--days",
            "1",
            "--timeframes",
            "1m",
            "--pairs",
            "BTC/USDT:USDT",
        )
        assert downloaded.returncode == 0, downloaded.stdout[-3000:] + downloaded.stderr[-3000:]
        sim.reset_stats()
        # Keys in the environment: if pmbridge wanted to connect in a backtest, nothing would stop it.
        result = freqtrade(
            "backtesting",
            "--config",
            str(config_path),
            "--userdir",
            user_data,
            "--strategy",
            "PMBridgeExample",
            "--timeframe",
            "1m",
            "--pairs",
            "BTC/USDT:USDT",
            "--export",
            "none",
            env={"PMBRIDGE_API_KEY": sim.api_key, "PMBRIDGE_API_SECRET": sim.api_secret},
        )
        stats = sim.stats()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "pmbridge: backtest mode, no connection" in output
    assert "BACKTESTING REPORT" in output
    # Freqtrade itself loads markets; pmbridge made no listenKey, no snapshot, no socket.
    assert stats["ws_connections_total"] == 0
    assert not [call for call in stats["rest_calls"] if "/papi/" in call or "listenKey" in call], stats
    assert sim.api_secret not in output
