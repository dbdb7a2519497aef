"""The issue's proof: Freqtrade live (``dry_run: false``) on the simulator's Portfolio Margin account, started as a
user starts it, ``pmbridge freqtrade trade -c config.json --strategy PMLive``, and the same config under plain
``freqtrade trade``, which stops at start-up the way Binance makes it stop.

Both the bot and the simulator are real processes; the test acts only as the account owner (the simulator's control
API: prices, the app's leverage, the clock) and as the user (files in user_data, a signal to stop). Prices are pinned,
so every fill is known in advance.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ccxt
import pytest

from pmbridge.sim.market.prices import FUNDING_INTERVAL_MS

from ..helpers import SimProcess, ccxt_logger, until
from .ft_process import (
    BTC,
    ETH,
    FREQTRADE,
    PMBRIDGE,
    FreqtradeProcess,
    json_lines,
    sampler,
    sim_process,
    write_user_data,
)

FAPI_PUBLIC = frozenset({"/fapi/v1/exchangeInfo", "/fapi/v1/time", "/fapi/v1/klines", "/fapi/v1/depth"})
"""Market data: what a PM bot may still read from fapi (public, unsigned)."""
LIQUIDATION_BUFFER = 0.05
"""Freqtrade's default ``liquidation_buffer``: its trade's liquidation price is the exchange's, moved this far in."""


@pytest.fixture
def sim() -> Iterator[SimProcess]:
    yield from sim_process()


def private_fapi(calls: dict[str, int]) -> dict[str, int]:
    """Calls to fapi/dapi that are not public market data (what a PM key is refused), and to spot/margin APIs."""
    return {
        name: count
        for name, count in calls.items()
        if name.split()[1].startswith(("/fapi/", "/dapi/", "/sapi/", "/api/"))
        and name.split()[1] not in FAPI_PUBLIC | {"/dapi/v1/exchangeInfo"}
    }


def rows(db: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as connection:
        return connection.execute(query).fetchall()


def pm_client(sim: SimProcess) -> Any:
    """The test's own ccxt on the PM account, for what the exchange booked (used after the bot has stopped)."""
    key, secret = sim.credentials("pm")
    config = sim.ccxt_config
    return ccxt.binance(
        {
            **config,
            "apiKey": key,
            "secret": secret,
            "enableRateLimit": False,
            "options": {**config["options"], "portfolioMargin": True},
            "logger": ccxt_logger(key, secret),
        }
    )


def test_pmbridge_freqtrade_trades_live_on_portfolio_margin(tmp_path: Path, sim: SimProcess) -> None:
    """Two trades on papi: BTC enters, its stop is placed and polled on the algo service, an app leverage change
    reaches the strategy with the position read back, funding falls due, an exit signal closes it; ETH enters at
    the app's leverage and its stop fires. Freqtrade's wallet is the account's (free = totalAvailableBalance),
    nothing private is asked of fapi, and SIGTERM ends it with Freqtrade's 130."""
    sim.post("/_sim/price", {"symbol": "BTCUSDT", "price": 60000})
    sim.post("/_sim/price", {"symbol": "ETHUSDT", "price": 3000})
    sim.post("/_sim/deposit", {"amount": -9000})  # 1,000 of collateral: the positions get a liquidation price
    config, user_data = write_user_data(tmp_path, sim)
    sim.post("/_sim/stats/reset", {})
    most_open_stops: dict[str, int] = {}

    def count_stops() -> None:
        stops = [a["symbol"] for a in sim.account()["open_algo_orders"]]
        for symbol in set(stops):
            most_open_stops[symbol] = max(most_open_stops.get(symbol, 0), stops.count(symbol))

    bot = FreqtradeProcess(
        [PMBRIDGE, "freqtrade", "trade", "-c", str(config), "--strategy", "PMLive"], tmp_path, tmp_path / "ft.log"
    )
    stop_sampling, sampling = sampler(count_stops)
    try:
        bot.wait_for("Changing state to: RUNNING", timeout=40)
        assert json_lines(user_data / "exchange.jsonl") == [
            {"class": "pmbridge.freqtrade.portfolio.exchange.PMBinance"}
        ]
        # Before any trade: Freqtrade's free balance is the account's totalAvailableBalance (ccxt alone says 0: the
        # UM wallet is empty, the collateral sits in the margin wallet).
        until(lambda: json_lines(user_data / "wallets.jsonl"), what="a wallet line")
        assert json_lines(user_data / "wallets.jsonl")[0]["free"] == 1000

        # Trade 1 (BTC): a market entry at the exchange's 20x (policy follow), then a stop on the algo service.
        (user_data / "enter").write_text(BTC)
        bot.wait_for("stoploss market order added for BTC/USDT:USDT")
        until(lambda: sim.calls().get("GET /papi/v1/um/algo/algoOrder", 0) >= 2, what="two stop polls")
        account = sim.account()
        [position] = account["positions"]
        assert (position["symbol"], position["amount"], position["leverage"]) == ("BTCUSDT", "0.066", 20)
        [stop] = account["open_algo_orders"]
        assert (stop["symbol"], stop["side"], stop["type"], stop["quantity"]) == (
            "BTCUSDT",
            "SELL",
            "STOP_MARKET",
            "0.066",
        )
        available, liquidation = float(account["balances"]["available"]), float(position["liquidation_price"])

        # Freqtrade's wallet: free is what the account can still use, the stake follows from it, positions from papi.
        def wallet_with_position() -> dict[str, Any] | None:
            last = (json_lines(user_data / "wallets.jsonl") or [{}])[-1]
            return last if last.get("positions") else None

        wallet = until(wallet_with_position, what="Freqtrade's wallet with the position")
        assert wallet["free"] == pytest.approx(available)
        tied = 198.00033  # the trade's stake: 0.066 x 60,000.1 / 20
        assert wallet["available_stake"] == pytest.approx(min((tied + available) * 0.99 - tied, available), rel=1e-6)
        assert wallet["positions"] == {
            BTC: {"amount": 0.066, "leverage": 20.0, "collateral": pytest.approx(198.0), "side": "long"}
        }

        # The account owner changes the leverage in the app: the strategy hears it, with the position read back.
        sim.post("/_sim/leverage", {"symbol": "BTCUSDT", "leverage": 7})
        change = until(
            lambda: next((c for c in json_lines(user_data / "leverage_changes.jsonl") if c["new"] == 7), None),
            what="pmbridge_leverage_changed",
        )
        readback_liquidation = float(sim.account()["positions"][0]["liquidation_price"])
        assert (change["symbol"], change["old"], change["source"], change["open_trades"]) == (BTC, 20, "stream", [1])
        said = re.search(r"long 0\.066 at 60,000\.1, 7x, liquidation price ([\d,.]+)\.", change["note"])
        assert said is not None and float(said[1].replace(",", "")) == pytest.approx(readback_liquidation)

        # Funding falls due while the trade is open; then the strategy's exit signal closes it at market.
        now = sim.get("/_sim/state")["time_ms"]
        due = (now // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
        sim.post("/_sim/clock", {"advance_ms": due - now + 1000, "keep_keys": True})
        sim.post("/_sim/leverage", {"symbol": "ETHUSDT", "leverage": 5})  # for trade 2, also "in the app"
        (user_data / "exit").touch()
        bot.wait_for("Sending rpc message: {'type': exit_fill, 'trade_id': 1,")

        # Trade 2 (ETH) enters at the app's 5x; a price drop triggers its stop on the exchange.
        until(
            lambda: any(c["symbol"] == ETH and c["new"] == 5 for c in json_lines(user_data / "leverage_changes.jsonl")),
            what="the ETH change to reach the strategy",
        )
        (user_data / "enter").write_text(ETH)
        bot.wait_for("stoploss market order added for ETH/USDT:USDT")
        polls = sim.calls()["GET /papi/v1/um/algo/algoOrder"]
        until(lambda: sim.calls()["GET /papi/v1/um/algo/algoOrder"] > polls, what="a poll of the ETH stop")
        sim.post("/_sim/price", {"symbol": "ETHUSDT", "price": 2900})
        bot.wait_for("Sending rpc message: {'type': exit_fill, 'trade_id': 2,")
        # Stop it as systemd would, between two loops: Freqtrade turns SIGTERM into a KeyboardInterrupt wherever it
        # lands, and one landing inside a database commit leaves its session unusable for the clean-up.
        loops = len(json_lines(user_data / "wallets.jsonl"))
        until(lambda: len(json_lines(user_data / "wallets.jsonl")) > loops + 1, what="the next bot loop")
        time.sleep(0.5)  # a loop takes ~0.1 s, then Freqtrade sleeps out the 1 s throttle
        trading_log, loops = bot.log(), len(json_lines(user_data / "wallets.jsonl"))
        code = bot.stop(signal.SIGTERM)
    finally:
        stop_sampling.set()
        sampling.join(timeout=5)
        bot.kill()
    calls = sim.calls()
    log = bot.log()
    print("REST calls of the PM live run:", *(f"{n:4d} {name}" for name, n in sorted(calls.items())), sep="\n  ")

    assert code == 130  # Freqtrade's code for a SIGTERM in trade (it raises KeyboardInterrupt)
    assert "Cleaning up modules" in log and "bridge stopped: host stopped" in log
    assert private_fapi(calls) == {}  # never a fapi private call; market data only
    assert calls["POST /papi/v1/um/order"] == 3  # entry 1, exit 1, entry 2
    assert calls["POST /papi/v1/um/algo/order"] == 2  # one stop per trade, never re-placed
    assert calls["DELETE /papi/v1/um/algo/order"] == 1  # trade 1's stop, after its exit filled
    assert calls["POST /papi/v1/um/leverage"] == 4  # before each entry and each stop placement
    assert calls["GET /papi/v1/um/order"] <= 5  # the entries' and the exit's fills, the triggered stop's order
    assert "GET /papi/v1/um/algo/allAlgoOrders" not in calls  # the algoOrder query answered every poll
    # At most one poll per bot loop (one stop open at a time), plus the read-back after the one cancel: no retries.
    assert 2 <= calls["GET /papi/v1/um/algo/algoOrder"] <= loops + 1
    assert most_open_stops == {"BTCUSDT": 1, "ETHUSDT": 1}
    for refusal in ("-2013", "-2015", "Unable to fetch stoploss order", "Retrying still", "Traceback", "ERROR"):
        assert refusal not in trading_log
    assert sim.account()["open_algo_orders"] == [] and sim.account()["positions"] == []

    db = tmp_path / "trades.sqlite"
    trades = rows(db, "SELECT id, pair, leverage, exit_reason, close_rate, liquidation_price, funding_fees FROM trades")
    assert [t[:5] for t in trades] == [
        (1, BTC, 20.0, "exit_signal", 60000.0),
        (2, ETH, 5.0, "stoploss_on_exchange", 2900.0),
    ]
    # Trade 1's liquidation price: the exchange's (papi positionRisk) moved in by Freqtrade's buffer.
    assert trades[0][5] == pytest.approx(liquidation + (60000.1 - liquidation) * LIQUIDATION_BUFFER, abs=0.1)
    stops = rows(db, "SELECT ft_trade_id, status FROM orders WHERE ft_order_side = 'stoploss' ORDER BY id")
    assert stops == [(1, "canceled"), (2, "closed")]
    # Funding: what the exchange booked for BTCUSDT is what Freqtrade put on trade 1.
    income = pm_client(sim).papiGetUmIncome({"symbol": "BTCUSDT", "incomeType": "FUNDING_FEE"})
    assert len(income) == 1 and trades[0][6] == pytest.approx(float(income[0]["income"]))


def test_plain_freqtrade_stops_at_start_up_on_a_pm_key(tmp_path: Path, sim: SimProcess) -> None:
    """The same config under Freqtrade's own console script: -2015 before any order. With ccxt's portfolioMargin
    option set by hand, the leverage tiers pass (papi) and Freqtrade's fapi start-up check fails instead."""
    config, _ = write_user_data(tmp_path / "as-is", sim)
    options = {**sim.ccxt_config["options"], "portfolioMargin": True}
    # ccxt's own throttle off here only: it sleeps 1.5 s before each try of the weight-30 fapi check.
    ccxt_pm = {**sim.ccxt_config, "options": options, "enableRateLimit": False}
    exchange = {**json.loads(config.read_text())["exchange"], "ccxt_config": ccxt_pm, "ccxt_async_config": ccxt_pm}
    with_option, _ = write_user_data(tmp_path / "with-option", sim, exchange=exchange)
    sim.post("/_sim/stats/reset", {})
    runs = [
        FreqtradeProcess(
            [FREQTRADE, "trade", "-c", str(path), "--strategy", "PMLive"], path.parent, path.parent / "ft.log"
        )
        for path in (config, with_option)
    ]
    try:
        codes = [run.wait(60) for run in runs]
    finally:
        for run in runs:
            run.kill()
    assert codes == [2, 2]  # an OperationalException-class failure: Freqtrade's 2
    as_is, by_hand = (run.log() for run in runs)
    assert 'Could not load leverage tiers due to AuthenticationError. Message: binance {"code":-2015' in as_is
    assert 'Error in additional_exchange_init due to AuthenticationError. Message: binance {"code":-2015' in by_hand
    calls = sim.calls()
    assert calls["GET /fapi/v1/leverageBracket"] == 5  # 1 try + 4 retries, then the bot aborts
    assert calls["GET /fapi/v1/positionSide/dual"] == 5
    assert not [name for name in calls if "order" in name.lower() or name.startswith("POST")]  # no order, no change
