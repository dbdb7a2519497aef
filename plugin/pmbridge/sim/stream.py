"""User-data-stream sockets: who is connected with which key, pushing events, keepalive and the 24 h cut."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from .clock import SimClock
from .markets import Unit
from .metering import Meter
from .state import ACCOUNTS, Account, ListenKeys

CONNECTION_LIFETIME_MS: Final = 24 * 60 * 60 * 1000
PING_INTERVAL_S: Final = 180.0
PONG_TIMEOUT_S: Final = 600.0
CLOSE_TIMEOUT_S: Final = 2.0
TRANSACTION_LAG_MS: Final = 2
"""How far the matching engine's T precedes the event time E in pushed frames."""


@dataclass(eq=False, slots=True)
class Socket:
    ws: web.WebSocketResponse
    account: Account
    key: str
    connected_ms: int
    last_pong: float = field(default_factory=time.monotonic)
    # Set once its key expired or was deleted: Binance leaves such a socket open but never sends on it again.
    muted: bool = False
    # Closing is asked of the socket's own task: aiohttp's close() from another task cuts the TCP connection
    # before the client's close reply, which clients see as a reset instead of a clean close.
    close_request: asyncio.Future[int] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    finished: asyncio.Event = field(default_factory=asyncio.Event)


class StreamHub:
    def __init__(self, clock: SimClock, keys: ListenKeys, meter: Meter) -> None:
        self._clock = clock
        self._keys = keys
        self._meter = meter
        self._sockets: set[Socket] = set()
        self._last_event_ms = 0

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(ACCOUNTS, 0)
        for sock in self._sockets:
            if not sock.ws.closed:
                counts[sock.account] += 1
        return counts

    def stamp(self) -> int:
        """Event time E: sim now, but strictly after the previous push even if the clock has not moved."""
        self._last_event_ms = max(self._clock.now_ms(), self._last_event_ms + 1)
        return self._last_event_ms

    async def serve(self, request: web.Request, account: Account, key: str) -> web.WebSocketResponse:
        # autoping off: pongs must reach us so a silent client can be detected and dropped.
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        self._meter.ws_connections_total += 1
        if self._keys.account_of(key, self._clock.now_ms()) != account:
            await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"invalid or expired listenKey")
            return ws
        sock = Socket(ws, account, key, self._clock.now_ms())
        self._sockets.add(sock)
        keepalive = asyncio.create_task(self._keepalive(sock))
        try:
            await self._pump(sock)
        finally:
            self._sockets.discard(sock)
            sock.finished.set()
            keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keepalive
        return ws

    @staticmethod
    async def _pump(sock: Socket) -> None:
        ws = sock.ws
        while True:
            receiving = asyncio.ensure_future(ws.receive())
            either: set[asyncio.Future[Any]] = {receiving, sock.close_request}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not receiving.done():
                receiving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await receiving
                await ws.close(code=sock.close_request.result())
                return
            msg = receiving.result()
            if msg.type == WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type == WSMsgType.PONG:
                sock.last_pong = time.monotonic()
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return

    async def _keepalive(self, sock: Socket) -> None:
        next_ping = time.monotonic() + max(PING_INTERVAL_S / self._clock.speed, 0.5)
        while not sock.ws.closed:
            speed = self._clock.speed
            interval, timeout = max(PING_INTERVAL_S / speed, 0.5), max(PONG_TIMEOUT_S / speed, 5.0)
            now = time.monotonic()
            if now - sock.last_pong > timeout:
                await self._close([sock], WSCloseCode.GOING_AWAY)
                return
            if now >= next_ping:
                next_ping = now + interval
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await sock.ws.ping()
            await asyncio.sleep(max(0.05, min(next_ping, sock.last_pong + timeout) - time.monotonic()))

    async def publish_leverage(self, unit: Unit, symbol: str, leverage: int, event_ms: int) -> None:
        """Push a leverage change stamped ``event_ms`` (from ``stamp()``) to every live socket that carries it."""
        receivers: tuple[Account, ...] = ("pm", "usdm") if unit == "UM" else ("pm", "coinm")
        await self._publish(receivers, unit, {"ac": {"s": symbol, "l": leverage}}, event_ms)

    async def publish_multi_assets(self, enabled: bool, event_ms: int) -> None:
        await self._publish(("pm", "usdm"), "UM", {"ai": {"j": enabled}}, event_ms)

    async def _publish(self, receivers: tuple[Account, ...], unit: Unit, body: dict[str, Any], event_ms: int) -> None:
        for account in receivers:
            frame: dict[str, Any] = {"e": "ACCOUNT_CONFIG_UPDATE"}
            if account == "pm":
                frame["fs"] = unit
            frame.update({"E": event_ms, "T": event_ms - TRANSACTION_LAG_MS, **body})
            await self._send(self._live(account), orjson.dumps(frame).decode())

    async def push_raw(self, frames: list[Any]) -> int:
        """Send each frame as given (strings verbatim, so malformed JSON goes out malformed) to every live socket."""
        texts = [f if isinstance(f, str) else orjson.dumps(f).decode() for f in frames]
        targets = [s for s in self._sockets if not s.muted and not s.ws.closed]
        for text in texts:
            await self._send(targets, text)
        return len(targets)

    async def expire_due(self) -> None:
        for account, key in self._keys.due(self._clock.now_ms()):
            await self.announce_expiry(account, key)

    async def announce_expiry(self, account: Account, key: str) -> None:
        # Binance has been seen sending E as a string in this event; clients must cope, so we do it too.
        frame = {"e": "listenKeyExpired", "E": str(self.stamp()), "listenKey": key}
        sockets = [s for s in self._sockets if s.account == account and s.key == key and not s.muted]
        await self._send(sockets, orjson.dumps(frame).decode())
        self.mute(account, key)

    def mute(self, account: Account, key: str) -> None:
        """The key is dead: its sockets stay open but carry nothing more (what Binance does, said or not)."""
        for sock in self._sockets:
            if sock.account == account and sock.key == key:
                sock.muted = True

    async def close_key(self, account: Account, key: str) -> None:
        await self._close([s for s in self._sockets if s.account == account and s.key == key], WSCloseCode.OK)

    async def drop(self) -> int:
        sockets = [s for s in self._sockets if not s.ws.closed]
        await self._close(sockets, WSCloseCode.GOING_AWAY)
        return len(sockets)

    async def cut_old(self) -> None:
        horizon = self._clock.now_ms() - CONNECTION_LIFETIME_MS
        await self._close([s for s in self._sockets if s.connected_ms <= horizon], WSCloseCode.OK)

    def _live(self, account: Account) -> list[Socket]:
        active = self._keys.active(account, self._clock.now_ms())
        if active is None:
            return []
        return [s for s in self._sockets if s.account == account and s.key == active.value and not s.muted]

    async def _send(self, sockets: list[Socket], text: str) -> None:
        for sock in sockets:
            if sock.ws.closed:
                continue
            try:
                await sock.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                continue
            self._meter.frames_pushed += 1

    async def _close(self, sockets: list[Socket], code: int) -> None:
        """Start the close handshakes without awaiting them: the client may be the very caller waiting on us."""
        for sock in sockets:
            self._sockets.discard(sock)
            if not sock.close_request.done():
                sock.close_request.set_result(code)

    async def shutdown(self) -> None:
        sockets = list(self._sockets)
        await self._close(sockets, WSCloseCode.GOING_AWAY)
        if sockets:
            await asyncio.wait([asyncio.create_task(s.finished.wait()) for s in sockets], timeout=CLOSE_TIMEOUT_S)
