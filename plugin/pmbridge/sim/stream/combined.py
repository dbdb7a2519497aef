"""The combined-stream protocol, as Binance's official SDKs speak it: the socket opens without a stream, the client
sends ``{"method": "SUBSCRIBE", "params": [name, ...], "id": ...}`` (the SDKs' ids are uuid strings, echoed as sent),
the server answers ``{"result": null, "id": ...}``, and every event then arrives wrapped as
``{"stream": name, "data": {...}}``. ``UNSUBSCRIBE`` answers the same way, ``LIST_SUBSCRIPTIONS`` with the names in
``result``; a bad request gets ``{"error": {"code", "msg"}, "id": ...}`` and leaves the socket open.

The user data stream is served on ``/pm/stream`` (Portfolio Margin) and ``/private/stream`` (USDⓈ-M), where the names
are listenKeys; ``/market/stream`` and ``/public/stream`` exist because the USDⓈ-M SDK opens all three sockets before
it subscribes its listenKey on the private one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import orjson

from ..venue.account import AccountType
from .hub import Socket, StreamHub


class _Requests(ABC):
    """Parses the client's requests on one socket and dispatches them; subclasses say what subscribing means."""

    async def __call__(self, sock: Socket, text: Any) -> None:
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._error(sock, None, 3, "Invalid JSON: expected an object")
            return
        if not isinstance(request, dict):
            self._error(sock, None, 3, "Invalid request: expected an object")
            return
        method, params, request_id = request.get("method"), request.get("params") or [], request.get("id")
        if not isinstance(params, list) or not all(isinstance(p, str) and p for p in params):
            self._error(sock, request_id, 2, "Invalid request: params must be a list of stream names")
            return
        if method == "SUBSCRIBE":
            refused = self.subscribe(sock, params)
            if refused:
                self._error(sock, request_id, 2, refused)
            else:
                self._answer(sock, request_id, None)
        elif method == "UNSUBSCRIBE":
            self.unsubscribe(sock, params)
            self._answer(sock, request_id, None)
        elif method == "LIST_SUBSCRIPTIONS":
            self._answer(sock, request_id, self.names(sock))
        else:
            self._error(sock, request_id, 2, f"Invalid request: unknown method {method!r}")

    @abstractmethod
    def subscribe(self, sock: Socket, names: list[str]) -> str | None:
        """Subscribe ``names``; the reason to refuse them all, or None."""

    @abstractmethod
    def unsubscribe(self, sock: Socket, names: list[str]) -> None: ...

    @abstractmethod
    def names(self, sock: Socket) -> list[str]: ...

    @staticmethod
    def _answer(sock: Socket, request_id: Any, result: Any) -> None:
        sock.send(orjson.dumps({"result": result, "id": request_id}).decode())

    @staticmethod
    def _error(sock: Socket, request_id: Any, code: int, msg: str) -> None:
        sock.send(orjson.dumps({"error": {"code": code, "msg": msg}, "id": request_id}).decode())


class CombinedProtocol(_Requests):
    """One combined socket of ``account_type``'s user data stream: the names it subscribes are listenKeys."""

    def __init__(self, hub: StreamHub, account_type: AccountType) -> None:
        self.hub = hub
        self.account_type = account_type

    def subscribe(self, sock: Socket, names: list[str]) -> str | None:
        for key in names:
            if self.hub.account_of_key(key) != self.account_type:
                return f"Invalid request: unknown or expired listenKey {key[:6]}..."
        if names:
            # One account per socket here: the newest key subscribed is the one it carries.
            sock.account, sock.key, sock.muted = self.account_type, names[-1], False
        return None

    def unsubscribe(self, sock: Socket, names: list[str]) -> None:
        if sock.key in names:
            sock.account, sock.key = None, ""

    def names(self, sock: Socket) -> list[str]:
        return [sock.key] if sock.key else []


class MarketStreamsProtocol(_Requests):
    """``/market/stream`` and ``/public/stream``: any market stream name may be subscribed (and listed, and
    unsubscribed), but the simulator publishes no market streams, so nothing is ever pushed for them. The sockets
    exist so that a client which opens them, as the USDⓈ-M SDK does before it subscribes its listenKey on
    ``/private/stream``, connects unchanged."""

    def __init__(self) -> None:
        self._names: list[str] = []

    def subscribe(self, sock: Socket, names: list[str]) -> str | None:
        self._names += [name for name in names if name not in self._names]
        return None

    def unsubscribe(self, sock: Socket, names: list[str]) -> None:
        self._names = [name for name in self._names if name not in names]

    def names(self, sock: Socket) -> list[str]:
        return list(self._names)
