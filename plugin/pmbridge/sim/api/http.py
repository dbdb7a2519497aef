"""What every Binance REST route shares: the middleware (weight, injected faults, Binance error JSON), parameters,
and the signed-request check that finds the calling account."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from ..engine import Engine
from ..errors import BinanceError
from ..venue.account import Account, AccountType
from .auth import check_signed

ENGINE: Final = web.AppKey("engine", Engine)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WEIGHT_HEADER: Final = "X-MBX-USED-WEIGHT-1M"
WeightRule = Callable[[str, Any], "int | None"]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return web.Response(body=raw, status=status, content_type="application/json", headers=headers)


def is_exchange_rest(request: web.Request) -> bool:
    path = request.path
    return not (
        path.startswith(("/_sim", "/pm/ws/", "/ws/"))
        or path in ("/private/ws", "/pm/stream", "/private/stream", "/market/stream", "/public/stream")
    )


def binance_middleware(weight_of: WeightRule) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Everything Binance does around a REST call: count weight, misbehave on request, speak its error JSON."""
        if not is_exchange_rest(request):
            return await handler(request)
        engine = request.app[ENGINE]
        headers = {
            WEIGHT_HEADER: str(
                engine.meter.record(request.method, request.path, weight_of(request.path, request.query))
            )
        }
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

    return middleware


async def request_params(request: web.Request) -> tuple[str, str, dict[str, str]]:
    raw_query = request.rel_url.raw_query_string
    raw_body = await request.text() if request.body_exists else ""
    params = dict(parse_qsl(raw_query, keep_blank_values=True))
    params.update(parse_qsl(raw_body, keep_blank_values=True))
    return raw_query, raw_body, params


def caller(engine: Engine, request: web.Request, allowed: tuple[AccountType, ...]) -> Account:
    """The account whose API key called, if this API family serves its type: a Portfolio Margin key on fapi, or a
    futures key on papi, gets -2015 as on Binance."""
    account = engine.account_for_key(request.headers.get("X-MBX-APIKEY"))
    if account is None or account.kind not in allowed:
        raise BinanceError(-2015)
    return account


async def signed(
    engine: Engine, request: web.Request, allowed: tuple[AccountType, ...]
) -> tuple[Account, dict[str, str]]:
    account = caller(engine, request, allowed)
    raw_query, raw_body, params = await request_params(request)
    check_signed(account.api_secret, raw_query, raw_body, params)
    return account, params
