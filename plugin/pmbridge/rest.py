"""The REST side, through ccxt (the only REST client): markets, listenKey lifecycle, snapshots, set_leverage.

Every call goes through ``RestClient.call``: ccxt's exception is classified into a typed ``ExchangeError`` by the
Binance code (ccxt maps classes by host, so the class alone is not reliable), and retryable failures are retried by
the one ``Backoff`` schedule: 429 and 418 honour ``Retry-After``, -1021 re-measures the clock, 5xx and network errors
back off forever. Authentication failures and rejected requests are raised at once. Once ``close()`` is called no
call is sent or retried any more (``ClientClosed``), and a wait before a retry ends at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit, urlunsplit

from .config import BridgeConfig
from .const import AccountType, Unit
from .errors import (
    AuthenticationFailed,
    ClientClosed,
    ClockSkew,
    ExchangeError,
    ExchangeUnavailable,
    ListenKeyGone,
    RateLimited,
    RequestRejected,
)
from .redact import ScrubbingLogger, scrub
from .retry import Backoff
from .symbols import SymbolMap

log = logging.getLogger(__name__)
T = TypeVar("T")

_CODE: Final = re.compile(r'"code"\s*:\s*(-?\d+)')
_STATUS: Final = re.compile(r" (418|429|5\d\d) ")
_RETRYABLE_CODES: Final = frozenset({-1000, -1001, -1006, -1007, -1008})  # Binance: unknown/internal/timeout/busy
_AUTH_CODES: Final = frozenset({-2015, -2014, -1022, -2008})
_BAN_DEFAULT_S: Final = 120.0

# ccxt implicit methods per account type: (create, keepalive, close) listenKey.
_LISTEN_KEY: Final[dict[AccountType, tuple[str, str, str]]] = {
    "pm": ("papiPostListenKey", "papiPutListenKey", "papiDeleteListenKey"),
    "usdm": ("fapiPrivatePostListenKey", "fapiPrivatePutListenKey", "fapiPrivateDeleteListenKey"),
    "coinm": ("dapiPrivatePostListenKey", "dapiPrivatePutListenKey", "dapiPrivateDeleteListenKey"),
}
_LEVERAGE: Final[dict[tuple[AccountType, Unit], str]] = {
    ("pm", "UM"): "papiPostUmLeverage",
    ("pm", "CM"): "papiPostCmLeverage",
    ("usdm", "UM"): "fapiPrivatePostLeverage",
    ("coinm", "CM"): "dapiPrivatePostLeverage",
}
_STREAM_HOST: Final[dict[AccountType, str]] = {
    "pm": "wss://fstream.binance.com",
    "usdm": "wss://fstream.binance.com",
    "coinm": "wss://dstream.binance.com",
}


def stream_url(config: BridgeConfig, listen_key: str) -> str:
    """The user data stream URL for a key (PROTOCOL.md: each account type has its own)."""
    if config.base_url is None:
        root = _STREAM_HOST[config.account]
    else:
        parts = urlsplit(config.base_url)
        root = urlunsplit(("wss" if parts.scheme == "https" else "ws", parts.netloc, "", "", ""))
    if config.account == "pm":
        return f"{root}/pm/ws/{listen_key}"
    if config.account == "usdm":
        return f"{root}/private/ws?listenKey={listen_key}"
    return f"{root}/ws/{listen_key}"


def _rehost(urls: Any, base: str) -> Any:
    """Every REST base ccxt knows, pointed at ``base`` (scheme and host replaced, paths kept)."""
    if isinstance(urls, Mapping):
        return {key: _rehost(value, base) for key, value in urls.items()}
    if isinstance(urls, str) and urls.startswith("https://") and "binance.com" in urls:
        target = urlsplit(base)
        parts = urlsplit(urls)
        return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))
    return urls


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


CLEANUP_CLOSED_PERIOD_S: Final = 60.0
"""How often ccxt's aiohttp connector aborts TLS connections a server left half-closed (aiohttp's own: 2 s)."""


def _fewer_wakeups(exchange: Any) -> None:
    """ccxt asks aiohttp to abort half-closed TLS connections (a CPython leak fixed in 3.12.8), which aiohttp checks
    every 2 s for as long as the session lives: 30 wake-ups a minute for an idle bridge, with nothing to do. Once a
    minute still keeps such connections from piling up. Best effort: if aiohttp renames its setting, nothing breaks.
    """
    exchange.open()  # ccxt builds its session and connector here (a call would, lazily)
    connector = getattr(exchange, "tcp_connector", None)
    if connector is not None and hasattr(connector, "_cleanup_closed_period"):
        connector._cleanup_closed_period = CLEANUP_CLOSED_PERIOD_S


class RestClient:
    """One ccxt exchange per bridge, opened by ``open()`` (which loads markets) and closed by ``close()``."""

    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self.calls = 0
        """REST calls made (attempts, including failed ones)."""
        self.used_weight: int | None = None
        self.exchange: Any = None
        self._backoff = Backoff(config.backoff_initial, config.backoff_max)
        self._secrets = (config.api_key, config.api_secret)
        self._closed = asyncio.Event()

    def _settings(self) -> dict[str, Any]:
        import ccxt.async_support as ccxt  # noqa: PLC0415 - 0.7 s and 200k objects: only when a bridge starts

        settings: dict[str, Any] = {
            "apiKey": self.config.api_key,
            "secret": self.config.api_secret,
            # At DEBUG ccxt logs each request (URL with signature, API-key header) and answer (a new listenKey).
            "logger": ScrubbingLogger(logging.getLogger("ccxt.base.exchange"), self._secrets),
            # ccxt's default limiter spaces every call 50 ms apart, which serialised the three concurrent snapshot
            # calls into a 150 ms resync (bench/live.py). The rolling window keeps a budget but allows the burst.
            "enableRateLimit": True,
            "rateLimiterAlgorithm": "rollingWindow",
            "timeout": int(self.config.rest_timeout * 1000),
            "options": {
                "portfolioMargin": self.config.account == "pm",
                "fetchMarkets": {"coinm": ["inverse"], "usdm": ["linear"]}.get(
                    self.config.account, ["linear", "inverse"]
                ),
                "fetchCurrencies": False,
                "defaultType": "delivery" if self.config.account == "coinm" else "future",
            },
        }
        if self.config.base_url is not None:
            settings["urls"] = {"api": _rehost(ccxt.binance().urls["api"], self.config.base_url)}
        return _deep_merge(settings, self.config.ccxt_options)

    async def open(self) -> SymbolMap:
        import ccxt.async_support as ccxt  # noqa: PLC0415

        self.exchange = ccxt.binance(self._settings())
        _fewer_wakeups(self.exchange)
        markets = await self.call("load markets", self.exchange.load_markets)
        return SymbolMap.from_ccxt_markets(markets)

    async def close(self) -> None:
        """Close the session: a call in flight fails at once, a retry waiting ends, and no call is sent again."""
        self._closed.set()
        if self.exchange is not None:
            await self.exchange.close()

    # -- the one call path ------------------------------------------------------------------------------------
    async def call(self, what: str, method: Callable[..., Awaitable[T]], *args: Any, retry: bool = True) -> T:
        """Run one ccxt call, classified, retried while retryable (and ``retry``)."""
        while True:
            if self._closed.is_set():
                raise ClientClosed(f"{what}: not sent, the connection to the exchange is closed (the bridge stopped)")
            self.calls += 1
            try:
                result = await method(*args)
            except Exception as exc:  # ccxt raises its own tree plus aiohttp/asyncio errors underneath
                if self._closed.is_set():  # ccxt reports its own closed session as a retryable network error
                    raise ClientClosed(f"{what}: abandoned, the bridge stopped while it ran") from None
                error = self._classify(what, exc)
                if not (retry and error.retryable):
                    raise error from None
                await self._wait_before_retry(error)
                continue
            self._backoff.reset()
            self._read_weight()
            return result

    async def _wait_before_retry(self, error: ExchangeError) -> None:
        if isinstance(error, RateLimited):
            delay = error.retry_after
            log.warning("%s; waiting %.1f s as Binance asks", error, delay)
        elif isinstance(error, ClockSkew):
            log.warning("%s; re-measuring the clock offset", error)
            await self._resync_clock()
            delay = 0.0
        else:
            delay = self._backoff.next()
            log.warning("%s; retrying in %.1f s", error, delay)
        if delay > 0:
            with contextlib.suppress(TimeoutError):  # close() ends the wait: the next turn raises ClientClosed
                await asyncio.wait_for(self._closed.wait(), delay)

    async def _resync_clock(self) -> None:
        try:
            self.exchange.options["adjustForTimeDifference"] = True
            await self.exchange.load_time_difference()
        except Exception as exc:  # the retry that follows reports the real failure
            log.debug("clock re-measure failed: %s", scrub(str(exc), self._secrets))

    def _read_weight(self) -> None:
        headers = getattr(self.exchange, "last_response_headers", None) or {}
        weight = headers.get("X-MBX-USED-WEIGHT-1M") or headers.get("x-mbx-used-weight-1m")
        if weight is not None and str(weight).isdigit():
            self.used_weight = int(weight)

    def _classify(self, what: str, exc: Exception) -> ExchangeError:
        import ccxt.async_support as ccxt  # noqa: PLC0415

        text = scrub(str(exc), self._secrets)  # ccxt's messages quote the URL: its signature, maybe a listenKey
        match = _CODE.search(text)
        code = int(match[1]) if match else None
        status_match = _STATUS.search(text)
        status = int(status_match[1]) if status_match else None
        if status in (418, 429) or code == -1003:
            headers = getattr(self.exchange, "last_response_headers", None) or {}
            retry_after = _retry_after(headers, default=_BAN_DEFAULT_S if status == 418 else 1.0)
            kind = "IP banned (HTTP 418)" if status == 418 else "rate limited (HTTP 429)"
            return RateLimited(f"{what}: {kind}", retry_after=retry_after, code=code, status=status)
        if code in _AUTH_CODES:
            return AuthenticationFailed(
                f"{what}: Binance rejected the credentials ({code}: {_message(text)}). Check the API key and "
                "secret, that the key is enabled for this account type (Portfolio Margin keys need PM access), "
                "and the key's IP whitelist",
                code=code,
                status=status,
            )
        if code == -1021:
            return ClockSkew(f"{what}: timestamp outside recvWindow (-1021), the local clock is off", code=code)
        if code == -1125:
            return ListenKeyGone(f"{what}: the listenKey does not exist any more (-1125)", code=code)
        if code in _RETRYABLE_CODES or isinstance(exc, ccxt.NetworkError):
            return ExchangeUnavailable(
                f"{what}: Binance is unavailable ({code or status or type(exc).__name__}: {_message(text)})",
                code=code,
                status=status,
            )
        if code is not None:
            return RequestRejected(f"{what}: Binance refused ({code}: {_message(text)})", code=code, status=status)
        if isinstance(exc, ccxt.AuthenticationError):
            return AuthenticationFailed(f"{what}: authentication failed ({text[:200]})")
        return ExchangeUnavailable(f"{what}: {type(exc).__name__}: {text[:200] or 'no answer'}", status=status)

    # -- the calls ----------------------------------------------------------------------------------------------
    async def create_listen_key(self) -> str:
        answer = await self.call("create listenKey", getattr(self.exchange, _LISTEN_KEY[self.config.account][0]))
        key = answer.get("listenKey") if isinstance(answer, Mapping) else None
        if not isinstance(key, str) or not key:
            raise ExchangeUnavailable("create listenKey: the answer carried no listenKey")
        return key

    async def keepalive_listen_key(self, key: str) -> None:
        await self.call(
            "keep listenKey alive",
            getattr(self.exchange, _LISTEN_KEY[self.config.account][1]),
            {"listenKey": key},
            retry=False,
        )

    async def close_listen_key(self, key: str) -> None:
        await self.call(
            "close listenKey",
            getattr(self.exchange, _LISTEN_KEY[self.config.account][2]),
            {"listenKey": key},
            retry=False,
        )

    async def set_leverage(self, unit: Unit, exchange_symbol: str, leverage: int) -> int:
        method = _LEVERAGE.get((self.config.account, unit))
        if method is None:
            raise RequestRejected(f"a {self.config.account} account has no {unit} symbols ({exchange_symbol})")
        answer = await self.call(
            f"set leverage of {exchange_symbol}",
            getattr(self.exchange, method),
            {"symbol": exchange_symbol, "leverage": leverage},
            retry=False,
        )
        return int(answer.get("leverage", leverage)) if isinstance(answer, Mapping) else leverage


def _retry_after(headers: Mapping[str, Any], default: float) -> float:
    for name in ("Retry-After", "retry-after"):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                break
    return default


def _message(text: str) -> str:
    match = re.search(r'"msg"\s*:\s*"([^"]*)"', text)
    return match[1] if match else text[:120]
