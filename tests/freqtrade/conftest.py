"""Freqtrade, installed from PyPI, driven through its own configuration loader, resolver and bot."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("freqtrade", reason="install pmbridge[freqtrade] to run the Freqtrade tests")

from freqtrade.configuration import Configuration
from freqtrade.enums import RunMode

from pmbridge.sim import SimulatorThread

EXAMPLES = Path(__file__).parent.parent.parent / "docs" / "examples"


def make_user_data(
    tmp_path: Path,
    sim_info: dict[str, Any] | None,
    pmbridge: dict[str, Any] | None = None,
    extra_strategy: str | None = None,
) -> Path:
    """A user_data folder with the documented example strategy and config, pointed at the simulator."""
    user_data = tmp_path / "user_data"
    (user_data / "strategies").mkdir(parents=True)
    shutil.copy(EXAMPLES / "user_data" / "strategies" / "pmbridge_example.py", user_data / "strategies")
    if extra_strategy:
        (user_data / "strategies" / "extra.py").write_text(extra_strategy)
    config = json.loads((EXAMPLES / "config.json").read_text())
    config.pop("$schema")
    if sim_info is not None:
        config["exchange"]["ccxt_config"] = sim_info["ccxt_config"]
        config["exchange"]["ccxt_async_config"] = sim_info["ccxt_config"]
    if pmbridge is not None:
        config["pmbridge"] = pmbridge
    config["user_data_dir"] = str(user_data)
    config["db_url"] = f"sqlite:///{tmp_path / 'trades.sqlite'}"
    (tmp_path / "config.json").write_text(json.dumps(config, indent=2))
    return tmp_path / "config.json"


def load_config(path: Path, runmode: RunMode, strategy: str = "PMBridgeExample") -> dict[str, Any]:
    config = Configuration.from_files([str(path)])
    config["runmode"] = runmode
    config["strategy"] = strategy
    config["strategy_path"] = str(Path(config["user_data_dir"]) / "strategies")
    return config


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    """The simulator on its own thread: Freqtrade is synchronous, so the test's loop is not running."""
    with SimulatorThread(symbols=8) as simulator:
        yield simulator


@pytest.fixture
def sim_env(sim: SimulatorThread, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The simulator's start-up info, with its credentials in PMBRIDGE_API_KEY / PMBRIDGE_API_SECRET (Freqtrade
    removes exchange keys in dry-run, so that is where pmbridge finds them)."""
    monkeypatch.setenv("PMBRIDGE_API_KEY", sim.api_key)
    monkeypatch.setenv("PMBRIDGE_API_SECRET", sim.api_secret)
    return sim.startup_info()
