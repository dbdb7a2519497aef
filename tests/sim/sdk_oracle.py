"""Binance's official Python SDKs as an oracle for the simulator's wire shapes (used by test_conformance.py).

The SDKs' pydantic models are lenient in two ways a conformance test cannot accept:

- when a body fails their strict types, binance-common 4.7.0 quietly "relaxes" the model class for the rest of the
  process (``relax_model_strictness``) or hands back the raw JSON, and only logs a warning. `strict_sdk` replaces
  that fallback with one that raises, so the SDK call itself fails with the pydantic error and no class is relaxed;
- every field of every model is ``Optional`` and unknown keys are ignored, so validation never notices a missing or
  misspelt key. `key_problems` compares the body's keys with the model's, both ways, at every depth.

The SDKs log through the root logger (each websocket message, with the listenKey in it) and requests' urllib3 logs
each signed URL at DEBUG: `scrubbed_sdk_logs` masks secret-shaped text in those records before any handler, the
secrets audit's included, formats them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, get_args

import pytest
import requests
from binance_common import utils as bc_utils
from binance_common import websocket as bc_websocket
from binance_common.configuration import ConfigurationRestAPI, ConfigurationWebSocketStreams
from binance_sdk_derivatives_trading_portfolio_margin import DerivativesTradingPortfolioMargin
from binance_sdk_derivatives_trading_usds_futures import DerivativesTradingUsdsFutures
from pydantic import BaseModel

from pmbridge.redact import scrub
from pmbridge.sim import Simulator


class StrictFallback(AssertionError):
    """The SDK would have relaxed its model or returned raw JSON: the body does not match the declared types."""


def _refuse_to_relax(model_cls: Any) -> None:
    # send_request calls this from its `except Exception as e` block, with `e` the strict failure.
    caller = sys._getframe(1).f_locals
    name = getattr(model_cls, "__name__", model_cls)
    raise StrictFallback(f"{caller.get('path')}: not valid as {name} under strict typing: {caller.get('e')}")


class EventTap:
    """Every user-data payload the SDKs' socket loop parsed, with what it made of it (model or raw-dict fallback)."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, Any], Any]] = []
        self._parse = bc_websocket.parse_user_event

    def __call__(self, payload: dict[str, Any], response_model: Any) -> Any:
        parsed = self._parse(payload, response_model)
        self.seen.append((payload, parsed))
        return parsed

    async def wait_for(self, what: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                found = next((raw for raw, _ in self.seen if what(raw)), None)
                if found is not None:
                    return found
                await asyncio.sleep(0.01)


def strict_sdk(monkeypatch: pytest.MonkeyPatch) -> EventTap:
    """Strict REST validation for the rest of the test, and a tap on the websocket event parser."""
    monkeypatch.setattr(bc_utils, "relax_model_strictness", _refuse_to_relax)
    tap = EventTap()
    monkeypatch.setattr(bc_websocket, "parse_user_event", tap)
    return tap


class _Scrub(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage()), None
        return True


@contextlib.contextmanager
def scrubbed_sdk_logs() -> Iterator[None]:
    """Mask keys, listenKeys and signatures in the SDKs' records. Both loggers are opened to DEBUG meanwhile, so their
    records are really produced and the secrets audit really checks the masking (as it does for ccxt's)."""
    scrubber = _Scrub()
    # A logger's filters see only the records logged on it, not those its children propagate: hence the two.
    writers = [logging.getLogger(), logging.getLogger("urllib3.connectionpool")]
    opened = [logging.getLogger(), logging.getLogger("urllib3")]
    levels = [logger.level for logger in opened]
    for logger in writers:
        logger.addFilter(scrubber)
    for logger in opened:
        logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for logger in writers:
            logger.removeFilter(scrubber)
        for logger, level in zip(opened, levels, strict=True):
            logger.setLevel(level)


# -- keys ----------------------------------------------------------------------------------------------------------
def _nested_model(annotation: Any) -> type[BaseModel] | None:
    stack = [annotation]
    while stack:
        a = stack.pop()
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
        stack.extend(get_args(a))
    return None


def _walk(model: type[BaseModel], raw: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(raw, list):
        for item in raw:
            yield from _walk(model, item, where + "[]")
        return
    if not isinstance(raw, dict):
        yield where or "body", f"an object of {model.__name__} expected, got {type(raw).__name__}"
        return
    fields = {f.alias or name: f for name, f in model.model_fields.items() if name != "additional_properties"}
    prefix = f"{where}." if where else ""
    for key in raw:
        if key not in fields:
            yield prefix + key, f"unknown: {model.__name__} does not declare it"
    for key, field in fields.items():
        if key not in raw:
            yield prefix + key, f"missing: {model.__name__} declares it"
        elif (nested := _nested_model(field.annotation)) is not None and raw[key] is not None:
            yield from _walk(nested, raw[key], prefix + key)


def key_problems(
    model: type[BaseModel], raw: Any, absent_ok: Iterable[str] = (), extra_ok: Iterable[str] = ()
) -> list[str]:
    """Keys of ``raw`` the model does not declare and declared keys ``raw`` lacks, at every depth, as
    ``path: problem`` (paths like ``symbols[].filters[].stepSize``), bar the glob patterns allowed."""
    # Only * is special in a pattern (fnmatch's [] would read the paths' "[]" as a character class).
    allowed = {
        kind: [re.compile(".*".join(map(re.escape, pattern.split("*")))) for pattern in patterns]
        for kind, patterns in (("missing", absent_ok), ("unknown", extra_ok))
    }
    found = dict.fromkeys(  # one line per path and problem, however many list items share it
        f"{path}: {problem}"
        for path, problem in _walk(model, raw, "")
        if not any(pattern.fullmatch(path) for pattern in allowed[problem.split(":")[0]])
    )
    return list(found)


def model_of(data: Any) -> type[BaseModel]:
    """The model class the SDK validated a body with (oneOf wrappers unwrapped, array models by their items)."""
    inner = getattr(data, "actual_instance", data)
    if isinstance(inner, list):
        if not inner:
            raise AssertionError("an empty list: nothing was checked (make the body non-empty)")
        inner = inner[0]
    if not isinstance(inner, BaseModel):
        raise StrictFallback(f"the SDK returned {type(inner).__name__}, not a model: it fell back to the raw payload")
    return type(inner)


# -- orders the tests place ---------------------------------------------------------------------------------------
LIMIT_BUY = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "quantity": 0.01,
    "price": 50000,
    "time_in_force": "GTC",
}


def stop(side: str, quantity: float, trigger: float, **more: Any) -> dict[str, Any]:
    """A STOP_MARKET conditional order as both SDKs' new-algo-order methods take it."""
    kind = {"algo_type": "CONDITIONAL", "symbol": "BTCUSDT", "type": "STOP_MARKET"}
    return {**kind, "side": side, "quantity": quantity, "trigger_price": trigger, **more}


# -- clients -------------------------------------------------------------------------------------------------------
class Oracle:
    """One SDK's REST client on one simulator account; `check` calls a method and asserts the answer conforms."""

    def __init__(self, client: Any, rest: Any) -> None:
        self.client = client
        self.rest = rest
        self.raw: Any = None
        rest._session.hooks["response"].append(self._keep)

    def _keep(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.raw = response.json() if response.content else None

    async def call(self, method: str, **params: Any) -> Any:
        """The SDK's answer (a model) to ``method(**params)``; strict, but no key check."""
        response = await asyncio.to_thread(getattr(self.rest, method), **params)
        return response.data()

    async def check(
        self, method: str, *, absent_ok: Iterable[str] = (), extra_ok: Iterable[str] = (), **params: Any
    ) -> Any:
        """``call``, then the key check of the raw body against the model the SDK validated it with."""
        data = await self.call(method, **params)
        problems = key_problems(model_of(data), self.raw, absent_ok, extra_ok)
        assert not problems, f"{method}: " + "; ".join(problems)
        return data

    def close(self) -> None:
        self.rest._session.close()


class UserStream:
    """The SDK's own user-data client on the simulator: ``async with UserStream(oracle, sim, "pm") as stream``.

    It connects the SDK's websocket_streams (PM: one socket ``/pm/stream``; USDⓈ-M: ``/market/stream``,
    ``/public/stream`` and ``/private/stream``), subscribes a listenKey from the SDK's REST client, and keeps what the
    SDK hands the callback in ``received``."""

    def __init__(self, oracle: Oracle, sim: Simulator, account: str) -> None:
        self.oracle, self.sim, self.account = oracle, sim, account
        self.streams = oracle.client.websocket_streams
        self.received: list[Any] = []
        self.handle: Any = None

    async def __aenter__(self) -> UserStream:
        await self.streams.create_connection()
        key = (await self.oracle.call("start_user_data_stream")).listen_key
        self.handle = await self.streams.user_data(key)
        self.handle.on("message", self.received.append)
        # user_data() returns once SUBSCRIBE is sent; events published before the server took it would be lost.
        await self.subscribed(1)
        return self

    async def subscribed(self, sockets: int) -> None:
        async with asyncio.timeout(5):
            while self.sim.state()["sockets"][self.account] != sockets:
                await asyncio.sleep(0.01)

    async def __aexit__(self, *exc: object) -> None:
        await self.streams.close_connection(close_session=True)


@contextlib.contextmanager
def oracles(sim: Simulator) -> Iterator[tuple[Oracle, Oracle]]:
    """The PM SDK on the ``pm`` account and the USDⓈ-M SDK on the ``usdm`` account, REST and user streams both."""
    ws_base = sim.base_url.replace("http://", "ws://")
    made = []
    for account, sdk, stream_url in (
        ("pm", DerivativesTradingPortfolioMargin, ws_base + "/pm"),
        ("usdm", DerivativesTradingUsdsFutures, ws_base),
    ):
        key, secret = sim.credentials(account)
        # retries=0: a failing call must fail once, not be retried with backoff behind the test's back.
        rest = ConfigurationRestAPI(api_key=key, api_secret=secret, base_path=sim.base_url, retries=0, timeout=5000)
        client = sdk(config_rest_api=rest, config_ws_streams=ConfigurationWebSocketStreams(stream_url=stream_url))
        made.append(Oracle(client, client.rest_api))
    try:
        yield made[0], made[1]
    finally:
        for oracle in made:
            oracle.close()
