"""The /_sim control API: the hand of the account owner (changes made "in the Binance app") and of the tester."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import orjson
from aiohttp import web

from .engine import Engine
from .errors import BinanceError
from .rest import json_response
from .state import ACCOUNTS, Account

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


class ControlRoutes:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _endpoint(self, action: Action) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            raw = await request.read()
            try:
                body = orjson.loads(raw) if raw.strip() else {}
                if not isinstance(body, dict):
                    return json_response({"error": "the request body must be a JSON object"}, 400)
                return json_response(await action(body))
            except BinanceError as error:
                return json_response(error.body(), error.status)
            except (ValueError, orjson.JSONDecodeError) as error:
                return json_response({"error": str(error)}, 400)

        return handle

    async def _leverage(self, body: dict[str, Any]) -> Any:
        return await self.engine.set_leverage(_require(body, "symbol", str), _require(body, "leverage", int))

    async def _multi_assets(self, body: dict[str, Any]) -> Any:
        await self.engine.set_multi_assets(_require(body, "enabled", bool))
        return {"multi_assets": self.engine.state.multi_assets}

    async def _position_mode(self, body: dict[str, Any]) -> Any:
        self.engine.set_position_mode(_require(body, "dual_side", bool))
        return {"dual_side_position": self.engine.state.dual_side_position}

    async def _drop(self, body: dict[str, Any]) -> Any:
        return {"dropped": await self.engine.hub.drop()}

    async def _expire_key(self, body: dict[str, Any]) -> Any:
        account = body.get("account")
        if account is not None and account not in ACCOUNTS:
            raise ValueError(f"account must be one of {', '.join(ACCOUNTS)}, got {account!r}")
        announce = _optional_bool(body, "announce", True)
        return {"expired": await self.engine.expire_key(cast("Account | None", account), announce)}

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
        return {"sockets": await self.engine.hub.push_raw(_require(body, "frames", list))}

    async def _clock(self, body: dict[str, Any]) -> Any:
        speed = body.get("speed")
        if speed is not None and (isinstance(speed, bool) or not isinstance(speed, int | float)):
            raise ValueError("speed must be a number > 0")
        await self.engine.set_clock(
            None if speed is None else float(speed),
            _optional_int(body, "advance_ms"),
            _optional_bool(body, "keep_keys", False),
        )
        return {"time_ms": self.engine.clock.now_ms(), "clock_speed": self.engine.clock.speed}

    async def _state(self, body: dict[str, Any]) -> Any:
        return self.engine.state_view()

    async def _history(self, body: dict[str, Any]) -> Any:
        return self.engine.history.view()

    async def _stats(self, body: dict[str, Any]) -> Any:
        return self.engine.meter.snapshot()

    async def _stats_reset(self, body: dict[str, Any]) -> Any:
        self.engine.meter.reset()
        return {"ok": True}

    def routes(self) -> list[web.RouteDef]:
        post = {
            "leverage": self._leverage,
            "multi_assets": self._multi_assets,
            "position_mode": self._position_mode,
            "drop": self._drop,
            "expire_key": self._expire_key,
            "fail": self._fail,
            "latency": self._latency,
            "frames": self._frames,
            "clock": self._clock,
            "stats/reset": self._stats_reset,
        }
        out = [web.post(f"/_sim/{name}", self._endpoint(action)) for name, action in post.items()]
        out += [
            web.get("/_sim/state", self._endpoint(self._state)),
            web.get("/_sim/history", self._endpoint(self._history)),
            web.get("/_sim/stats", self._endpoint(self._stats)),
        ]
        return out
