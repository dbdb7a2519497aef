"""`Simulator`: the embedded exchange on one 127.0.0.1 port, with its Python control API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import Any, Final, Self

from aiohttp import web

from .control import ControlRoutes
from .engine import Engine
from .marketdata import MarketDataRoutes
from .rest import ENGINE, RestRoutes, binance_middleware
from .state import Account, token_settings, token_source

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
    """A local Binance (Portfolio Margin papi, USDⓈ-M fapi, COIN-M dapi) for one account.

    `seed` 0 draws credentials and listen keys from the OS; any other value makes them (and the prices)
    reproducible. `token_prefix` starts the API key and secret it makes up and every listenKey it issues, so a
    test can spot one wherever it leaked. Left None, both come from `PMBRIDGE_SIM_SEED` and
    `PMBRIDGE_SIM_TOKEN_PREFIX` (unset: 0 and no prefix).
    """

    def __init__(
        self,
        symbols: int = 8,
        api_key: str | None = None,
        api_secret: str | None = None,
        seed: int | None = None,
        clock_speed: float = 1.0,
        token_prefix: str | None = None,
    ) -> None:
        seed, token_prefix = token_settings(seed, token_prefix)
        new_token = token_source(seed, token_prefix)
        self._api_key = api_key or new_token()
        self._api_secret = api_secret or new_token()
        self.engine = Engine(symbols, self._api_key, self._api_secret, clock_speed, new_token, seed)
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._base_url: str | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._runner is not None:
            raise RuntimeError("Simulator.start() was called twice; stop() it first or use a new Simulator")
        app = web.Application(middlewares=[binance_middleware])
        app[ENGINE] = self.engine
        app.add_routes(RestRoutes(self.engine).routes() + ControlRoutes(self.engine).routes() + self._ws_routes())
        app.add_routes(MarketDataRoutes(self.engine.market).routes())
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

        return [web.get("/pm/ws/{key}", pm), web.get("/private/ws", usdm), web.get("/ws/{key}", coinm)]

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                await self.engine.tick()
            except Exception:
                log.exception("simulator tick failed; expiries and 24 h cuts may lag until the next tick")

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the simulator is not running: await sim.start() first")
        return self._base_url

    @property
    def api_key(self) -> str:
        return self._api_key

    @property
    def api_secret(self) -> str:
        return self._api_secret

    @property
    def ccxt_config(self) -> dict[str, Any]:
        """Config for ccxt's binance pointing every REST base here; add apiKey/secret and portfolioMargin yourself."""
        base = self.base_url
        return {
            "urls": {"api": {name: base + path for name, path in _CCXT_API_PATHS.items()}},
            "options": {"fetchMarkets": {"types": ["linear", "inverse"]}, "fetchCurrencies": False},
        }

    def startup_info(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "api_key": self.api_key,
            "api_secret": self.api_secret,
            "ccxt_config": self.ccxt_config,
        }

    async def set_leverage(self, symbol: str, leverage: int) -> dict[str, Any]:
        """A leverage change made in the Binance app: validated like REST, pushed to every stream that carries it."""
        return await self.engine.set_leverage(symbol, leverage)

    async def set_multi_assets(self, enabled: bool) -> None:
        await self.engine.set_multi_assets(enabled)

    async def set_position_mode(self, dual_side: bool) -> None:
        self.engine.set_position_mode(dual_side)

    async def drop(self) -> int:
        return await self.engine.hub.drop()

    async def expire_key(self, account: Account | None = None, announce: bool = True) -> list[Account]:
        return await self.engine.expire_key(account, announce)

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
        return await self.engine.hub.push_raw(frames)

    async def set_clock(
        self, speed: float | None = None, advance_ms: int | None = None, keep_keys: bool = False
    ) -> None:
        await self.engine.set_clock(speed, advance_ms, keep_keys)

    async def reset_stats(self) -> None:
        self.engine.meter.reset()

    def state(self) -> dict[str, Any]:
        return self.engine.state_view()

    def history(self) -> dict[str, Any]:
        """Every value each setting has had, with the event time that announced it (see ``sim.history``)."""
        return self.engine.history.view()

    def stats(self) -> dict[str, Any]:
        return self.engine.meter.snapshot()
