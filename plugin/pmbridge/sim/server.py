"""`Simulator`: the embedded exchange on one 127.0.0.1 port, with its Python control API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from decimal import Decimal
from types import TracebackType
from typing import Any, Final, Self

from aiohttp import web

from .api.accounts import AccountRoutes
from .api.control import ControlRoutes
from .api.http import ENGINE, binance_middleware
from .api.metering import weight_of
from .api.public import MarketDataRoutes
from .api.trading import TradingRoutes
from .engine import Engine
from .stream.combined import CombinedProtocol, MarketStreamsProtocol
from .tokens import token_settings, token_source
from .venue.account import ACCOUNT_TYPES, AccountType

log = logging.getLogger(__name__)

TICK_S: Final = 0.02
# Every REST base ccxt's binance knows, so no call can escape to the real exchange by accident.
_CCXT_API_PATHS: Final[dict[str, str]] = {
    "papi": "/papi/v1",
    "papiV2": "/papi/v2",
    "fapiPublic": "/fapi/v1",
    "fapiPublicV2": "/fapi/v2",
    "fapiPublicV3": "/fapi/v3",
    "fapiPrivate": "/fapi/v1",
    "fapiPrivateV2": "/fapi/v2",
    "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/futures/data",
    "dapiPublic": "/dapi/v1",
    "dapiPrivate": "/dapi/v1",
    "dapiPrivateV2": "/dapi/v2",
    "dapiData": "/futures/data",
    "public": "/api/v3",
    "private": "/api/v3",
    "v1": "/api/v1",
    "sapi": "/sapi/v1",
    "sapiV2": "/sapi/v2",
    "sapiV3": "/sapi/v3",
    "sapiV4": "/sapi/v4",
    "eapiPublic": "/eapi/v1",
    "eapiPrivate": "/eapi/v1",
}


class Simulator:
    """A local Binance with one account of each type: Portfolio Margin (papi, the default account), USDⓈ-M (fapi)
    and COIN-M (dapi), each with its own API key, secret and listenKey, sharing one market.

    `seed` 0 draws credentials and listen keys from the OS; any other value makes them (and the prices)
    reproducible. `token_prefix` starts every API key, secret and listenKey it issues, so a test can spot one
    wherever it leaked. Left None, both come from `PMBRIDGE_SIM_SEED` and `PMBRIDGE_SIM_TOKEN_PREFIX` (unset: 0 and no
    prefix). `api_key`/`api_secret` set the default (PM) account's credentials.
    """

    def __init__(
        self,
        symbols: int = 8,
        api_key: str | None = None,
        api_secret: str | None = None,
        seed: int | None = None,
        clock_speed: float = 1.0,
        token_prefix: str | None = None,
        accounts: tuple[AccountType, ...] = ACCOUNT_TYPES,
    ) -> None:
        seed, token_prefix = token_settings(seed, token_prefix)
        new_token = token_source(seed, token_prefix)
        if not accounts or any(a not in ACCOUNT_TYPES for a in accounts):
            raise ValueError(f"accounts must be some of {', '.join(ACCOUNT_TYPES)}, got {accounts!r}")
        credentials: dict[AccountType, tuple[str, str]] = {}
        for kind in dict.fromkeys(accounts):
            key, secret = new_token(), new_token()
            if kind == accounts[0]:
                key, secret = api_key or key, api_secret or secret
            credentials[kind] = (key, secret)
        self.engine = Engine(symbols, credentials, clock_speed, new_token, seed)
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._base_url: str | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._runner is not None:
            raise RuntimeError("Simulator.start() was called twice; stop() it first or use a new Simulator")
        engine = self.engine
        app = web.Application(middlewares=[binance_middleware(weight_of)])
        app[ENGINE] = engine
        app.add_routes(AccountRoutes(engine).routes())
        app.add_routes(TradingRoutes(engine, "fapi").routes() + TradingRoutes(engine, "papi").routes())
        app.add_routes(ControlRoutes(engine).routes() + self._ws_routes())
        app.add_routes(MarketDataRoutes(engine.market).routes())
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self._base_url = f"http://{bound_host}:{bound_port}"
        self._ticker = asyncio.create_task(self._tick_forever(), name="pmbridge-sim-ticker")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._runner is not None:
            await self.engine.hub.shutdown()
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _ws_routes(self) -> list[web.RouteDef]:
        hub = self.engine.hub

        async def pm(request: web.Request) -> web.StreamResponse:
            return await hub.serve(request, "pm", request.match_info["key"])

        async def usdm(request: web.Request) -> web.StreamResponse:
            return await hub.serve(request, "usdm", request.query.get("listenKey", ""))

        async def coinm(request: web.Request) -> web.StreamResponse:
            return await hub.serve(request, "coinm", request.match_info["key"])

        def combined(account: AccountType) -> Any:
            async def handle(request: web.Request) -> web.StreamResponse:
                return await hub.serve(request, None, "", combined=True, on_message=CombinedProtocol(hub, account))

            return handle

        async def market(request: web.Request) -> web.StreamResponse:
            return await hub.serve(request, None, "", combined=True, on_message=MarketStreamsProtocol())

        return [
            web.get("/pm/ws/{key}", pm),
            web.get("/private/ws", usdm),
            web.get("/ws/{key}", coinm),
            web.get("/pm/stream", combined("pm")),
            web.get("/private/stream", combined("usdm")),
            # The USDⓈ-M SDK opens these two before /private/stream; they carry nothing (see MarketStreamsProtocol).
            web.get("/market/stream", market),
            web.get("/public/stream", market),
        ]

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                self.engine.tick()
            except Exception:
                log.exception("simulator tick failed; fills, triggers, expiries and 24 h cuts may lag until the next")

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the simulator is not running: await sim.start() first")
        return self._base_url

    def credentials(self, account: str | None = None) -> tuple[str, str]:
        """``(api_key, api_secret)`` of an account (``pm``, ``usdm``, ``coinm``; default: the PM account)."""
        acc = self.engine.account(account)
        return acc.api_key, acc.api_secret

    @property
    def api_key(self) -> str:
        return self.credentials()[0]

    @property
    def api_secret(self) -> str:
        return self.credentials()[1]

    @property
    def ccxt_config(self) -> dict[str, Any]:
        """Config for ccxt's binance pointing every REST base here; add apiKey/secret and portfolioMargin yourself."""
        base = self.base_url
        return {
            "urls": {"api": {name: base + path for name, path in _CCXT_API_PATHS.items()}},
            "options": {"fetchMarkets": {"types": ["linear", "inverse"]}, "fetchCurrencies": False},
        }

    def startup_info(self) -> dict[str, Any]:
        """How to connect: the default account's credentials at the top, every account under ``accounts``."""
        return {
            "base_url": self.base_url,
            "api_key": self.api_key,
            "api_secret": self.api_secret,
            "ccxt_config": self.ccxt_config,
            "accounts": [
                {"type": kind, "api_key": acc.api_key, "api_secret": acc.api_secret}
                for kind, acc in self.engine.venue.accounts.items()
            ],
        }

    # -- the app and the tester (each also at /_sim/...) ---------------------------------------------------------
    async def set_leverage(self, symbol: str, leverage: int, account: str | None = None) -> dict[str, Any]:
        """A leverage change made in the Binance app: validated like REST, pushed to the account's streams."""
        return self.engine.set_leverage(symbol, leverage, account=account)

    async def set_multi_assets(self, enabled: bool, account: str | None = None) -> None:
        self.engine.set_multi_assets(enabled, account)

    async def set_position_mode(self, dual_side: bool, account: str | None = None) -> None:
        self.engine.set_position_mode(dual_side, account)

    async def set_price(self, symbol: str, price: float | None) -> dict[str, Any]:
        """Pin ``symbol``'s last and mark price from now on (None releases it); resting orders, stops and
        liquidations react at once."""
        return self.engine.set_price(symbol, price)

    async def place_order(self, account: str | None = None, **fields: Any) -> dict[str, Any]:
        return self.engine.app.place_order(account, **fields)

    async def place_algo_order(self, account: str | None = None, **fields: Any) -> dict[str, Any]:
        return self.engine.app.place_algo_order(account, **fields)

    async def cancel(
        self, account: str | None = None, *, order_id: int | None = None, algo_id: int | None = None
    ) -> dict[str, Any]:
        return self.engine.app.cancel(account, order_id=order_id, algo_id=algo_id)

    async def close_position(
        self, symbol: str, account: str | None = None, position_side: str | None = None
    ) -> dict[str, Any]:
        return self.engine.app.close_position(account, symbol=symbol, position_side=position_side)

    async def set_margin_type(self, symbol: str, margin_type: str, account: str | None = None) -> dict[str, Any]:
        return self.engine.app.set_margin_type(account, symbol=symbol, margin_type=margin_type)

    async def deposit(self, amount: float | str, account: str | None = None) -> None:
        self.engine.deposit(Decimal(str(amount)), account)

    async def drop(self) -> int:
        return self.engine.hub.drop()

    async def expire_key(self, account: AccountType | None = None, announce: bool = True) -> list[AccountType]:
        return self.engine.expire_key(account, announce)

    async def fail(
        self,
        status: int,
        count: int,
        code: int | None = None,
        retry_after: float | None = None,
        paths: list[str] | None = None,
    ) -> None:
        self.engine.faults.fail(status, count, code, retry_after, paths)

    async def set_latency(self, ms: int, count: int | None = None) -> None:
        self.engine.faults.set_latency(ms, count)

    async def push_frames(self, frames: list[Any]) -> int:
        return self.engine.hub.push_raw(frames)

    async def set_clock(
        self, speed: float | None = None, advance_ms: int | None = None, keep_keys: bool = False
    ) -> None:
        self.engine.set_clock(speed, advance_ms, keep_keys)

    async def reset_stats(self) -> None:
        self.engine.meter.reset()

    def state(self) -> dict[str, Any]:
        return self.engine.state_view()

    def history(self) -> dict[str, Any]:
        """Every value each setting and position has had, with the event time that announced it (``sim.history``)."""
        return self.engine.history.view(self.engine.default)

    def stats(self) -> dict[str, Any]:
        return self.engine.meter.snapshot()
