"""User-data-stream sockets: who listens to which account's key, pushing frames in order, keepalive, the 24 h cut.

Each socket has its own outbound queue, written by its own task: publishing is synchronous, so the frames of one
change reach every socket in the order they were stamped, and a close asked for after a frame goes out after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from ..api.metering import Meter
from ..clock import SimClock
from ..venue.account import ACCOUNT_TYPES, AccountType
from .keys import ListenKeys

CONNECTION_LIFETIME_MS: Final = 24 * 60 * 60 * 1000
PING_INTERVAL_S: Final = 180.0
PONG_TIMEOUT_S: Final = 600.0
CLOSE_TIMEOUT_S: Final = 2.0
TRANSACTION_LAG_MS: Final = 2
"""How far the matching engine's T precedes the event time E in pushed frames."""

Outbound = str | int
"""A text frame, or a close code (the end of the socket)."""
RequestHandler = Callable[["Socket", Any], Awaitable[None]]


@dataclass(eq=False, slots=True)
class Socket:
    ws: web.WebSocketResponse
    account: AccountType | None
    """The account whose events it carries; None for a combined-stream socket before its first subscription."""
    key: str
    connected_ms: int
    combined: bool = False
    """Combined-stream protocol (``/pm/stream``, ``/private/stream``): frames wrapped as ``{"stream", "data"}``."""
    last_pong: float = field(default_factory=time.monotonic)
    # Set once its key expired or was deleted: Binance leaves such a socket open but never sends on it again.
    muted: bool = False
    outbox: asyncio.Queue[Outbound] = field(default_factory=asyncio.Queue)
    # Closing is asked of the socket's own task: aiohttp's close() from another task cuts the TCP connection
    # before the client's close reply, which clients see as a reset instead of a clean close.
    close_request: asyncio.Future[int] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    closing: bool = False

    def send(self, text: str) -> bool:
        if self.closing or self.ws.closed:
            return False
        self.outbox.put_nowait(text)
        return True

    def close(self, code: int) -> None:
        if not self.closing:
            self.closing = True
            self.outbox.put_nowait(code)


class StreamHub:
    def __init__(self, clock: SimClock, keys: ListenKeys, meter: Meter) -> None:
        self._clock = clock
        self._keys = keys
        self._meter = meter
        self._sockets: set[Socket] = set()
        self._last_event_ms = 0

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(ACCOUNT_TYPES, 0)
        for sock in self._sockets:
            if not sock.ws.closed and sock.account is not None:
                counts[sock.account] += 1
        return counts

    def stamp(self) -> int:
        """Event time E: sim now, but strictly after the previous push even if the clock has not moved."""
        self._last_event_ms = max(self._clock.now_ms(), self._last_event_ms + 1)
        return self._last_event_ms

    def account_of_key(self, key: str) -> AccountType | None:
        return self._keys.account_of(key, self._clock.now_ms())

    async def serve(
        self,
        request: web.Request,
        account: AccountType | None,
        key: str,
        *,
        combined: bool = False,
        on_message: RequestHandler | None = None,
    ) -> web.WebSocketResponse:
        """Serve one socket until it closes. A raw socket needs a live key of ``account``; a combined one starts
        without and subscribes through ``on_message`` (text frames from the client)."""
        # autoping off: pongs must reach us so a silent client can be detected and dropped.
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        self._meter.ws_connections_total += 1
        if not combined and (account is None or self.account_of_key(key) != account):
            await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"invalid or expired listenKey")
            return ws
        sock = Socket(ws, account, key, self._clock.now_ms(), combined=combined)
        self._sockets.add(sock)
        helpers = [asyncio.create_task(self._keepalive(sock)), asyncio.create_task(self._write(sock))]
        try:
            await self._pump(sock, on_message)
        finally:
            self._sockets.discard(sock)
            sock.closing = True
            sock.finished.set()
            for task in helpers:
                task.cancel()
            for task in helpers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return ws

    @staticmethod
    async def _pump(sock: Socket, on_message: RequestHandler | None) -> None:
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
            elif msg.type == WSMsgType.TEXT and on_message is not None:
                await on_message(sock, msg.data)
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return

    async def _write(self, sock: Socket) -> None:
        while True:
            item = await sock.outbox.get()
            if isinstance(item, int):
                if not sock.close_request.done():
                    sock.close_request.set_result(item)
                return
            if sock.ws.closed:
                continue
            try:
                await sock.ws.send_str(item)
            except (ConnectionError, RuntimeError):
                continue
            self._meter.frames_pushed += 1

    async def _keepalive(self, sock: Socket) -> None:
        next_ping = time.monotonic() + max(PING_INTERVAL_S / self._clock.speed, 0.5)
        while not sock.ws.closed:
            speed = self._clock.speed
            interval, timeout = max(PING_INTERVAL_S / speed, 0.5), max(PONG_TIMEOUT_S / speed, 5.0)
            now = time.monotonic()
            if now - sock.last_pong > timeout:
                self._close([sock], WSCloseCode.GOING_AWAY)
                return
            if now >= next_ping:
                next_ping = now + interval
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await sock.ws.ping()
            await asyncio.sleep(max(0.05, min(next_ping, sock.last_pong + timeout) - time.monotonic()))

    # -- sending ---------------------------------------------------------------------------------------------------
    def publish(self, account: AccountType, frame: dict[str, Any]) -> None:
        """Queue ``frame`` on every live socket of ``account``'s active key (synchronous: order is kept)."""
        active = self._keys.active(account, self._clock.now_ms())
        if active is None:
            return
        raw: str | None = None
        wrapped: str | None = None
        for sock in self._sockets:
            if sock.account != account or sock.muted or sock.key != active.value:
                continue
            if sock.combined:
                if wrapped is None:
                    wrapped = orjson.dumps({"stream": active.value, "data": frame}).decode()
                sock.send(wrapped)
            else:
                if raw is None:
                    raw = orjson.dumps(frame).decode()
                sock.send(raw)

    def push_raw(self, frames: list[Any]) -> int:
        """Send each frame as given (strings verbatim, so malformed JSON goes out malformed) to every live socket."""
        texts = [f if isinstance(f, str) else orjson.dumps(f).decode() for f in frames]
        targets = [s for s in self._sockets if not s.muted and not s.ws.closed and s.account is not None]
        for text in texts:
            for sock in targets:
                sock.send(text)
        return len(targets)

    # -- keys ------------------------------------------------------------------------------------------------------
    def expire_due(self) -> None:
        for account, key in self._keys.due(self._clock.now_ms()):
            self.announce_expiry(account, key)

    def announce_expiry(self, account: AccountType, key: str) -> None:
        # Binance has been seen sending E as a string in this event; clients must cope, so we do it too.
        frame = {"e": "listenKeyExpired", "E": str(self.stamp()), "listenKey": key}
        for sock in self._sockets:
            if sock.account == account and sock.key == key and not sock.muted:
                sock.send(orjson.dumps({"stream": key, "data": frame} if sock.combined else frame).decode())
        self.mute(account, key)

    def mute(self, account: AccountType, key: str) -> None:
        """The key is dead: its sockets stay open but carry nothing more (what Binance does, said or not)."""
        for sock in self._sockets:
            if sock.account == account and sock.key == key:
                sock.muted = True

    def close_key(self, account: AccountType, key: str) -> None:
        self._close([s for s in self._sockets if s.account == account and s.key == key], WSCloseCode.OK)

    def drop(self) -> int:
        sockets = [s for s in self._sockets if not s.ws.closed]
        self._close(sockets, WSCloseCode.GOING_AWAY)
        return len(sockets)

    def cut_old(self) -> None:
        horizon = self._clock.now_ms() - CONNECTION_LIFETIME_MS
        self._close([s for s in self._sockets if s.connected_ms <= horizon], WSCloseCode.OK)

    def _close(self, sockets: list[Socket], code: int) -> None:
        """Queue the close after what the socket still has to send; the handshake runs on the socket's own task."""
        for sock in sockets:
            self._sockets.discard(sock)
            sock.close(code)

    async def shutdown(self) -> None:
        sockets = list(self._sockets)
        self._close(sockets, WSCloseCode.GOING_AWAY)
        if sockets:
            await asyncio.wait([asyncio.create_task(s.finished.wait()) for s in sockets], timeout=CLOSE_TIMEOUT_S)
