from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import ccxt.async_support as ccxta
import pytest

from pmbridge.sim import Simulator

from ..helpers import ccxt_logger


def make_exchange(sim: Simulator, *, portfolio_margin: bool = True, **overrides: Any) -> Any:
    config = sim.ccxt_config
    options = {**config["options"], "portfolioMargin": portfolio_margin}
    return ccxta.binance(
        {
            **config,
            "apiKey": sim.api_key,
            "secret": sim.api_secret,
            "options": options,
            "logger": ccxt_logger(sim.api_key, sim.api_secret),
            **overrides,
        }
    )


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(symbols=8, seed=0) as simulator:
        yield simulator


@pytest.fixture
async def exchange(sim: Simulator) -> AsyncIterator[Any]:
    ex = make_exchange(sim)
    try:
        yield ex
    finally:
        await ex.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
