"""Public market data (klines, tickers, book, premium index, funding), driven by real ccxt over loopback HTTP."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import ccxt
import pytest

from pmbridge.sim import Simulator

from .conftest import make_exchange

MINUTE = 60_000
EIGHT_HOURS = 8 * 3_600_000
TICK = 0.1  # BTCUSDT's tick size
TICKS = {"BTC/USDT:USDT": 0.1, "ETH/USDT:USDT": 0.01}


@pytest.fixture
async def usdm(sim: Simulator) -> AsyncIterator[Any]:
    # A plain USDⓈ-M client, the way Freqtrade builds its binance exchange; no client-side throttle (all-symbol
    # tickers cost 40 weight, which ccxt would otherwise sleep off for 2 s).
    ex = make_exchange(sim, "usdm", enableRateLimit=False)
    try:
        await ex.load_markets()
        yield ex
    finally:
        await ex.close()


def assert_coherent_candles(candles: list[list[Any]], step_ms: int, *, continuous: bool = True) -> None:
    assert candles
    for ts, o, h, low, c, volume in candles:
        assert ts % step_ms == 0
        assert low <= min(o, c) <= max(o, c) <= h
        assert volume >= 0
    for prev, cur in itertools.pairwise(candles):
        assert cur[0] - prev[0] == step_ms
        if continuous:
            assert cur[1] == pytest.approx(prev[4])  # each candle opens where the previous one closed


async def test_klines_are_contiguous_and_aligned_to_real_time(usdm: Any) -> None:
    before = int(time.time() * 1000)
    candles = await usdm.fetch_ohlcv("BTC/USDT:USDT", "1m", limit=300)
    after = int(time.time() * 1000)
    assert len(candles) == 300
    assert_coherent_candles(candles, MINUTE)
    # The last row is the candle in progress: it opened at the current real minute boundary.
    assert before // MINUTE * MINUTE <= candles[-1][0] <= after // MINUTE * MINUTE
    assert all(round(x / TICK, 6).is_integer() for c in candles for x in c[1:5])
    five = await usdm.fetch_ohlcv("BTC/USDT:USDT", "5m", limit=50)
    assert_coherent_candles(five, 5 * MINUTE)
    # The same moment seen through two intervals: the 5m candle opens where its first 1m candle opens.
    first_1m = {c[0]: c for c in candles}[five[-3][0]]
    assert first_1m[1] == pytest.approx(five[-3][1])


async def test_klines_since_pages_forward_and_closed_candles_do_not_change(usdm: Any) -> None:
    start = (int(time.time() * 1000) // MINUTE - 120) * MINUTE
    page = await usdm.fetch_ohlcv("ETH/USDT:USDT", "1m", since=start + 1, limit=10)
    assert [c[0] for c in page] == [start + MINUTE * (i + 1) for i in range(10)]  # first open >= startTime
    again = await usdm.fetch_ohlcv("ETH/USDT:USDT", "1m", since=start + MINUTE, limit=10)
    assert again == page


async def test_same_seed_same_market() -> None:
    async with Simulator(seed=42) as a, Simulator(seed=42) as b, Simulator(seed=43) as c:
        since = (int(time.time() * 1000) // MINUTE - 60) * MINUTE
        rows = []
        for sim in (a, b, c):
            ex = make_exchange(sim, "usdm")
            try:
                rows.append(await ex.fetch_ohlcv("BTC/USDT:USDT", "1m", since=since, limit=30))
            finally:
                await ex.close()
        assert rows[0] == rows[1]
        assert rows[0] != rows[2]


async def test_mark_index_premium_and_funding_candles(usdm: Any) -> None:
    last = await usdm.fetch_ohlcv("BTC/USDT:USDT", "1h", limit=48)
    mark = await usdm.fetch_ohlcv("BTC/USDT:USDT", "1h", limit=48, params={"price": "mark"})
    index = await usdm.fetch_ohlcv("BTC/USDT:USDT", "1h", limit=48, params={"price": "index"})
    premium = await usdm.fetch_ohlcv("BTC/USDT:USDT", "1h", limit=48, params={"price": "premiumIndex"})
    for candles in (last, mark, index, premium):
        assert_coherent_candles(candles, 3_600_000)
    assert [c[0] for c in mark] == [c[0] for c in last] == [c[0] for c in index]
    for lc, mc, ic, pc in zip(last, mark, index, premium, strict=True):
        assert mc[4] == pytest.approx(lc[4], rel=0.002)  # last trades around mark
        assert mc[1] == pytest.approx(ic[1] * (1 + pc[1]), rel=1e-6)  # mark = index x (1 + premium)
        assert abs(pc[4]) < 0.005
    # Freqtrade's funding-rate "candles": one settled rate every 8 h, on the 00/08/16 UTC grid.
    history = await usdm.fetch_funding_rate_history("BTC/USDT:USDT", limit=20)
    stamps = [h["timestamp"] for h in history]
    assert len(history) == 20
    assert all(t % EIGHT_HOURS == 0 for t in stamps)
    assert all(b - a == EIGHT_HOURS for a, b in itertools.pairwise(stamps))
    assert stamps[-1] <= time.time() * 1000 < stamps[-1] + EIGHT_HOURS
    assert all(-0.0075 <= h["fundingRate"] <= 0.0075 for h in history)
    since = await usdm.fetch_funding_rate_history("BTC/USDT:USDT", since=stamps[3], limit=5)
    assert [h["timestamp"] for h in since] == stamps[3:8]


async def test_tickers_book_and_last_prices_agree(usdm: Any) -> None:
    ticker = await usdm.fetch_ticker("BTC/USDT:USDT")
    assert ticker["symbol"] == "BTC/USDT:USDT"
    assert ticker["low"] <= ticker["last"] <= ticker["high"]
    assert ticker["low"] <= ticker["open"] <= ticker["high"]
    assert ticker["baseVolume"] > 0
    assert ticker["quoteVolume"] > 0
    tickers = await usdm.fetch_tickers(["BTC/USDT:USDT", "ETH/USDT:USDT"])
    assert set(tickers) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    quotes = await usdm.fetch_bids_asks(["BTC/USDT:USDT", "ETH/USDT:USDT"])
    for symbol, quote in quotes.items():
        assert 0 < quote["bid"] < quote["ask"]
        assert quote["ask"] - quote["bid"] == pytest.approx(TICKS[symbol])
        assert quote["bid"] == pytest.approx(tickers[symbol]["last"], rel=0.005)
    book = await usdm.fetch_order_book("BTC/USDT:USDT", 20)
    bids, asks = [b[0] for b in book["bids"]], [a[0] for a in book["asks"]]
    assert len(bids) == len(asks) == 20
    assert bids == sorted(bids, reverse=True)
    assert asks == sorted(asks)
    assert bids[0] < asks[0]
    assert all(level[1] > 0 for level in book["bids"] + book["asks"])
    assert book["timestamp"] is not None
    prices = await usdm.fetch_last_prices(["BTC/USDT:USDT"])
    assert prices["BTC/USDT:USDT"]["price"] == pytest.approx(bids[0], rel=0.005)


async def test_funding_rate_premium_index_and_intervals(usdm: Any) -> None:
    now = time.time() * 1000
    rate = await usdm.fetch_funding_rate("BTC/USDT:USDT")
    assert rate["fundingTimestamp"] % EIGHT_HOURS == 0
    assert now < rate["fundingTimestamp"] <= now + EIGHT_HOURS
    assert rate["markPrice"] == pytest.approx(rate["indexPrice"], rel=0.005)
    assert -0.0075 <= rate["fundingRate"] <= 0.0075
    rates = await usdm.fetch_funding_rates(["BTC/USDT:USDT", "ETH/USDT:USDT"])
    assert set(rates) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    intervals = await usdm.fetch_funding_intervals()
    assert intervals["BTC/USDT:USDT"]["interval"] == "8h"
    tiers = await usdm.fetch_leverage_tiers(["BTC/USDT:USDT"])
    assert tiers["BTC/USDT:USDT"][0]["maxLeverage"] == 125


async def test_coin_m_market_data(sim: Simulator, usdm: Any) -> None:
    candles = await usdm.fetch_ohlcv("BTC/USD:BTC", "1m", limit=30)
    assert_coherent_candles(candles, MINUTE)
    index = await usdm.fetch_ohlcv("BTC/USD:BTC", "1m", limit=5, params={"price": "index"})
    usdm_index = await usdm.fetch_ohlcv("BTC/USDT:USDT", "1m", limit=5, params={"price": "index"})
    closed = {c[0]: c[4] for c in usdm_index[:-1]}
    shared = [c for c in index[:-1] if c[0] in closed]
    assert len(shared) >= 3
    assert all(c[4] == closed[c[0]] for c in shared)  # one underlying, one index for every contract on it
    book = await usdm.fetch_order_book("BTC/USD:BTC", 5)
    assert book["bids"][0][0] < book["asks"][0][0]
    rate = await usdm.fetch_funding_rate("BTC/USD:BTC")
    assert rate["fundingTimestamp"] % EIGHT_HOURS == 0
    ticker = await usdm.fetch_ticker("BTC/USD:BTC")
    assert ticker["low"] <= ticker["last"] <= ticker["high"]
    calls = sim.stats()["rest_calls"]
    assert {"GET /dapi/v1/klines", "GET /dapi/v1/indexPriceKlines", "GET /dapi/v1/depth"} <= set(calls)


async def test_bad_parameters_answer_binance_errors(usdm: Any) -> None:
    with pytest.raises(ccxt.BadRequest, match="-1120"):
        await usdm.fapiPublicGetKlines({"symbol": "BTCUSDT", "interval": "7m"})
    with pytest.raises(ccxt.BadSymbol):
        await usdm.fapiPublicGetKlines({"symbol": "BTCUSD_PERP", "interval": "1m"})  # a dapi symbol on fapi
    with pytest.raises(ccxt.BadRequest, match="-1102"):
        await usdm.fapiPublicGetDepth({})
    with pytest.raises(ccxt.BadRequest, match="-1130"):
        await usdm.fapiPublicGetDepth({"symbol": "BTCUSDT", "limit": 7})


async def test_weights_and_faults_apply_to_market_data(sim: Simulator, http: aiohttp.ClientSession) -> None:
    base = sim.base_url
    async with http.get(f"{base}/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "1m", "limit": "1000"}) as r:
        assert r.status == 200
        assert r.headers["X-MBX-USED-WEIGHT-1M"] == "5"
        assert len(await r.json()) == 1000
    async with http.get(f"{base}/fapi/v1/ticker/24hr") as r:
        assert r.headers["X-MBX-USED-WEIGHT-1M"] == "45"  # 40 without a symbol
    await sim.fail(503, 1, paths=["/fapi/v1/depth"])
    async with http.get(f"{base}/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": "5"}) as r:
        assert r.status == 503
    async with http.get(f"{base}/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": "5"}) as r:
        assert r.status == 200
        assert r.headers["X-MBX-USED-WEIGHT-1M"] == "49"
