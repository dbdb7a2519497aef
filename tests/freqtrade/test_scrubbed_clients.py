"""Freqtrade's ccxt clients quote a failed request without its signature (pmbridge.freqtrade.scrubbed_clients).

ccxt names the signed URL in a network error, a timeout or an HTTP error without a Binance code, and Freqtrade logs
that message on every retry (``fetch_order() returned exception: ...``). Found when a live bot outlived its
simulator: its log held the signatures of six ``papi/v1/um/order`` requests. The timeouts here are real: the
simulator answers later than the client waits.

The secrets audit scans every log record these tests produce as well, so a signature that got out fails them twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ccxt
import ccxt.async_support
import pytest
from freqtrade.data.dataprovider import DataProvider
from freqtrade.exceptions import TemporaryError
from freqtrade.resolvers import ExchangeResolver

from pmbridge.freqtrade.scrubbed_clients import scrub_client
from pmbridge.redact import scrub
from pmbridge.sim import SimulatorThread

from ..helpers import ccxt_logger
from .ft_process import BTC
from .test_mixin import load_live
from .test_pm_exchange import build, no_order_backoff  # noqa: F401 - fixtures

SIGNATURE = re.compile(r"signature=[0-9a-f]{64}")
TIMEOUT_MS = 250
LATE_MS = 1500  # the simulator's answer comes after the client has given up


@contextlib.contextmanager
def answering_late(sim: SimulatorThread) -> Iterator[None]:
    """The simulator answers every REST call after the client has given up, inside the block."""
    sim.set_latency(LATE_MS)
    try:
        yield
    finally:
        sim.set_latency(0)


def timed_out_fetch_order(exchange: Any, sim: SimulatorThread, caplog: pytest.LogCaptureFixture) -> TemporaryError:
    """What Freqtrade's ``fetch_order`` raises after its retrier's tries all time out (logged at WARNING)."""
    exchange._api.timeout = TIMEOUT_MS
    with answering_late(sim), caplog.at_level(logging.WARNING, "freqtrade"), pytest.raises(TemporaryError) as caught:
        exchange.fetch_order("1", BTC)
    return caught.value


def assert_quoted_without_secrets(text: str, key: str, secret: str) -> None:
    """``text`` quotes a signed request with its signature masked, and neither the key nor the secret. A failure
    shows ``text`` scrubbed, and not the credentials: pytest's own report would print both."""
    if not ("signature=**REDACTED**" in text and not SIGNATURE.search(text) and key not in text and secret not in text):
        pytest.fail(f"not quoted without secrets (shown scrubbed): {scrub(text, (key, secret))}", pytrace=False)


def client(sim: SimulatorThread, module: Any, test_logger: bool = True) -> Any:
    """A ccxt client of the simulator's PM account; with the tests' scrubbing logger unless ``test_logger`` is off
    (then ccxt logs to its own logger, which the secrets audit reads at DEBUG)."""
    key, secret = sim.credentials("pm")
    return module.binance(
        {
            **copy.deepcopy(sim.ccxt_config),
            "apiKey": key,
            "secret": secret,
            "timeout": TIMEOUT_MS,
            "enableRateLimit": False,
            **({"logger": ccxt_logger(key, secret)} if test_logger else {}),
            "options": {"portfolioMargin": True, "fetchMarkets": {"types": ["linear"]}},
        }
    )


def test_a_scrubbed_client_logs_its_requests_at_debug_without_secrets(
    sim: SimulatorThread, caplog: pytest.LogCaptureFixture
) -> None:
    api = client(sim, ccxt, test_logger=False)  # as Freqtrade builds it: at -vvv ccxt's logger is at DEBUG
    assert scrub_client(api) is True
    with caplog.at_level(logging.DEBUG, "ccxt"):
        api.load_markets()
        assert api.fetch_positions([BTC]) == []
    lines = [r.getMessage() for r in caplog.records if "/papi/v1/um/positionRisk" in r.getMessage()]
    assert lines
    for line in lines:
        assert_quoted_without_secrets(line, api.apiKey, api.secret)
    assert all("X-MBX-APIKEY" in line for line in lines if "Request:" in line)  # the header is named, not its value


def test_a_synchronous_client_keeps_the_error_and_loses_the_signature(sim: SimulatorThread) -> None:
    api = client(sim, ccxt)
    api.load_markets()
    with answering_late(sim):
        with pytest.raises(ccxt.RequestTimeout) as before:
            api.fetch_order("1", BTC)
        assert SIGNATURE.search(str(before.value)) is not None  # what ccxt says unwrapped (not printed)
        assert scrub_client(api) is True
        assert scrub_client(api) is False  # once is enough
        with pytest.raises(ccxt.RequestTimeout) as after:  # the same class, so Freqtrade retries it as before
            api.fetch_order("1", BTC)
    message = str(after.value)
    assert_quoted_without_secrets(message, api.apiKey, api.secret)
    assert message.startswith(f"binance GET {sim.base_url}/papi/v1/um/order?"), message
    assert after.value.__cause__ is not None  # ccxt's cause (the socket's timeout) is kept
    assert api.fetch_positions([BTC]) == []  # and the client works as before once the exchange answers in time


def test_an_asynchronous_client_loses_the_signature_too(sim: SimulatorThread) -> None:
    async def run() -> tuple[str, str, str]:
        api = client(sim, ccxt.async_support)
        try:
            await api.load_markets()
            assert scrub_client(api) is True
            with answering_late(sim), pytest.raises(ccxt.RequestTimeout) as caught:
                await api.fetch_order("1", BTC)
            return str(caught.value), api.apiKey, api.secret
        finally:
            await api.close()

    message, key, secret = asyncio.run(run())
    assert_quoted_without_secrets(message, key, secret)


def test_pmbinance_retries_and_logs_a_timeout_without_the_signature(
    build: Callable[..., Any],  # noqa: F811 - the fixture
    sim: SimulatorThread,
    caplog: pytest.LogCaptureFixture,
) -> None:
    raised = timed_out_fetch_order(build(), sim, caplog)
    retries = [r.getMessage() for r in caplog.records if "fetch_order() returned exception" in r.getMessage()]
    assert len(retries) == 6, retries  # Freqtrade's own retrier, as in a live bot: 1 try + 5 retries
    for said in (*retries, str(raised)):
        assert_quoted_without_secrets(said, *sim.credentials("pm"))
        assert "/papi/v1/um/order?" in said, said


def test_the_mixin_scrubs_freqtrades_own_binance_class_in_a_live_bot(
    tmp_path: Path,
    sim: SimulatorThread,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    no_order_backoff: None,  # noqa: F811 - the fixture
) -> None:
    # A live bot on a USDⓈ-M account: plain `freqtrade trade`, Freqtrade's own Binance class, pmbridge as the mixin.
    strategy = load_live(tmp_path, sim, monkeypatch, {"policy": "follow"})
    key, secret = sim.credentials("usdm")
    config = strategy.config
    quiet = {"logger": ccxt_logger(key, secret), "enableRateLimit": False}  # as test_pm_exchange's build()
    config["exchange"].update(
        key=key, secret=secret, ccxt_config=sim.ccxt_config, ccxt_sync_config=quiet, ccxt_async_config=quiet
    )
    exchange = ExchangeResolver.load_exchange(config, exchange_config=copy.deepcopy(config["exchange"]))
    try:
        assert type(exchange).__module__.startswith("freqtrade.")
        strategy.dp = DataProvider(config, exchange)  # what FreqtradeBot does before the strategy starts
        strategy.ft_bot_start()
        try:
            raised = timed_out_fetch_order(exchange, sim, caplog)
        finally:
            strategy.ft_bot_cleanup()
    finally:
        exchange.close()
    said = str(raised)
    assert_quoted_without_secrets(said, key, secret)
    assert "/fapi/v1/order?" in said, said
