"""PMBinance, method by method: Freqtrade's own exchange code (built by its resolver, as the launcher makes it) against
the simulator's Portfolio Margin account, with the REST calls each step costs. The end-to-end run is in
test_live_pm.py; these pin each override down, including the paths a normal run does not take (a finished stop the
algo query no longer answers, a stop that cannot be read back after its cancel), reached with the simulator's own
fault injection.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import ccxt
import freqtrade.exchange as ft_exchange
import pytest
from freqtrade.enums import RunMode
from freqtrade.exceptions import ConfigurationError, InvalidOrderException, OperationalException, TemporaryError
from freqtrade.exchange.binance import Binance
from freqtrade.resolvers import ExchangeResolver

from pmbridge.freqtrade.portfolio import PMBinance, PMBinanceusdm, install
from pmbridge.freqtrade.portfolio.compat import align_pm_error_map
from pmbridge.sim import SimulatorThread

from ..helpers import ccxt_logger
from .ft_process import BTC

ORDER_TYPES = {"entry": "market", "exit": "market", "stoploss": "market", "stoploss_on_exchange": True}
ALGO_QUERY = "/papi/v1/um/algo/algoOrder"
ALGO_HISTORY = "/papi/v1/um/algo/allAlgoOrders"


class Calls:
    """The simulator's REST calls made inside the ``with`` block, by ``"METHOD /path"``."""

    def __init__(self, sim: SimulatorThread) -> None:
        self._meter = sim.simulator.engine.meter
        self.new: Counter[str] = Counter()

    def __enter__(self) -> Calls:
        self._before = Counter(self._meter.rest_calls)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.new = Counter(self._meter.rest_calls) - self._before


@pytest.fixture
def build(sim: SimulatorThread) -> Iterator[Callable[..., Any]]:
    """``build(account="pm", name="binance", exchange={...}, **config)``: the exchange Freqtrade's resolver makes
    for a live futures config once ``install(name)`` has bound pmbridge's class, as ``pmbridge freqtrade`` does."""
    saved = (ft_exchange.Binance, ft_exchange.Binanceusdm)
    built: list[Any] = []

    def make(account: str = "pm", name: str = "binance", exchange: dict[str, Any] | None = None, **config: Any) -> Any:
        key, secret = sim.credentials(account)
        # At DEBUG (the secrets audit's level) ccxt logs each signed request with its key: the tests' scrubbing
        # logger, as for every test-made ccxt object; ccxt's throttle off, the simulator meters weight itself.
        quiet = {"logger": ccxt_logger(key, secret), "enableRateLimit": False}
        conf: dict[str, Any] = {
            "exchange": {
                "name": name,
                "key": key,
                "secret": secret,
                "ccxt_config": sim.ccxt_config,
                "ccxt_sync_config": quiet,
                "ccxt_async_config": quiet,
                "pair_whitelist": [BTC],
                **(exchange or {}),
            },
            "dry_run": False,
            "runmode": RunMode.LIVE,
            "trading_mode": "futures",
            "margin_mode": "cross",
            "stake_currency": "USDT",
            "stake_amount": 200,
            "max_open_trades": 1,
            "timeframe": "1m",
            "dry_run_wallet": 1000,
            "entry_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
            "exit_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
            "order_types": ORDER_TYPES,
            **config,
        }
        install(name)
        made = ExchangeResolver.load_exchange(
            conf, exchange_config=copy.deepcopy(conf["exchange"]), load_leverage_tiers=True
        )
        built.append(made)
        return made

    yield make
    ft_exchange.Binance, ft_exchange.Binanceusdm = saved
    for made in built:
        made.close()


@pytest.fixture(autouse=True)
def no_order_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    # Freqtrade sleeps 1+2+5+10+17 s between its retries of an order it cannot find; the count of tries is what
    # matters here, not the wait.
    monkeypatch.setattr("freqtrade.exchange.common.time.sleep", lambda seconds: None)


def private(calls: Counter[str]) -> dict[str, int]:
    public = ("/fapi/v1/exchangeInfo", "/dapi/v1/exchangeInfo", "/fapi/v1/time", "/fapi/v1/depth")
    return {name: n for name, n in calls.items() if not name.endswith(public)}


def test_start_up_reads_papi_only(build: Callable[..., Any], sim: SimulatorThread) -> None:
    with Calls(sim) as calls:
        exchange = build()
    assert type(exchange) is PMBinance
    assert exchange._api.options["portfolioMargin"] is True and exchange._api_async.options["portfolioMargin"] is True
    assert private(calls.new) == {
        "GET /papi/v1/um/leverageBracket": 1,  # Freqtrade's leverage tiers come first (exchange.py:316)
        "GET /papi/v1/um/positionSide/dual": 1,  # then the start-up checks, on papi
        "GET /papi/v1/um/accountConfig": 1,
    }


def test_binanceusdm_configs_get_their_own_class(build: Callable[..., Any]) -> None:
    assert type(build(name="binanceusdm")) is PMBinanceusdm


def test_hedge_mode_is_refused_at_start_without_retries(build: Callable[..., Any], sim: SimulatorThread) -> None:
    sim.set_position_mode(True, "pm")
    with Calls(sim) as calls, pytest.raises(OperationalException, match="Hedge Mode is not supported"):
        build()
    assert calls.new["GET /papi/v1/um/positionSide/dual"] == 1


def test_isolated_margin_is_refused_before_any_private_call(build: Callable[..., Any], sim: SimulatorThread) -> None:
    with Calls(sim) as calls, pytest.raises(ConfigurationError, match="always cross margin"):
        build(margin_mode="isolated")
    assert private(calls.new) == {}


def test_portfolio_margin_switched_off_in_ccxt_config_is_refused(
    build: Callable[..., Any], sim: SimulatorThread
) -> None:
    ccxt_config = {**sim.ccxt_config, "options": {**sim.ccxt_config["options"], "portfolioMargin": False}}
    with pytest.raises(OperationalException, match=r"sets options\.portfolioMargin to false"):
        build(exchange={"ccxt_config": ccxt_config})


def test_a_key_papi_refuses_is_told_what_to_check(build: Callable[..., Any], sim: SimulatorThread) -> None:
    with Calls(sim) as calls, pytest.raises(TemporaryError, match="is this a Portfolio Margin account"):
        build(account="usdm")
    # The leverage tiers, Freqtrade's first private read, fail first: 1 try + 4 retries, as stock Freqtrade's.
    assert private(calls.new) == {"GET /papi/v1/um/leverageBracket": 5}


def test_dry_run_makes_no_private_call(build: Callable[..., Any], sim: SimulatorThread) -> None:
    with Calls(sim) as calls:
        exchange = build(dry_run=True, runmode=RunMode.DRY_RUN)
    assert type(exchange) is PMBinance and private(calls.new) == {}


def test_leverage_is_set_on_papi_and_margin_mode_not_at_all(build: Callable[..., Any], sim: SimulatorThread) -> None:
    exchange = build()
    with Calls(sim) as calls:
        exchange._lev_prep(BTC, 5.7, "buy", accept_fail=False)  # what Freqtrade does before an entry or a stop
    assert calls.new == {"POST /papi/v1/um/leverage": 1}  # no fapi marginType: PM UM is cross
    assert sim.state()["accounts"]["pm"]["leverage"]["UM"]["BTCUSDT"] == 5  # Binance's floor of Freqtrade's 5.7


def open_long_with_stop(exchange: Any, sim: SimulatorThread, stop_price: float = 59000) -> dict[str, Any]:
    sim.set_price("BTCUSDT", 60000)
    exchange.create_order(pair=BTC, ordertype="market", side="buy", amount=0.01, rate=60000, leverage=5)
    stop: dict[str, Any] = exchange.create_stoploss(
        pair=BTC, amount=0.01, stop_price=stop_price, order_types=ORDER_TYPES, side="sell", leverage=5
    )
    return stop


def test_a_stoploss_is_placed_polled_and_read_once_triggered_on_the_algo_endpoints(
    build: Callable[..., Any], sim: SimulatorThread
) -> None:
    exchange = build()
    with Calls(sim) as placing:
        stop = open_long_with_stop(exchange, sim)
    assert placing.new["POST /papi/v1/um/algo/order"] == 1
    with Calls(sim) as polling:
        polled = exchange.fetch_stoploss_order(stop["id"], BTC)
    assert polling.new == {f"GET {ALGO_QUERY}": 1}  # stock ccxt would ask papi/v1/um/order: -2013
    assert (polled["status"], polled["stopPrice"]) == ("open", 59000)

    sim.set_price("BTCUSDT", 58900)
    with Calls(sim) as reading:
        done = exchange.fetch_stoploss_order(stop["id"], BTC)
    # Freqtrade's own follow-up: the order the stop placed, through info.actualOrderId (exchange.py:1798-1812).
    assert reading.new == {f"GET {ALGO_QUERY}": 1, "GET /papi/v1/um/order": 1}
    assert (done["id"], done["type"], done["status"], done["status_stop"]) == (
        stop["id"],
        "stoploss",
        "closed",
        "triggered",
    )
    assert (done["filled"], done["average"]) == (0.01, 58900)
    assert exchange.get_order_id_conditional(done) == done["id_stop"] != stop["id"]  # fees come from the real order


def test_a_finished_stop_the_algo_query_no_longer_answers_is_read_from_the_history(
    build: Callable[..., Any], sim: SimulatorThread
) -> None:
    exchange = build()
    stop = open_long_with_stop(exchange, sim)
    sim.set_price("BTCUSDT", 58900)
    sim.fail(400, 1, -2013, paths=[ALGO_QUERY])  # as Binance may answer for an algo order that is no longer open
    with Calls(sim) as calls:
        done = exchange.fetch_stoploss_order(stop["id"], BTC)
    assert calls.new == {f"GET {ALGO_QUERY}": 1, f"GET {ALGO_HISTORY}": 1, "GET /papi/v1/um/order": 1}
    assert (done["status"], done["filled"]) == ("closed", 0.01)


def test_cancelling_a_stop(build: Callable[..., Any], sim: SimulatorThread) -> None:
    exchange = build()
    stop = open_long_with_stop(exchange, sim)
    with Calls(sim) as calls:
        result = exchange.cancel_stoploss_order_with_result(stop["id"], BTC, 0.01)
    # The cancel answer has no status, so Freqtrade reads the order back (exchange.py:1911-1932).
    assert calls.new == {"DELETE /papi/v1/um/algo/order": 1, f"GET {ALGO_QUERY}": 1}
    assert (result["status"], result["filled"]) == ("canceled", 0.0)


def test_cancelling_a_stop_that_already_fired_is_order_not_found_not_a_retried_error(
    build: Callable[..., Any], sim: SimulatorThread
) -> None:
    exchange = build()
    stop = open_long_with_stop(exchange, sim)
    sim.set_price("BTCUSDT", 58900)
    with Calls(sim) as calls, pytest.raises(InvalidOrderException):
        exchange.cancel_stoploss_order(stop["id"], BTC)
    assert calls.new == {"DELETE /papi/v1/um/algo/order": 1}  # once: Freqtrade then finds the stop closed
    assert exchange.fetch_stoploss_order(stop["id"], BTC)["status"] == "closed"


def test_a_cancelled_stop_that_cannot_be_read_back_gets_a_complete_stand_in(
    build: Callable[..., Any], sim: SimulatorThread
) -> None:
    exchange = build()
    stop = open_long_with_stop(exchange, sim)
    sim.fail(400, 12, -2013, paths=[ALGO_QUERY, ALGO_HISTORY])  # neither the query nor the history answers
    result = exchange.cancel_stoploss_order_with_result(stop["id"], BTC, 0.01)
    assert (result["status"], result["type"], result["filled"]) == ("canceled", "stoploss", 0.0)
    # Freqtrade's stand-in had no "type": this read raised KeyError in the bot loop (exchange.py:1930, 2513).
    assert exchange.get_order_id_conditional(result) == stop["id"]
    assert exchange.check_order_canceled_empty(result)


def test_plain_orders_are_left_to_freqtrade(build: Callable[..., Any], sim: SimulatorThread) -> None:
    exchange = build()
    sim.set_price("BTCUSDT", 60000)
    order = exchange.create_order(pair=BTC, ordertype="limit", side="buy", amount=0.01, rate=50000, leverage=5)
    with Calls(sim) as calls:
        again = exchange.fetch_order(order["id"], BTC)
    assert calls.new == {"GET /papi/v1/um/order": 1} and again["status"] == "open"


def test_free_balance_is_what_the_account_can_still_use(build: Callable[..., Any], sim: SimulatorThread) -> None:
    exchange = build()
    # ccxt's reading, which stock Freqtrade uses: free = the UM wallet, empty on a fresh PM account.
    assert Binance.get_balances(exchange)["USDT"]["free"] == 0
    assert exchange.get_balances()["USDT"] == {"free": 10000.0, "used": 0.0, "total": 10000.0}

    sim.set_price("BTCUSDT", 60000)
    exchange.create_order(pair=BTC, ordertype="market", side="buy", amount=0.1, rate=60000, leverage=5)
    sim.set_price("BTCUSDT", 60500)
    with Calls(sim) as calls:
        usdt = exchange.get_balances()["USDT"]
    assert calls.new == {"GET /papi/v1/balance": 1, "GET /papi/v1/account": 1}
    account = sim.state()["accounts"]["pm"]
    balances = account["balances"]
    [position] = account["positions"]
    wallet = float(balances["collateral"]["USDT"]) + float(balances["wallet"]["USDT"])
    assert usdt["free"] == pytest.approx(float(balances["available"]))  # totalAvailableBalance
    assert usdt["total"] == pytest.approx(wallet + float(position["unrealized_pnl"]))  # as fapi: profit included
    assert usdt["used"] == pytest.approx(usdt["total"] - usdt["free"])
    assert Binance.get_balances(exchange)["USDT"]["free"] < 0  # the UM wallet holds only the entry fee


def test_papi_error_codes_raise_what_freqtrade_expects_from_fapi() -> None:
    """ccxt picks its error map by URL (binance.com URLs only, so the simulator cannot show it): fapi and papi maps
    disagree, and Freqtrade's handling is written against the fapi classes."""
    stock, aligned = ccxt.binance(), ccxt.binance()
    assert align_pm_error_map(aligned) == 87

    def raised(api: Any, url: str, code: str) -> str:
        body = json.dumps({"code": int(code), "msg": "x"})
        try:
            api.handle_errors(400, "Bad Request", url, "GET", {}, body, json.loads(body), None, None)
        except ccxt.BaseError as error:
            return type(error).__name__
        return "nothing"

    fapi, papi = "https://fapi.binance.com/fapi/v1/order", "https://papi.binance.com/papi/v1/um/order"
    assert (raised(stock, fapi, "-2011"), raised(stock, papi, "-2011")) == ("OrderNotFound", "OperationRejected")
    for code in ("-2011", "-2019", "-1021", "-1015", "-2020", "-1022", "-2013", "-2022"):
        assert raised(aligned, papi, code) == raised(stock, fapi, code), code
