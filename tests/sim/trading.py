"""What the trading tests share: ccxt on one simulated account, the Binance code of a refusal, and a user stream
read one step at a time."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt
import pytest

from pmbridge.sim import Simulator
from pmbridge.sim.market.prices import FUNDING_INTERVAL_MS

from .conftest import make_exchange
from .test_stream import connect, recv_json

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
MAKER = Decimal("0.0002")
TAKER = Decimal("0.0005")
"""Binance's regular-tier USDⓈ-M commission rates (binance_semantics.md §6)."""


@asynccontextmanager
async def trading(sim: Simulator, account: str) -> AsyncIterator[Any]:
    """ccxt on ``account`` with its markets loaded. ccxt's own throttle is off: it would sleep on every weight-5+
    call (trades, income), and the simulator meters weight itself."""
    exchange = make_exchange(sim, account, enableRateLimit=False)
    try:
        await exchange.load_markets()
        yield exchange
    finally:
        await exchange.close()


async def refused(call: Awaitable[Any]) -> int:
    """The Binance code a refused call answered. Codes, not ccxt classes: on 127.0.0.1 ccxt has only its common
    error map, so -2019, -2027, -4161... arrive as plain ExchangeError (reference §6.2)."""
    with pytest.raises(ccxt.BaseError) as error:
        await call
    found = re.search(r'"code":\s*(-?\d+)', str(error.value))
    assert found, f"no Binance code in {error.value}"
    return int(found.group(1))


async def to_next_funding(sim: Simulator) -> int:
    """Jump the simulated clock one second past the next 8 h funding mark (listen keys kept alive); returns the
    mark. Whatever time the test runs at, exactly one settlement falls in the jump."""
    now = int(sim.state()["time_ms"])
    mark = (now // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
    await sim.set_clock(advance_ms=mark - now + 1000, keep_keys=True)
    return mark


def truth(sim: Simulator, account: str) -> dict[str, Any]:
    """The simulator's own view of ``account`` (``/_sim/state``)."""
    state: dict[str, Any] = sim.state()["accounts"][account]
    return state


def position_of(sim: Simulator, account: str, symbol: str) -> dict[str, Any] | None:
    return next((p for p in truth(sim, account)["positions"] if p["symbol"] == symbol), None)


def dec(value: Any) -> Decimal:
    return Decimal(str(value))


class UserStream:
    """A real websocket client on an account's user stream. ``step()`` returns the frames the last action caused:
    it pushes a marker frame behind them and reads up to it, so no test waits on a timeout."""

    def __init__(self, sim: Simulator, account: str, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.sim = sim
        self.account = account
        self.ws = ws
        self.steps = 0

    async def step(self) -> list[dict[str, Any]]:
        self.steps += 1
        marker = {"e": "STEP", "n": self.steps}
        await self.sim.push_frames([marker])
        frames = []
        while (frame := await recv_json(self.ws)) != marker:
            frames.append(frame)
        return frames


@asynccontextmanager
async def user_stream(sim: Simulator, account: str) -> AsyncIterator[UserStream]:
    async with aiohttp.ClientSession() as http:
        ws = await connect(sim, http, account)
        try:
            yield UserStream(sim, account, ws)
        finally:
            await ws.close()


def kinds(frames: list[dict[str, Any]]) -> list[str]:
    """Each frame's event type, with the execution or algo status that tells same-typed frames apart."""
    out = []
    for f in frames:
        if f["e"] == "ORDER_TRADE_UPDATE":
            out.append(f"OTU:{f['o']['x']}")
        elif f["e"] == "ALGO_UPDATE":
            out.append(f"ALGO:{(f.get('o') or f['ao'])['X']}")
        elif f["e"] == "ACCOUNT_UPDATE":
            out.append(f"AU:{f['a']['m']}")
        else:
            out.append(f["e"])
    return out


def assert_account_update_is_the_truth(frames: list[dict[str, Any]], sim: Simulator, account: str) -> None:
    """The last ACCOUNT_UPDATE's wallet and position rows say what ``/_sim/state`` says now."""
    update = [f for f in frames if f["e"] == "ACCOUNT_UPDATE"][-1]["a"]
    state = truth(sim, account)
    assert dec(update["B"][0]["wb"]) == dec(state["balances"]["wallet"]["USDT"])
    for row in update["P"]:
        held = position_of(sim, account, row["s"])
        if dec(row["pa"]) == 0:
            assert held is None
            continue
        assert held is not None
        assert (dec(row["pa"]), dec(row["ep"])) == (dec(held["amount"]), dec(held["entry_price"]))
        assert dec(row["bep"]) == dec(held["break_even_price"])
        if "iw" in row:
            assert dec(row["iw"]) == dec(held["isolated_wallet"])
