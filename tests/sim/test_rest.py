"""The REST surface, driven by real ccxt over loopback HTTP."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import aiohttp
import ccxt
import pytest

from pmbridge.sim import Simulator

from .conftest import make_exchange


async def test_load_markets_maps_every_kind_of_contract(sim: Simulator, exchange: Any) -> None:
    markets = await exchange.load_markets()
    suffix = sim.engine.catalogue.delivery_suffix
    expected = {
        "BTC/USDT:USDT": ("BTCUSDT", "swap", True),
        f"BTC/USDT:USDT-{suffix}": (f"BTCUSDT_{suffix}", "future", True),
        "BTC/USD:BTC": ("BTCUSD_PERP", "swap", False),
        f"BTC/USD:BTC-{suffix}": (f"BTCUSD_{suffix}", "future", False),
        "ETH/USD:ETH": ("ETHUSD_PERP", "swap", False),
    }
    for symbol, (market_id, kind, linear) in expected.items():
        assert markets[symbol]["id"] == market_id
        assert markets[symbol]["type"] == kind
        assert markets[symbol]["linear"] is linear
    assert len([m for m in markets.values() if m["linear"]]) == 8
    # Two exchangeInfo calls and nothing else: no spot, no sapi, no currencies.
    assert sim.stats()["rest_calls"] == {"GET /fapi/v1/exchangeInfo": 1, "GET /dapi/v1/exchangeInfo": 1}


async def test_ccxt_default_market_options_also_load(sim: Simulator) -> None:
    # A caller who forgets the fetchMarkets option still gets the futures markets (spot is empty, not an error).
    ex = make_exchange(sim)
    ex.options["fetchMarkets"] = {"types": ["spot", "linear", "inverse"]}
    ex.options["fetchCurrencies"] = True
    try:
        markets = await ex.load_markets()
        assert markets["BTC/USDT:USDT"]["id"] == "BTCUSDT"
        assert not [m for m in markets.values() if m["spot"]]
    finally:
        await ex.close()


async def test_brief_list_form_of_fetch_markets_option(sim: Simulator) -> None:
    ex = make_exchange(sim)
    ex.options["fetchMarkets"] = ["linear", "inverse"]
    try:
        assert (await ex.load_markets())["BTC/USD:BTC"]["id"] == "BTCUSD_PERP"
    finally:
        await ex.close()
    assert set(sim.stats()["rest_calls"]) == {"GET /fapi/v1/exchangeInfo", "GET /dapi/v1/exchangeInfo"}


async def test_thousand_symbols_load_and_map() -> None:
    async with Simulator(symbols=1000) as big:
        ex = make_exchange(big)
        try:
            markets = await ex.load_markets()
            assert markets["S0994/USDT:USDT"]["id"] == "S0994USDT"
            assert len([m for m in markets.values() if m["linear"]]) == 1000
            configs = await ex.papiGetUmSymbolConfig()
            assert len(configs) == 1000
        finally:
            await ex.close()
        assert len(big.state()["leverage"]["UM"]) == 1000


async def test_signed_snapshot_calls_answer_binance_shapes(sim: Simulator, exchange: Any) -> None:
    await sim.set_leverage("ETHUSDT", 7)
    configs = await exchange.papiGetUmSymbolConfig({"symbol": "ETHUSDT"})
    assert configs == [
        {
            "symbol": "ETHUSDT",
            "marginType": "CROSSED",
            "isAutoAddMargin": "false",  # a string on papi, a boolean on fapi (each SDK's model)
            "leverage": 7,
            "maxNotionalValue": configs[0]["maxNotionalValue"],
        }
    ]
    account = await exchange.papiGetUmAccount()
    eth = next(p for p in account["positions"] if p["symbol"] == "ETHUSDT")
    assert (eth["leverage"], eth["positionSide"]) == ("7", "BOTH")
    config = await exchange.papiGetUmAccountConfig()
    assert config == {
        "feeTier": 0,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "dualSidePosition": False,
        "updateTime": 0,
        "multiAssetsMargin": False,
        "tradeGroupId": -1,
    }
    cm = await exchange.papiGetCmAccount()
    assert {p["symbol"]: p["leverage"] for p in cm["positions"]}["BTCUSD_PERP"] == "20"
    risk = await exchange.papiGetCmPositionRisk()
    assert all(isinstance(r["leverage"], str) for r in risk)
    brackets = await exchange.papiGetUmLeverageBracket({"symbol": "BTCUSDT"})
    assert brackets[0]["brackets"][0]["initialLeverage"] == 125
    assert "notionalCap" in brackets[0]["brackets"][0]
    cm_brackets = await exchange.papiGetCmLeverageBracket()
    assert "qtyCap" in cm_brackets[0]["brackets"][0]


async def test_set_leverage_through_ccxt_changes_state(sim: Simulator, exchange: Any) -> None:
    answer = await exchange.set_leverage(25, "BTC/USDT:USDT")
    assert answer["leverage"] == 25 and answer["symbol"] == "BTCUSDT" and "maxNotionalValue" in answer
    answer = await exchange.set_leverage(30, "BTC/USD:BTC")
    assert answer["symbol"] == "BTCUSD_PERP" and "maxQty" in answer
    assert sim.state()["leverage"]["UM"]["BTCUSDT"] == 25
    assert sim.state()["leverage"]["CM"]["BTCUSD_PERP"] == 30


async def test_invalid_leverage_is_4028_and_changes_nothing(sim: Simulator, exchange: Any) -> None:
    await exchange.load_markets()
    with pytest.raises(ccxt.BadRequest, match="-4028"):
        await exchange.set_leverage(101, "ETH/USDT:USDT")  # ETH's brackets top out at 100x
    with pytest.raises(ccxt.BadSymbol, match="-1121"):
        await exchange.papiPostUmLeverage({"symbol": "NOPEUSDT", "leverage": 5})
    assert sim.state()["leverage"]["UM"]["ETHUSDT"] == 20


async def test_wrong_secret_is_1022(sim: Simulator) -> None:
    ex = make_exchange(sim, secret="x" * 64)
    try:
        with pytest.raises(ccxt.AuthenticationError, match="-1022"):
            await ex.papiGetUmSymbolConfig()
    finally:
        await ex.close()


async def test_wrong_key_is_2015(sim: Simulator) -> None:
    ex = make_exchange(sim, apiKey="y" * 64)
    try:
        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            await ex.papiGetUmSymbolConfig()
        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            await ex.papiPostListenKey()
    finally:
        await ex.close()


async def test_stale_timestamp_is_1021(sim: Simulator, exchange: Any) -> None:
    exchange.options["timeDifference"] = 10_000  # the client's clock runs 10 s behind
    with pytest.raises(ccxt.InvalidNonce, match="-1021"):
        await exchange.papiGetUmAccountConfig()
    exchange.options["timeDifference"] = -5_000  # 5 s ahead
    with pytest.raises(ccxt.InvalidNonce, match="-1021"):
        await exchange.papiGetUmAccountConfig()


async def test_signature_over_query_and_body_together(sim: Simulator, http: aiohttp.ClientSession) -> None:
    # Binance's totalParams rule: part in the query, part in the body, one signature over both.
    query = "symbol=SOLUSDT"
    body = f"leverage=9&timestamp={int(time.time() * 1000)}"
    sig = hmac.new(sim.api_secret.encode(), (query + body).encode(), hashlib.sha256).hexdigest()
    async with http.post(
        f"{sim.base_url}/papi/v1/um/leverage?{query}",
        data=f"{body}&signature={sig}",
        headers={"X-MBX-APIKEY": sim.api_key, "Content-Type": "application/x-www-form-urlencoded"},
    ) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["leverage"] == 9
    assert sim.state()["leverage"]["UM"]["SOLUSDT"] == 9


async def test_listen_key_lifecycle(sim: Simulator, exchange: Any) -> None:
    first = (await exchange.papiPostListenKey())["listenKey"]
    assert len(first) == 64 and first.isalnum()
    assert (await exchange.papiPostListenKey())["listenKey"] == first
    assert await exchange.papiPutListenKey() == {}
    await sim.set_clock(advance_ms=61 * 60 * 1000)
    assert sim.state()["listen_key_active"]["pm"] is False
    with pytest.raises(ccxt.AuthenticationError, match="-1125"):
        await exchange.papiPutListenKey()
    second = (await exchange.papiPostListenKey())["listenKey"]
    assert second != first
    await exchange.papiDeleteListenKey()
    assert sim.state()["listen_key_active"]["pm"] is False


async def test_usdm_and_coinm_accounts_have_their_own_keys_and_endpoints(sim: Simulator) -> None:
    # ccxt's client-side throttle would sleep 1.5 s per weight-30 flag call; the simulator does not need it.
    usdm, coinm = make_exchange(sim, "usdm", enableRateLimit=False), make_exchange(sim, "coinm", enableRateLimit=False)
    try:
        await sim.set_multi_assets(True, account="usdm")
        await sim.set_position_mode(True, account="usdm")
        await sim.set_position_mode(True, account="coinm")
        assert await usdm.fapiPrivateGetMultiAssetsMargin() == {"multiAssetsMargin": True}
        assert await usdm.fapiPrivateGetPositionSideDual() == {"dualSidePosition": True}
        assert await coinm.dapiPrivateGetPositionSideDual() == {"dualSidePosition": True}
        assert (await coinm.set_leverage(11, "BTC/USD:BTC"))["symbol"] == "BTCUSD_PERP"
        account = await coinm.dapiPrivateGetAccount()
        sides = {p["positionSide"] for p in account["positions"] if p["symbol"] == "BTCUSD_PERP"}
        assert sides == {"LONG", "SHORT"}
        assert {p["leverage"] for p in account["positions"] if p["symbol"] == "BTCUSD_PERP"} == {"11"}
        fapi_key = (await usdm.fapiPrivatePostListenKey())["listenKey"]
        dapi_key = (await coinm.dapiPrivatePostListenKey())["listenKey"]
        assert fapi_key != dapi_key
        assert sim.state()["listen_key_active"] == {"pm": False, "usdm": True, "coinm": True}
        # One account's key is not another's: a futures key on papi (and the reverse) is refused like on Binance.
        with pytest.raises(ccxt.ExchangeError, match="-2015"):
            await usdm.papiGetUmAccountConfig()
        with pytest.raises(ccxt.ExchangeError, match="-2015"):
            await coinm.fapiPrivateGetPositionSideDual()
    finally:
        await usdm.close()
        await coinm.close()


async def test_a_portfolio_margin_key_is_refused_on_fapi_as_binance_does(sim: Simulator, exchange: Any) -> None:
    for call in (exchange.fapiPrivateGetPositionSideDual, exchange.fapiPrivateGetMultiAssetsMargin,
                 exchange.fapiPrivateV3GetAccount, exchange.fapiPrivatePostListenKey):  # fmt: skip
        with pytest.raises(ccxt.ExchangeError, match="-2015"):
            await call()


async def test_weight_header_and_unknown_route(sim: Simulator, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{sim.base_url}/fapi/v1/time") as resp:
        assert resp.headers["X-MBX-USED-WEIGHT-1M"] == "1"
        assert abs((await resp.json())["serverTime"] - time.time() * 1000) < 5000
    async with http.get(f"{sim.base_url}/fapi/v1/exchangeInfo") as resp:
        assert resp.headers["X-MBX-USED-WEIGHT-1M"] == "2"
    async with http.get(f"{sim.base_url}/papi/v1/nope") as resp:
        assert resp.status == 404
        assert (await resp.json())["code"] == -5000
        assert resp.headers["X-MBX-USED-WEIGHT-1M"] == "3"
