"""The combined-stream protocol of the user data stream (``/pm/stream``, ``/private/stream``), as Binance's official
SDKs speak it: the socket opens without a key, the client sends ``{"method": "SUBSCRIBE", "params": [listenKey],
"id": ...}``, the server answers ``{"result": null, "id": ...}``, and every event then arrives wrapped as
``{"stream": listenKey, "data": {...}}``."""

from __future__ import annotations

from typing import Any

import orjson

from ..venue.account import AccountType
from .hub import Socket, StreamHub


class CombinedProtocol:
    """Handles the client's requests on one combined-stream socket of ``account_type``'s stream."""

    def __init__(self, hub: StreamHub, account_type: AccountType) -> None:
        self.hub = hub
        self.account_type = account_type

    async def __call__(self, sock: Socket, text: Any) -> None:
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            sock.send(orjson.dumps({"error": {"code": 3, "msg": "Invalid JSON: expected an object"}}).decode())
            return
        if not isinstance(request, dict):
            sock.send(orjson.dumps({"error": {"code": 3, "msg": "Invalid request: expected an object"}}).decode())
            return
        method, params, request_id = request.get("method"), request.get("params") or [], request.get("id")
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            self._error(sock, request_id, 2, "Invalid request: params must be a list of stream names")
            return
        if method == "SUBSCRIBE":
            for key in params:
                if self.hub.account_of_key(key) != self.account_type:
                    self._error(sock, request_id, 2, f"Invalid request: unknown or expired listenKey {key[:6]}...")
                    return
            if params:
                # One account per socket here: the newest key subscribed is the one it carries.
                sock.account, sock.key, sock.muted = self.account_type, params[-1], False
            self._answer(sock, request_id, None)
        elif method == "UNSUBSCRIBE":
            if sock.key in params:
                sock.account, sock.key = None, ""
            self._answer(sock, request_id, None)
        elif method == "LIST_SUBSCRIPTIONS":
            self._answer(sock, request_id, [sock.key] if sock.key else [])
        else:
            self._error(sock, request_id, 1, f"Unknown method {method!r}")

    @staticmethod
    def _answer(sock: Socket, request_id: Any, result: Any) -> None:
        sock.send(orjson.dumps({"result": result, "id": request_id}).decode())

    @staticmethod
    def _error(sock: Socket, request_id: Any, code: int, msg: str) -> None:
        sock.send(orjson.dumps({"error": {"code": code, "msg": msg}, "id": request_id}).decode())
