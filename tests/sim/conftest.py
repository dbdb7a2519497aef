from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import ccxt.async_support as ccxta
import pytest

from pmbridge.sim import Simulator

from ..helpers import ccxt_logger


def make_exchange(sim: Simulator, account: str = "pm", **overrides: Any) -> Any:
    """Real ccxt with ``account``'s own key: ``pm`` through ccxt's ``portfolioMargin`` option, ``usdm`` and ``coinm``
    as plain futures accounts (swap / inverse by default)."""
    config = sim.ccxt_config
    key, secret = sim.credentials(account)
    default_type = {"pm": "future", "usdm": "swap", "coinm": "delivery"}[account]
    options = {**config["options"], "portfolioMargin": account == "pm", "defaultType": default_type}
    return ccxta.binance(
        {
            **config,
            "apiKey": key,
            "secret": secret,
            "options": options,
            "logger": ccxt_logger(key, secret),
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
