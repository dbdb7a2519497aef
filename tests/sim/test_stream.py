"""User data streams: real aiohttp websocket clients against the simulator on loopback."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from pmbridge.sim import Simulator

from .conftest import make_exchange

RECV_TIMEOUT_S = 2.0


API_OF = {"pm": "papi", "usdm": "fapi", "coinm": "dapi"}


async def post_key(sim: Simulator, http: aiohttp.ClientSession, account: str) -> str:
    """A listenKey of ``account``'s own API key (each simulated account has its own)."""
    api_key = sim.credentials(account)[0]
    async with http.post(f"{sim.base_url}/{API_OF[account]}/v1/listenKey", headers={"X-MBX-APIKEY": api_key}) as resp:
        assert resp.status == 200
        key: str = (await resp.json())["listenKey"]
        return key


def ws_url(sim: Simulator, account: str, key: str) -> str:
    base = sim.base_url.replace("http://", "ws://")
    return {"pm": f"{base}/pm/ws/{key}", "usdm": f"{base}/private/ws?listenKey={key}", "coinm": f"{base}/ws/{key}"}[
        account
    ]


async def connect(sim: Simulator, http: aiohttp.ClientSession, account: str) -> aiohttp.ClientWebSocketResponse:
    key = await post_key(sim, http, account)
    ws = await http.ws_connect(ws_url(sim, account, key))
    await wait_for(lambda: sim.state()["sockets"][account] >= 1)
    return ws


async def wait_for(predicate: Any, timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def recv_json(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=RECV_TIMEOUT_S)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    frame: dict[str, Any] = json.loads(msg.data)
    return frame


async def assert_silent(ws: aiohttp.ClientWebSocketResponse, seconds: float = 0.3) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await ws.receive(timeout=seconds)


async def test_rest_leverage_pushes_pm_frame(sim: Simulator, http: aiohttp.ClientSession) -> None:
    ws = await connect(sim, http, "pm")
    ex = make_exchange(sim)
    try:
        await ex.set_leverage(25, "BTC/USDT:USDT")
    finally:
        await ex.close()
    frame = await recv_json(ws)
    assert frame == {
        "e": "ACCOUNT_CONFIG_UPDATE",
        "fs": "UM",
        "E": frame["E"],
        "T": frame["E"] - 2,
        "ac": {"s": "BTCUSDT", "l": 25},
    }
    assert abs(frame["E"] - sim.state()["time_ms"]) < 5000
    await ws.close()


async def test_each_account_hears_only_its_own_changes_in_its_flavour(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    pm, usdm, coinm = [await connect(sim, http, a) for a in ("pm", "usdm", "coinm")]
    # The PM account trades both units: its COIN-M change carries fs, and no other account hears it.
    async with http.post(f"{sim.base_url}/_sim/leverage", json={"symbol": "BTCUSD_PERP", "leverage": 50}) as resp:
        assert await resp.json() == {"symbol": "BTCUSD_PERP", "leverage": 50, "unit": "CM", "account": "pm"}
    pm_frame = await recv_json(pm)
    assert pm_frame["fs"] == "CM" and pm_frame["ac"] == {"s": "BTCUSD_PERP", "l": 50}
    await assert_silent(coinm, 0.1)
    await assert_silent(usdm, 0.1)

    body = {"symbol": "BTCUSD_PERP", "leverage": 40, "account": "coinm"}
    async with http.post(f"{sim.base_url}/_sim/leverage", json=body) as resp:
        assert resp.status == 200
    coinm_frame = await recv_json(coinm)
    assert "fs" not in coinm_frame and coinm_frame["ac"] == {"s": "BTCUSD_PERP", "l": 40}

    await sim.set_leverage("XRPUSDT", 3, account="usdm")
    usdm_frame = await recv_json(usdm)
    assert usdm_frame == {
        "e": "ACCOUNT_CONFIG_UPDATE",
        "E": usdm_frame["E"],
        "T": usdm_frame["E"] - 2,
        "ac": {"s": "XRPUSDT", "l": 3},
    }
    await assert_silent(pm, 0.1)
    assert sim.state()["leverage"]["UM"]["XRPUSDT"] == 20  # the default (PM) account is another account
    assert sim.state()["accounts"]["usdm"]["leverage"]["UM"]["XRPUSDT"] == 3

    for account, ws in (("pm", pm), ("usdm", usdm)):
        async with http.post(f"{sim.base_url}/_sim/multi_assets", json={"enabled": True, "account": account}) as resp:
            assert resp.status == 200
        frame = await recv_json(ws)
        assert frame["ai"] == {"j": True} and ("fs" in frame) == (account == "pm")
    await assert_silent(coinm, 0.1)
    assert pm_frame["E"] < frame["E"]  # strictly increasing even within one clock millisecond
    for ws in (pm, usdm, coinm):
        await ws.close()


async def test_event_times_strictly_increase(sim: Simulator, http: aiohttp.ClientSession) -> None:
    ws = await connect(sim, http, "pm")
    for lev in range(2, 12):
        await sim.set_leverage("ETHUSDT", lev)
    times = [(await recv_json(ws))["E"] for _ in range(10)]
    assert times == sorted(set(times))
    await ws.close()


async def test_frames_are_pushed_verbatim(sim: Simulator, http: aiohttp.ClientSession) -> None:
    ws = await connect(sim, http, "pm")
    frames = ['{"e":"ACCOUNT_CONFIG_UPDATE",', {"e": "riskLevelChange", "E": 1}, {"e": "riskLevelChange", "E": 1}]
    async with http.post(f"{sim.base_url}/_sim/frames", json={"frames": frames}) as resp:
        assert await resp.json() == {"sockets": 1}
    texts = [(await ws.receive(timeout=RECV_TIMEOUT_S)).data for _ in range(3)]
    assert texts == ['{"e":"ACCOUNT_CONFIG_UPDATE",', '{"e":"riskLevelChange","E":1}', '{"e":"riskLevelChange","E":1}']
    assert sim.stats()["frames_pushed"] == 3
    await ws.close()


async def test_invalid_leverage_pushes_nothing(sim: Simulator, http: aiohttp.ClientSession) -> None:
    ws = await connect(sim, http, "pm")
    async with http.post(f"{sim.base_url}/_sim/leverage", json={"symbol": "BTCUSDT", "leverage": 126}) as resp:
        assert resp.status == 400
        assert (await resp.json())["code"] == -4028
    await assert_silent(ws, 0.2)
    assert sim.state()["leverage"]["UM"]["BTCUSDT"] == 20
    await ws.close()


async def test_drop_closes_every_socket(sim: Simulator, http: aiohttp.ClientSession) -> None:
    pm, usdm = await connect(sim, http, "pm"), await connect(sim, http, "usdm")
    async with http.post(f"{sim.base_url}/_sim/drop") as resp:
        assert await resp.json() == {"dropped": 2}
    for ws in (pm, usdm):
        msg = await ws.receive(timeout=RECV_TIMEOUT_S)
        assert msg.type == aiohttp.WSMsgType.CLOSE
    await wait_for(lambda: sim.state()["sockets"] == {"pm": 0, "usdm": 0, "coinm": 0})


async def test_unknown_key_is_accepted_then_closed_1008(sim: Simulator, http: aiohttp.ClientSession) -> None:
    ws = await http.ws_connect(ws_url(sim, "pm", "A" * 64))
    msg = await ws.receive(timeout=RECV_TIMEOUT_S)
    assert msg.type == aiohttp.WSMsgType.CLOSE
    assert ws.close_code == 1008
    # A usdm key is not a pm key.
    key = await post_key(sim, http, "usdm")
    ws = await http.ws_connect(ws_url(sim, "pm", key))
    assert (await ws.receive(timeout=RECV_TIMEOUT_S)).type == aiohttp.WSMsgType.CLOSE


async def test_expired_key_announces_then_goes_silent(sim: Simulator, http: aiohttp.ClientSession) -> None:
    ws = await connect(sim, http, "pm")
    async with http.post(f"{sim.base_url}/_sim/expire_key", json={"account": "pm"}) as resp:
        assert await resp.json() == {"expired": ["pm"]}
    frame = await recv_json(ws)
    assert frame["e"] == "listenKeyExpired"
    assert isinstance(frame["E"], str) and frame["E"].isdigit()
    assert len(frame["listenKey"]) == 64
    # The socket stays open but hears nothing more, not even after a fresh key is made for the account.
    await post_key(sim, http, "pm")
    await sim.set_leverage("BTCUSDT", 30)
    await sim.push_frames([{"e": "x"}])
    await assert_silent(ws)
    assert not ws.closed
    await ws.close()


async def test_key_expiry_by_sim_clock(sim: Simulator, http: aiohttp.ClientSession) -> None:
    ws = await connect(sim, http, "coinm")
    await sim.set_clock(advance_ms=59 * 60 * 1000)
    await assert_silent(ws, 0.1)
    await sim.set_clock(advance_ms=2 * 60 * 1000)
    assert (await recv_json(ws))["e"] == "listenKeyExpired"
    assert sim.state()["listen_key_active"]["coinm"] is False
    await ws.close()


async def test_socket_cut_after_24h_even_with_a_live_key(sim: Simulator, http: aiohttp.ClientSession) -> None:
    ws = await connect(sim, http, "pm")
    for _ in range(47):  # 23.5 h in half-hour steps, with a keep-alive after each
        await sim.set_clock(advance_ms=30 * 60 * 1000)
        async with http.put(f"{sim.base_url}/papi/v1/listenKey", headers={"X-MBX-APIKEY": sim.api_key}) as resp:
            assert resp.status == 200
    await assert_silent(ws, 0.1)
    await sim.set_clock(advance_ms=30 * 60 * 1000)
    msg = await ws.receive(timeout=RECV_TIMEOUT_S)
    assert msg.type == aiohttp.WSMsgType.CLOSE
    assert ws.close_code == 1000
    assert sim.state()["listen_key_active"]["pm"] is True  # the cut is the connection's, not the key's


async def test_fast_clock_expires_key_then_cuts(http: aiohttp.ClientSession) -> None:
    # 24 sim hours pass in half a real second.
    async with Simulator(clock_speed=172_800.0) as fast:
        ws = await connect(fast, http, "coinm")
        assert (await recv_json(ws))["e"] == "listenKeyExpired"
        assert (await ws.receive(timeout=RECV_TIMEOUT_S)).type == aiohttp.WSMsgType.CLOSE
        assert fast.state()["time_ms"] - time.time() * 1000 > 86_400_000 * 0.9


async def test_socket_cut_after_clock_jump(sim: Simulator, http: aiohttp.ClientSession) -> None:
    ws = await connect(sim, http, "usdm")
    async with http.post(f"{sim.base_url}/_sim/clock", json={"advance_ms": 86_400_000}) as resp:
        assert (await resp.json())["clock_speed"] == 1.0
    # The key dies first (60 min), then the 24 h cut closes the socket.
    assert (await recv_json(ws))["e"] == "listenKeyExpired"
    assert (await ws.receive(timeout=RECV_TIMEOUT_S)).type == aiohttp.WSMsgType.CLOSE


async def test_delete_listen_key_closes_its_sockets(sim: Simulator, http: aiohttp.ClientSession) -> None:
    ws = await connect(sim, http, "pm")
    async with http.delete(f"{sim.base_url}/papi/v1/listenKey", headers={"X-MBX-APIKEY": sim.api_key}) as resp:
        assert resp.status == 200
    assert (await ws.receive(timeout=RECV_TIMEOUT_S)).type == aiohttp.WSMsgType.CLOSE
    assert sim.state()["listen_key_active"]["pm"] is False


async def test_server_pings_and_drops_a_client_that_never_pongs(http: aiohttp.ClientSession) -> None:
    # speed 600: ping every 0.5 s, pong deadline 5 s (the floors).
    async with Simulator(clock_speed=600.0) as fast:
        polite = await connect(fast, http, "pm")  # aiohttp's client answers pings by itself
        key = await post_key(fast, http, "pm")
        mute = await http.ws_connect(ws_url(fast, "pm", key), autoping=False)
        first = await mute.receive(timeout=2)
        assert first.type == aiohttp.WSMsgType.PING
        closed = await asyncio.wait_for(_until_close(mute), timeout=8)
        assert closed
        assert not polite.closed
        await polite.close()


async def _until_close(ws: aiohttp.ClientWebSocketResponse) -> bool:
    while True:
        msg = await ws.receive()
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return True
