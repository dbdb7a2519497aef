"""What the chaos runs rely on: the true history, silent key expiry, 24 h jumps with live keys, compressed bans."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from pmbridge.sim import Simulator

from .conftest import make_exchange
from .test_stream import RECV_TIMEOUT_S, assert_silent, connect, recv_json

DAY_MS = 86_400_000


async def test_history_has_the_initial_value_then_every_pushed_event(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    ws = await connect(sim, http, "pm")
    await sim.set_leverage("BTCUSD_PERP", 50)
    ex = make_exchange(sim)
    try:
        await ex.set_leverage(25, "BTC/USDT:USDT")  # through REST: recorded the same way
    finally:
        await ex.close()
    await sim.set_multi_assets(True)
    frames = [await recv_json(ws) for _ in range(3)]
    history = sim.history()
    assert history["leverage"]["CM"]["BTCUSD_PERP"] == [
        {"E": None, "T": None, "value": 20},
        {"E": frames[0]["E"], "T": frames[0]["T"], "value": 50},
    ]
    assert history["leverage"]["UM"]["BTCUSDT"][1] == {"E": frames[1]["E"], "T": frames[1]["T"], "value": 25}
    assert history["multi_assets"] == [
        {"E": None, "T": None, "value": False},
        {"E": frames[2]["E"], "T": frames[2]["T"], "value": True},
    ]
    assert history["leverage"]["UM"]["ETHUSDT"] == [{"E": None, "T": None, "value": 20}]  # never changed
    async with http.get(f"{sim.base_url}/_sim/history") as resp:
        assert await resp.json() == history
    await ws.close()


async def test_changes_nobody_receives_are_history_too_and_invalid_ones_are_not(sim: Simulator) -> None:
    await sim.set_leverage("SOLUSDT", 7)  # no socket: lost to every stream, still true
    await sim.set_leverage("SOLUSDT", 7)  # the same value again is still an event
    try:
        await sim.set_leverage("SOLUSDT", 500)
    except Exception as exc:
        assert "-4028" in str(exc)
    records = sim.history()["leverage"]["UM"]["SOLUSDT"]
    assert [r["value"] for r in records] == [20, 7, 7]
    assert records[1]["E"] < records[2]["E"]


async def test_concurrent_changes_of_one_symbol_end_with_the_newest_event_holding_the_state(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    ws = await connect(sim, http, "pm")
    await asyncio.gather(*(sim.set_leverage("XRPUSDT", lev) for lev in (3, 4, 5, 6)))
    frames = [await recv_json(ws) for _ in range(4)]
    newest = max(frames, key=lambda f: f["E"])
    assert newest["ac"]["l"] == sim.state()["leverage"]["UM"]["XRPUSDT"]
    assert [f["E"] for f in frames] == sorted(f["E"] for f in frames)  # sent in event-time order
    assert sim.history()["leverage"]["UM"]["XRPUSDT"][-1]["value"] == newest["ac"]["l"]
    await ws.close()


async def test_silent_expiry_sends_nothing_and_keepalive_then_says_1125(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    ws = await connect(sim, http, "pm")
    async with http.post(f"{sim.base_url}/_sim/expire_key", json={"account": "pm", "announce": False}) as resp:
        assert await resp.json() == {"expired": ["pm"]}
    await sim.set_leverage("BNBUSDT", 9)
    await assert_silent(ws, 0.2)  # no listenKeyExpired, and nothing after it either
    headers = {"X-MBX-APIKEY": sim.api_key}
    async with http.put(f"{sim.base_url}/papi/v1/listenKey", headers=headers) as resp:
        assert (await resp.json())["code"] == -1125
    await ws.close()


async def test_a_day_long_jump_with_live_keys_cuts_the_connection_but_not_the_key(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    ws = await connect(sim, http, "pm")
    async with http.post(f"{sim.base_url}/_sim/clock", json={"advance_ms": DAY_MS, "keep_keys": True}) as resp:
        assert resp.status == 200
    msg = await ws.receive(timeout=RECV_TIMEOUT_S)
    assert msg.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 1000  # a plain cut, no listenKeyExpired first
    assert sim.state()["listen_key_active"]["pm"] is True
    await sim.set_clock(advance_ms=2 * 60 * 60 * 1000)  # without keep_keys the hour runs out as usual
    assert sim.state()["listen_key_active"]["pm"] is False


async def test_fractional_retry_after_and_fault_counters(sim: Simulator, http: aiohttp.ClientSession) -> None:
    faults = sim.engine.faults
    async with http.post(f"{sim.base_url}/_sim/fail", json={"status": 429, "count": 1, "retry_after": 0.05}) as resp:
        assert resp.status == 200
    async with http.post(f"{sim.base_url}/_sim/fail", json={"status": 429, "count": 1, "retry_after": -1}) as resp:
        assert resp.status == 400  # refused: the first rule stays armed
    async with http.get(f"{sim.base_url}/fapi/v1/ping") as resp:
        assert (resp.status, resp.headers["Retry-After"]) == (429, "0.05")
    await sim.fail(418, 1, retry_after=3.0)
    async with http.get(f"{sim.base_url}/fapi/v1/ping") as resp:
        assert (resp.status, resp.headers["Retry-After"]) == (418, "3")
    await sim.fail(503, 2)
    await sim.fail(503, 0)  # count 0 disarms
    await sim.set_latency(30, count=1)
    started = time.perf_counter()
    async with http.get(f"{sim.base_url}/fapi/v1/ping") as resp:
        assert resp.status == 200
    assert time.perf_counter() - started >= 0.025
    assert dict(faults.failures_answered) == {429: 1, 418: 1}
    assert faults.delays_applied == 1
