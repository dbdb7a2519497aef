"""What a live bot's run asked of the exchange, checked against what a real Freqtrade bot asks.

Two views: the simulator's count of every REST call by endpoint (Freqtrade's and pmbridge's), and the answers
Freqtrade's trading ccxt object received, with Binance's error code for each refusal.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, Final
from urllib.parse import urlsplit

import requests

from pmbridge.sim import SimulatorThread

FREQTRADE_CALLS: Final = frozenset(
    {
        # A live Freqtrade 2026.9 futures bot on USDⓈ-M, as captured against a request-logging fake Binance
        # (freqtrade_live_calls_usdm_isolated.txt / _cross.txt in the project's reference notes); the spot and sapi
        # calls of load_markets are switched off by the simulator's ccxt_config.
        "GET /fapi/v1/exchangeInfo",
        "GET /dapi/v1/exchangeInfo",
        "GET /fapi/v1/time",
        "GET /fapi/v1/leverageBracket",
        "GET /fapi/v1/positionSide/dual",
        "GET /fapi/v1/multiAssetsMargin",
        "GET /fapi/v3/account",
        "GET /fapi/v3/positionRisk",
        "GET /fapi/v1/klines",
        "GET /fapi/v1/depth",
        "POST /fapi/v1/marginType",
        "POST /fapi/v1/leverage",
        "POST /fapi/v1/order",
        "GET /fapi/v1/order",
        "DELETE /fapi/v1/order",
        "POST /fapi/v1/algoOrder",
        "GET /fapi/v1/algoOrder",
        "DELETE /fapi/v1/algoOrder",
        "GET /fapi/v1/userTrades",
        "GET /fapi/v1/income",
        "GET /fapi/v1/allOrders",
    }
)
PMBRIDGE_CALLS: Final = frozenset(
    {
        # The user stream's key, and the snapshot's symbol configuration (its other reads are Freqtrade's too).
        "POST /fapi/v1/listenKey",
        "PUT /fapi/v1/listenKey",
        "DELETE /fapi/v1/listenKey",
        "GET /fapi/v1/symbolConfig",
    }
)


class Answers:
    """Every answer Freqtrade's trading ccxt object received, from a response hook on the requests session ccxt is
    given (ccxt's ``session`` option): the simulator counts calls, this says which ones it refused and why."""

    def __init__(self) -> None:
        seen: list[tuple[str, str, int, int | None]] = []
        hosts: set[str] = set()

        def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
            code = None
            if response.status_code >= 400:
                try:
                    code = int(response.json()["code"])
                except (ValueError, KeyError, TypeError):
                    code = None
            url = urlsplit(response.url)
            hosts.add(str(url.hostname))
            seen.append((str(response.request.method), url.path, response.status_code, code))

        # A plain function: Freqtrade deep-copies the ccxt settings, which would copy a bound method's instance too.
        self.session = requests.Session()
        self.session.hooks["response"].append(record)
        self.seen = seen
        self.hosts = hosts

    def errors(self) -> Counter[tuple[str, str, int | None]]:
        """(method, path, Binance code) -> how many times it was answered with an error."""
        return Counter((method, path, code) for method, path, status, code in self.seen if status >= 400)


def assert_like_a_real_bot(
    sim: SimulatorThread, answers: Answers, refused: dict[tuple[str, str, int], int] | None = None
) -> dict[str, int]:
    """Only the endpoints a live Freqtrade bot and pmbridge use, and no refusals but ``refused`` (besides -4046:
    Freqtrade sets the margin type before every order, and Binance answers "No need to change margin type." when it
    is unchanged; ccxt makes that MarginModeAlreadySet, which Freqtrade logs at debug, exchange.py:4034)."""
    assert answers.hosts == {"127.0.0.1"}  # nothing reached Binance
    calls: dict[str, int] = sim.stats()["rest_calls"]
    assert set(calls) <= FREQTRADE_CALLS | PMBRIDGE_CALLS, set(calls) - FREQTRADE_CALLS - PMBRIDGE_CALLS
    errors = answers.errors()
    errors.pop(("POST", "/fapi/v1/marginType", -4046), None)
    assert dict(errors) == (refused or {})
    return calls


def warnings(records: list[logging.LogRecord], sent: list[str]) -> list[str]:
    """Freqtrade's, ccxt's and pmbridge's warnings and errors, except the messages pmbridge sent the user."""
    return [
        f"{r.name}: {r.getMessage()}"
        for r in records
        if r.levelno >= logging.WARNING
        and r.name.startswith(("freqtrade", "pmbridge", "ccxt"))
        and r.getMessage() not in sent
    ]
