"""The control API (HTTP and Python), failure injection, the thread wrapper and the standalone entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import ccxt
import pytest

from pmbridge.sim import Simulator, SimulatorThread

from ..helpers import ccxt_logger

PLUGIN_ROOT = Path(__file__).resolve().parents[2] / "plugin"


async def test_429_carries_retry_after_then_the_call_succeeds(
    sim: Simulator, http: aiohttp.ClientSession, exchange: Any
) -> None:
    async with http.post(f"{sim.base_url}/_sim/fail", json={"status": 429, "count": 2}) as resp:
        assert resp.status == 200
    for _ in range(2):
        async with http.get(f"{sim.base_url}/fapi/v1/time") as resp:
            assert resp.status == 429
            assert resp.headers["Retry-After"] == "1"
            assert (await resp.json())["code"] == -1003
            assert "X-MBX-USED-WEIGHT-1M" in resp.headers
    assert len(await exchange.papiGetUmSymbolConfig()) == 8


async def test_418_and_5xx_and_binance_codes(sim: Simulator, exchange: Any) -> None:
    await sim.fail(418, 1)
    with pytest.raises(ccxt.DDoSProtection, match="418"):
        await exchange.papiGetUmAccountConfig()
    await sim.fail(503, 1)
    # Binance's 5xx body is -1001 "Internal error"; ccxt maps that code to OperationFailed (outcome unknown).
    with pytest.raises(ccxt.OperationFailed, match="-1001"):
        await exchange.papiGetUmAccountConfig()
    await sim.fail(400, 2, code=-1021)
    for _ in range(2):
        with pytest.raises(ccxt.InvalidNonce, match="-1021"):
            await exchange.papiGetUmAccountConfig()
    assert (await exchange.papiGetUmAccountConfig())["feeTier"] == 0


async def test_418_retry_after_default_and_override(sim: Simulator, http: aiohttp.ClientSession) -> None:
    await sim.fail(418, 1)
    async with http.get(f"{sim.base_url}/fapi/v1/ping") as resp:
        assert (resp.status, resp.headers["Retry-After"]) == (418, "2")
    await sim.fail(429, 1, retry_after=7)
    async with http.get(f"{sim.base_url}/fapi/v1/ping") as resp:
        assert (resp.status, resp.headers["Retry-After"]) == (429, "7")


async def test_failures_restricted_to_paths(sim: Simulator, http: aiohttp.ClientSession, exchange: Any) -> None:
    body = {"status": 503, "count": 1, "paths": ["/papi/v1/um/symbolConfig"]}
    async with http.post(f"{sim.base_url}/_sim/fail", json=body) as resp:
        assert resp.status == 200
    assert (await exchange.papiGetUmAccountConfig())["canTrade"] is True  # another path: untouched
    with pytest.raises(ccxt.OperationFailed, match="-1001"):
        await exchange.papiGetUmSymbolConfig()
    assert len(await exchange.papiGetUmSymbolConfig()) == 8


async def test_latency_delays_only_the_next_answers(sim: Simulator, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{sim.base_url}/_sim/latency", json={"ms": 200, "count": 1}) as resp:
        assert resp.status == 200
    started = time.perf_counter()
    async with http.get(f"{sim.base_url}/fapi/v1/ping") as resp:
        assert resp.status == 200
    assert time.perf_counter() - started >= 0.19
    started = time.perf_counter()
    async with http.get(f"{sim.base_url}/fapi/v1/ping"):
        pass
    assert time.perf_counter() - started < 0.15


async def test_state_and_stats_shapes_without_secrets(
    sim: Simulator, http: aiohttp.ClientSession, exchange: Any
) -> None:
    key = (await exchange.papiPostListenKey())["listenKey"]
    await exchange.papiGetUmSymbolConfig()
    async with http.post(f"{sim.base_url}/_sim/position_mode", json={"dual_side": True}) as resp:
        assert resp.status == 200
    async with http.get(f"{sim.base_url}/_sim/state") as resp:
        state_text = await resp.text()
    state = json.loads(state_text)
    assert set(state) == {
        "type",
        "time_ms",
        "clock_speed",
        "leverage",
        "margin_type",
        "multi_assets",
        "dual_side_position",
        "balances",
        "positions",
        "open_orders",
        "open_algo_orders",
        "sockets",
        "listen_key_active",
        "accounts",
    }
    assert state["type"] == "pm" and set(state["accounts"]) == {"pm", "usdm", "coinm"}
    assert state["accounts"]["usdm"]["dual_side_position"] is False  # another account
    assert state["balances"]["collateral"] == {"USDT": "10000"} and state["positions"] == []
    assert state["leverage"]["UM"]["BTCUSDT"] == 20 and state["leverage"]["CM"]["BTCUSD_PERP"] == 20
    assert state["margin_type"]["CM"]["ETHUSD_PERP"] == "CROSSED"
    assert (state["multi_assets"], state["dual_side_position"]) == (False, True)
    assert state["sockets"] == {"pm": 0, "usdm": 0, "coinm": 0}
    assert state["listen_key_active"] == {"pm": True, "usdm": False, "coinm": False}
    assert state["clock_speed"] == 1.0 and isinstance(state["time_ms"], int)
    async with http.get(f"{sim.base_url}/_sim/stats") as resp:
        stats_text = await resp.text()
    stats = json.loads(stats_text)
    assert stats["rest_calls"]["GET /papi/v1/um/symbolConfig"] == 1
    assert stats["rest_calls"]["POST /papi/v1/listenKey"] == 1
    assert stats["weight_1m"] == 6 and stats["ws_connections_total"] == 0 and stats["frames_pushed"] == 0
    for secret in (key, sim.api_key, sim.api_secret):
        assert secret not in state_text and secret not in stats_text
    async with http.post(f"{sim.base_url}/_sim/stats/reset") as resp:
        assert resp.status == 200
    assert sim.stats() == {"rest_calls": {}, "ws_connections_total": 0, "frames_pushed": 0, "weight_1m": 0}


async def test_control_api_rejects_bad_bodies_and_speed_changes(sim: Simulator, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{sim.base_url}/_sim/leverage", json={"symbol": "BTCUSDT"}) as resp:
        assert resp.status == 400 and "leverage" in (await resp.json())["error"]
    async with http.post(f"{sim.base_url}/_sim/leverage", json={"symbol": "NOPE", "leverage": 3}) as resp:
        assert (await resp.json())["code"] == -1121
    async with http.post(f"{sim.base_url}/_sim/expire_key", json={"account": "spot"}) as resp:
        assert resp.status == 400
    before = sim.state()["time_ms"]
    async with http.post(f"{sim.base_url}/_sim/clock", json={"speed": 3600, "advance_ms": 1000}) as resp:
        assert (await resp.json())["clock_speed"] == 3600.0
    assert sim.state()["time_ms"] - before >= 1000


def test_simulator_thread_serves_sync_ccxt() -> None:
    with SimulatorThread(symbols=8) as sim:
        ex = ccxt.binance(
            {
                **sim.ccxt_config,
                "apiKey": sim.api_key,
                "secret": sim.api_secret,
                "options": {**sim.ccxt_config["options"], "portfolioMargin": True},
                "logger": ccxt_logger(sim.api_key, sim.api_secret),
            }
        )
        assert ex.load_markets()["BTC/USD:BTC"]["id"] == "BTCUSD_PERP"
        ex.set_leverage(42, "BTC/USDT:USDT")
        assert sim.state()["leverage"]["UM"]["BTCUSDT"] == 42
        assert sim.set_leverage("ETHUSDT", 5) == {"symbol": "ETHUSDT", "leverage": 5, "unit": "UM", "account": "pm"}
        assert ex.papiGetUmSymbolConfig({"symbol": "ETHUSDT"})[0]["leverage"] == 5
        assert sim.stats()["rest_calls"]["POST /papi/v1/um/leverage"] == 1
        assert set(sim.startup_info()) == {"base_url", "api_key", "api_secret", "ccxt_config", "accounts"}


def test_module_entry_point_prints_one_json_line_and_exits_on_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": str(PLUGIN_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pmbridge.sim", "--port", "0", "--symbols", "12"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert set(info) == {"base_url", "api_key", "api_secret", "ccxt_config", "accounts"}
        assert [a["type"] for a in info["accounts"]] == ["pm", "usdm", "coinm"]
        assert info["accounts"][0]["api_key"] == info["api_key"]  # the default account is the PM one
        assert info["base_url"].startswith("http://127.0.0.1:")
        key, secret = info["api_key"], info["api_secret"]
        ex = ccxt.binance({**info["ccxt_config"], "apiKey": key, "secret": secret, "logger": ccxt_logger(key, secret)})
        assert len([m for m in ex.load_markets().values() if m["linear"]]) == 12
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out == ""  # nothing after the one line


async def test_an_unknown_body_field_is_refused_with_the_fields_the_route_takes(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """A typo must not quietly act on the default account: the change is refused and nothing moves."""
    before = sim.state()["leverage"]["UM"]["BTCUSDT"]
    body = {"symbol": "BTCUSDT", "leverage": 7, "acount": "usdm"}
    async with http.post(f"{sim.base_url}/_sim/leverage", json=body) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert "'acount' (did you mean 'account'?)" in error
    assert "it takes symbol, leverage, account" in error and "Nothing was changed" in error
    assert sim.state()["leverage"]["UM"]["BTCUSDT"] == before
