"""The /_sim control API: the hand of the account owner (changes made "in the Binance app") and of the tester."""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable
from typing import Any, cast

import orjson
from aiohttp import web

from ..app import to_decimal
from ..clock import real_ms
from ..engine import Engine
from ..errors import BinanceError
from ..venue.account import ACCOUNT_TYPES, AccountType
from .control_table import CONTROL_ROUTES, ControlRoute, listing
from .http import json_response

Action = Callable[[dict[str, Any]], Awaitable[Any]]


def _require(body: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = body.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ValueError(f"body field {name!r} is required and must be {getattr(kind, '__name__', kind)}")
    return value


def _optional_int(body: dict[str, Any], name: str) -> int | None:
    return None if body.get(name) is None else int(_require(body, name, int))


def _optional_seconds(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"body field {name!r} must be a number of seconds >= 0")
    return value


def _optional_bool(body: dict[str, Any], name: str, default: bool) -> bool:
    return default if body.get(name) is None else bool(_require(body, name, bool))


def _account(body: dict[str, Any]) -> AccountType | None:
    """The ``account`` field: which simulated account (``pm``, ``usdm``, ``coinm``); absent means the default one."""
    account = body.get("account")
    if account is not None and account not in ACCOUNT_TYPES:
        raise ValueError(f"account must be one of {', '.join(ACCOUNT_TYPES)}, got {account!r}")
    return cast("AccountType | None", account)


_ORDER_FIELDS = (
    "symbol",
    "side",
    "type",
    "quantity",
    "price",
    "time_in_force",
    "reduce_only",
    "position_side",
    "trigger_price",
    "close_position",
    "working_type",
    "callback_rate",
    "activate_price",
)


class ControlRoutes:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _endpoint(self, route: ControlRoute) -> Callable[[web.Request], Awaitable[web.Response]]:
        action: Action = getattr(self, route.handler)
        known = [field.name for field in route.body]

        async def handle(request: web.Request) -> web.Response:
            raw = await request.read()
            try:
                body = orjson.loads(raw) if raw.strip() else {}
                if not isinstance(body, dict):
                    return json_response({"error": "the request body must be a JSON object"}, 400)
                unknown = [name for name in body if name not in known]
                if unknown:  # a typo ("acount") must not quietly act on the default account
                    return json_response({"error": _unknown_fields(route, unknown, known)}, 400)
                return json_response(await action(body))
            except BinanceError as error:
                return json_response(error.body(), error.status)
            except (ValueError, orjson.JSONDecodeError) as error:
                return json_response({"error": str(error)}, 400)

        return handle

    async def _leverage(self, body: dict[str, Any]) -> Any:
        return self.engine.set_leverage(
            _require(body, "symbol", str), _require(body, "leverage", int), account=_account(body)
        )

    async def _multi_assets(self, body: dict[str, Any]) -> Any:
        account = _account(body)
        self.engine.set_multi_assets(_require(body, "enabled", bool), account)
        return {"multi_assets": self.engine.account(account).multi_assets}

    async def _position_mode(self, body: dict[str, Any]) -> Any:
        account = _account(body)
        self.engine.set_position_mode(_require(body, "dual_side", bool), account)
        return {"dual_side_position": self.engine.account(account).dual_side}

    async def _order(self, body: dict[str, Any]) -> Any:
        return self.engine.app.place_order(_account(body), **{k: body[k] for k in _ORDER_FIELDS if k in body})

    async def _algo_order(self, body: dict[str, Any]) -> Any:
        return self.engine.app.place_algo_order(_account(body), **{k: body[k] for k in _ORDER_FIELDS if k in body})

    async def _cancel(self, body: dict[str, Any]) -> Any:
        return self.engine.app.cancel(
            _account(body), order_id=_optional_int(body, "order_id"), algo_id=_optional_int(body, "algo_id")
        )

    async def _close_position(self, body: dict[str, Any]) -> Any:
        return self.engine.app.close_position(
            _account(body), symbol=_require(body, "symbol", str), position_side=body.get("position_side")
        )

    async def _margin_type(self, body: dict[str, Any]) -> Any:
        return self.engine.app.set_margin_type(
            _account(body), symbol=_require(body, "symbol", str), margin_type=_require(body, "margin_type", str)
        )

    async def _isolated_margin(self, body: dict[str, Any]) -> Any:
        return self.engine.app.adjust_isolated_margin(
            _account(body),
            symbol=_require(body, "symbol", str),
            amount=body.get("amount"),
            add=_require(body, "add", bool),
            position_side=body.get("position_side") or "BOTH",
        )

    async def _deposit(self, body: dict[str, Any]) -> Any:
        amount = to_decimal(body.get("amount"), "amount")
        if amount is None:
            raise ValueError("body field 'amount' is required (negative to withdraw)")
        self.engine.deposit(amount, _account(body), body.get("asset"))
        return self.engine.account_view(self.engine.account(_account(body)))["balances"]

    async def _price(self, body: dict[str, Any]) -> Any:
        """Pin ``symbol``'s price: ``price`` (null releases it), ``step`` (relative), or ``path`` (each in turn)."""
        symbol = _require(body, "symbol", str)
        if "path" in body:
            path = body["path"]
            if not isinstance(path, list) or not path:
                raise ValueError("path must be a non-empty list of prices")
            answer: Any = None
            for value in path:
                answer = self.engine.set_price(symbol, _price_value(value))
            return answer
        if "step" in body:
            step = to_decimal(body["step"], "step")
            current = (
                self.engine.market.prices.quote(symbol, real_ms()).last
                if symbol in self.engine.catalogue.contracts
                else None
            )
            if step is None or current is None:
                raise ValueError("step must be a number and symbol a listed symbol")
            return self.engine.set_price(symbol, float(current + step))
        if "price" not in body:
            raise ValueError("give price (null to release the pin), step or path")
        return self.engine.set_price(symbol, _price_value(body["price"]))

    async def _drop(self, body: dict[str, Any]) -> Any:
        return {"dropped": self.engine.hub.drop()}

    async def _expire_key(self, body: dict[str, Any]) -> Any:
        announce = _optional_bool(body, "announce", True)
        return {"expired": self.engine.expire_key(_account(body), announce)}

    async def _fail(self, body: dict[str, Any]) -> Any:
        paths = body.get("paths")
        if paths is not None and not (isinstance(paths, list) and all(isinstance(p, str) for p in paths)):
            raise ValueError("paths must be a list of REST paths such as '/papi/v1/um/symbolConfig'")
        self.engine.faults.fail(
            _require(body, "status", int),
            _require(body, "count", int),
            _optional_int(body, "code"),
            _optional_seconds(body, "retry_after"),
            paths,
        )
        return {"ok": True}

    async def _latency(self, body: dict[str, Any]) -> Any:
        self.engine.faults.set_latency(_require(body, "ms", int), _optional_int(body, "count"))
        return {"ok": True}

    async def _frames(self, body: dict[str, Any]) -> Any:
        return {"sockets": self.engine.hub.push_raw(_require(body, "frames", list))}

    async def _clock(self, body: dict[str, Any]) -> Any:
        speed = body.get("speed")
        if speed is not None and (isinstance(speed, bool) or not isinstance(speed, int | float)):
            raise ValueError("speed must be a number > 0")
        self.engine.set_clock(
            None if speed is None else float(speed),
            _optional_int(body, "advance_ms"),
            _optional_bool(body, "keep_keys", False),
        )
        return {"time_ms": self.engine.clock.now_ms(), "clock_speed": self.engine.clock.speed}

    async def _state(self, body: dict[str, Any]) -> Any:
        return self.engine.state_view()

    async def _history(self, body: dict[str, Any]) -> Any:
        return self.engine.history.view(self.engine.default)

    async def _stats(self, body: dict[str, Any]) -> Any:
        return self.engine.meter.snapshot()

    async def _stats_reset(self, body: dict[str, Any]) -> Any:
        self.engine.meter.reset()
        return {"ok": True}

    async def _index(self, body: dict[str, Any]) -> Any:
        return listing()

    def routes(self) -> list[web.RouteDef]:
        return [web.route(route.method, route.path, self._endpoint(route)) for route in CONTROL_ROUTES]


def _unknown_fields(route: ControlRoute, unknown: list[str], known: list[str]) -> str:
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        hints.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    takes = ", ".join(known) if known else "no fields"
    return (
        f"{route.method} {route.path} does not take {', '.join(hints)}; it takes {takes} (GET /_sim/ lists every "
        "route and its fields). Nothing was changed."
    )


def _price_value(value: object) -> float | None:
    if value is None:
        return None
    number = to_decimal(value, "price")
    return None if number is None else float(number)
