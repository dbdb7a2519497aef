"""The Binance REST surface (papi, fapi, dapi): auth, weight header, injected faults, Binance error bodies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from . import views
from .clock import real_ms
from .engine import Engine
from .errors import BinanceError, missing_param
from .marketdata import request_weight
from .markets import Unit
from .state import Account

ENGINE: Final = web.AppKey("engine", Engine)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WEIGHT_HEADER: Final = "X-MBX-USED-WEIGHT-1M"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return web.Response(body=raw, status=status, content_type="application/json", headers=headers)


def is_exchange_rest(request: web.Request) -> bool:
    path = request.path
    return not (path.startswith(("/_sim", "/pm/ws/", "/ws/")) or path == "/private/ws")


@web.middleware
async def binance_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Everything Binance does around a REST call: count weight, misbehave on request, speak its error JSON."""
    if not is_exchange_rest(request):
        return await handler(request)
    engine = request.app[ENGINE]
    weight = request_weight(request.path, request.query)
    headers = {WEIGHT_HEADER: str(engine.meter.record(request.method, request.path, weight))}
    delay = engine.faults.take_latency_s()
    if delay:
        await asyncio.sleep(delay)
    injected = engine.faults.take_failure(request.path)
    if injected is not None:
        error, extra = injected
        return json_response(error.body(), error.status, {**headers, **extra})
    try:
        response = await handler(request)
    except BinanceError as error:
        response = json_response(error.body(), error.status)
    except web.HTTPException as exc:
        # aiohttp's own 404/405 pages are HTML; Binance clients expect its JSON shape on every error.
        msg = f"{request.method} {request.path} is not supported"
        response = json_response({"code": -5000, "msg": msg}, exc.status)
    response.headers.update(headers)
    return response


async def _params(request: web.Request) -> tuple[str, str, dict[str, str]]:
    raw_query = request.rel_url.raw_query_string
    raw_body = await request.text() if request.body_exists else ""
    params = dict(parse_qsl(raw_query, keep_blank_values=True))
    params.update(parse_qsl(raw_body, keep_blank_values=True))
    return raw_query, raw_body, params


class RestRoutes:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def _signed(self, request: web.Request) -> dict[str, str]:
        self.engine.auth.check_key(request.headers.get("X-MBX-APIKEY"))
        raw_query, raw_body, params = await _params(request)
        self.engine.auth.check_signed(raw_query, raw_body, params)
        return params

    def _listen_key(self, account: Account) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            # API-key only, no signature: that is how Binance secures user-data-stream keys.
            self.engine.auth.check_key(request.headers.get("X-MBX-APIKEY"))
            if request.method == "POST":
                return json_response({"listenKey": await self.engine.create_listen_key(account)})
            if request.method == "PUT":
                await self.engine.keepalive_listen_key(account)
            else:
                await self.engine.delete_listen_key(account)
            return json_response({})

        return handle

    def _signed_view(self, build: Callable[[dict[str, str]], Any]) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            return json_response(build(await self._signed(request)))

        return handle

    def _leverage(self, unit: Unit) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            params = await self._signed(request)
            symbol, leverage = params.get("symbol"), params.get("leverage")
            if not symbol:
                raise missing_param("symbol")
            if leverage is None:
                raise missing_param("leverage")
            await self.engine.set_leverage(symbol, leverage, unit)
            return json_response(views.leverage_answer(self.engine.state, symbol, unit))

        return handle

    def _brackets(self, unit: Unit) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            symbol = (await self._signed(request)).get("symbol")
            if symbol:
                self.engine.state.contract(symbol, unit)
            return json_response(self.engine.catalogue.leverage_brackets(unit, symbol or None))

        return handle

    def _exchange_info(self, unit: Unit) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            return json_response(self.engine.catalogue.exchange_info(unit, real_ms()))

        return handle

    @staticmethod
    async def _time(request: web.Request) -> web.Response:
        # Real time, not sim time: clients sync their signing clock from here.
        return json_response({"serverTime": real_ms()})

    @staticmethod
    async def _empty_spot_info(request: web.Request) -> web.Response:
        return json_response(
            {"timezone": "UTC", "serverTime": real_ms(), "rateLimits": [], "exchangeFilters": [], "symbols": []}
        )

    @staticmethod
    async def _ping(request: web.Request) -> web.Response:
        return json_response({})

    def routes(self) -> list[web.RouteDef]:
        st = self.engine.state
        out: list[web.RouteDef] = []
        bases: tuple[tuple[str, Account], ...] = (("/papi/v1", "pm"), ("/fapi/v1", "usdm"), ("/dapi/v1", "coinm"))
        for prefix, account in bases:
            handler = self._listen_key(account)
            out += [
                web.post(f"{prefix}/listenKey", handler),
                web.put(f"{prefix}/listenKey", handler),
                web.delete(f"{prefix}/listenKey", handler),
                web.get(f"{prefix}/ping", self._ping),
            ]
        symbol_config = self._signed_view(lambda p: views.symbol_config(st, p.get("symbol")))
        dual = self._signed_view(lambda p: {"dualSidePosition": st.dual_side_position})
        out += [
            web.get("/papi/v1/um/symbolConfig", symbol_config),
            web.get("/papi/v1/um/account", self._signed_view(lambda p: views.um_account(st))),
            web.get("/papi/v1/um/accountConfig", self._signed_view(lambda p: views.um_account_config(st))),
            web.get("/papi/v1/cm/account", self._signed_view(lambda p: views.cm_account(st))),
            web.get("/papi/v1/cm/positionRisk", self._signed_view(lambda p: views.cm_position_risk(st))),
            web.get("/papi/v1/um/leverageBracket", self._brackets("UM")),
            web.get("/papi/v1/cm/leverageBracket", self._brackets("CM")),
            web.post("/papi/v1/um/leverage", self._leverage("UM")),
            web.post("/papi/v1/cm/leverage", self._leverage("CM")),
            web.get("/fapi/v1/exchangeInfo", self._exchange_info("UM")),
            web.get("/fapi/v1/time", self._time),
            web.get("/fapi/v1/symbolConfig", symbol_config),
            web.get("/fapi/v1/multiAssetsMargin", self._signed_view(lambda p: {"multiAssetsMargin": st.multi_assets})),
            web.get("/fapi/v1/positionSide/dual", dual),
            web.get("/fapi/v1/leverageBracket", self._brackets("UM")),
            web.post("/fapi/v1/leverage", self._leverage("UM")),
            web.get("/dapi/v1/exchangeInfo", self._exchange_info("CM")),
            web.get("/dapi/v1/time", self._time),
            web.get("/dapi/v1/account", self._signed_view(lambda p: views.cm_account(st, standalone=True))),
            web.get("/dapi/v1/positionRisk", self._signed_view(lambda p: views.cm_position_risk(st, standalone=True))),
            web.get("/dapi/v1/positionSide/dual", dual),
            web.get("/dapi/v1/leverageBracket", self._brackets("CM")),
            web.get("/dapi/v2/leverageBracket", self._brackets("CM")),
            web.post("/dapi/v1/leverage", self._leverage("CM")),
        ]
        # An account without spot: enough for ccxt's default load_markets (spot, margin pairs, currencies) to succeed.
        out += [
            web.get("/api/v3/exchangeInfo", self._empty_spot_info),
            web.get("/sapi/v1/capital/config/getall", self._signed_view(lambda p: [])),
            web.get("/sapi/v1/margin/allPairs", self._signed_view(lambda p: [])),
            web.get("/sapi/v1/margin/isolated/allPairs", self._signed_view(lambda p: [])),
        ]
        return out
