"""The user data stream: listenKey lifecycle and websocket connections, over aiohttp.

It owns the key (create, keepalive every ``keepalive_interval``, a new one on -1125 or ``listenKeyExpired``), the
connection (our pings every ``heartbeat`` s, Binance's pings answered automatically, a socket with no pong is dead),
reconnects with the one capped jittered ``Backoff`` (reset after success), and rotates before Binance's 24 h cut:
make-before-break, so both sockets deliver during the overlap and the book drops the duplicates.

It knows nothing of frames' meaning: every text frame goes to ``on_frame``; the coordinator decodes and calls
``renew_key()`` when it sees ``listenKeyExpired``. ``on_connected(gap=...)`` says whether events may have been lost
(every fresh connection) or not (a rotation overlap), so the coordinator knows when to resync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Final

import aiohttp

from .config import BridgeConfig
from .errors import AuthenticationFailed, ClientClosed, ExchangeError, ListenKeyGone
from .redact import scrub
from .rest import RestClient, stream_url
from .retry import Backoff

log = logging.getLogger(__name__)

ROTATION_OVERLAP_S: Final = 1.0
"""How long the old socket keeps delivering after its replacement is up (duplicates are dropped by the book)."""

OnFrame = Callable[[str | bytes], None]
OnConnected = Callable[[bool, str], None]
OnDisconnected = Callable[[str], None]


class StreamFatal(Exception):
    """The stream cannot go on (bad credentials); the reason is a message for a person."""


class UserStream:
    def __init__(
        self,
        config: BridgeConfig,
        rest: RestClient,
        *,
        on_frame: OnFrame,
        on_connected: OnConnected,
        on_disconnected: OnDisconnected,
    ) -> None:
        self.config = config
        self.rest = rest
        self._on_frame = on_frame
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._renew = asyncio.Event()
        self._renew_reason = ""
        self._backoff = Backoff(config.backoff_initial, config.backoff_max)
        self._session: aiohttp.ClientSession | None = None
        self._key: str | None = None
        self._retiring: set[asyncio.Task[None]] = set()
        self.connections = 0
        self.rotations = 0
        self.key_renewals = 0
        self.keepalives = 0

    def renew_key(self, reason: str) -> None:
        """Drop the current key and connection and start over with a fresh key (from any callback on the loop)."""
        self._renew_reason = reason
        self._renew.set()

    async def run(self) -> None:
        """Connect and stay connected until cancelled. Raises ``StreamFatal`` for errors retrying cannot fix."""
        self._session = aiohttp.ClientSession()
        try:
            while True:
                try:
                    reason = await self._connect_and_serve()
                    delay = 0.0
                except AuthenticationFailed as exc:
                    raise StreamFatal(str(exc)) from None
                except ClientClosed:  # the bridge is stopping: there is no key to connect with any more
                    return
                except (TimeoutError, ExchangeError, aiohttp.ClientError, OSError) as exc:
                    reason = _describe(exc)
                    delay = self._backoff.next()
                    reason = f"{reason}; reconnecting in {delay:.1f} s"
                self._on_disconnected(reason)
                if delay:
                    await asyncio.sleep(delay)
        finally:
            # A socket still in its rotation overlap must not outlive the stream (nor its session).
            for retiring in list(self._retiring):
                retiring.cancel()
            await asyncio.gather(*self._retiring, return_exceptions=True)
            await self._session.close()

    async def close_key(self) -> None:
        """DELETE the key: kills every other client's stream on this account. Only when the user asked for it."""
        if self._key is not None:
            with contextlib.suppress(ExchangeError):
                await self.rest.close_listen_key(self._key)

    async def _open(self, key: str) -> aiohttp.ClientWebSocketResponse:
        assert self._session is not None
        ws = await self._session.ws_connect(
            stream_url(self.config, key),
            heartbeat=self.config.heartbeat,
            autoping=True,
            max_msg_size=4 * 1024 * 1024,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
        )
        self.connections += 1
        return ws

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        """Deliver frames until the socket ends; return why it ended."""
        on_frame = self._on_frame
        async for message in ws:
            if message.type is aiohttp.WSMsgType.TEXT or message.type is aiohttp.WSMsgType.BINARY:
                on_frame(message.data)
            elif message.type is aiohttp.WSMsgType.ERROR:
                return f"socket error: {_describe(ws.exception())}"
        code = ws.close_code
        if code is None:
            return "socket closed"
        return f"socket closed by the server (code {code})"

    async def _connect_and_serve(self) -> str:
        self._renew.clear()
        key = self._key = await self.rest.create_listen_key()
        ws = await self._open(key)
        self._backoff.reset()
        reader = asyncio.create_task(self._read(ws), name="pmbridge-stream-reader")
        self._on_connected(True, "connected; events sent while we were away are not replayed, resyncing")
        loop = asyncio.get_running_loop()
        next_keepalive = loop.time() + self.config.scaled(self.config.keepalive_interval)
        rotate_at = loop.time() + self.config.scaled(self.config.rotate_after)
        renew_waiter = asyncio.create_task(self._renew.wait())
        try:
            while True:
                timeout = max(0.0, min(next_keepalive, rotate_at) - loop.time())
                await asyncio.wait({reader, renew_waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if reader.done():
                    return reader.result()
                if renew_waiter.done():
                    self.key_renewals += 1
                    return f"{self._renew_reason}; getting a new listenKey"
                now = loop.time()
                if now >= next_keepalive:
                    try:
                        await self.rest.keepalive_listen_key(key)
                        self.keepalives += 1
                    except ListenKeyGone:
                        self.key_renewals += 1
                        return "the listenKey expired (-1125 on keepalive); getting a new one"
                    except ClientClosed:
                        raise
                    except ExchangeError as exc:
                        log.warning("listenKey keepalive failed (%s); trying again shortly", exc)
                        next_keepalive = now + min(60.0, self.config.scaled(self.config.keepalive_interval) / 4)
                    else:
                        next_keepalive = now + self.config.scaled(self.config.keepalive_interval)
                if now >= rotate_at:
                    ws, reader = await self._rotate(ws, reader)
                    rotate_at = loop.time() + self.config.scaled(self.config.rotate_after)
        finally:
            renew_waiter.cancel()
            reader.cancel()
            await ws.close()

    async def _rotate(
        self, old_ws: aiohttp.ClientWebSocketResponse, old_reader: asyncio.Task[str]
    ) -> tuple[aiohttp.ClientWebSocketResponse, asyncio.Task[str]]:
        """Make before break: the new socket is up and reading before the old one closes (in the background, so
        keepalives go on during the overlap)."""
        key = await self.rest.create_listen_key()  # same key while active, extended 60 min
        # A different key means the old one died unannounced: whatever was sent meanwhile is lost, so it is a gap.
        renewed, self._key = key != self._key, key
        ws = await self._open(key)
        reader = asyncio.create_task(self._read(ws), name="pmbridge-stream-reader")
        self.rotations += 1
        if renewed:
            self.key_renewals += 1
            self._on_connected(True, "rotated onto a new listenKey (the old one had expired); resyncing")
        else:
            self._on_connected(False, "rotated to a fresh connection before the 24 h cut; no gap")
        retire = asyncio.create_task(self._retire(old_ws, old_reader), name="pmbridge-stream-retire")
        self._retiring.add(retire)
        retire.add_done_callback(self._retiring.discard)
        return ws, reader

    @staticmethod
    async def _retire(ws: aiohttp.ClientWebSocketResponse, reader: asyncio.Task[str]) -> None:
        try:
            await asyncio.sleep(ROTATION_OVERLAP_S)
        finally:
            reader.cancel()
            await ws.close()


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    # aiohttp errors may quote the URL, which carries the listenKey.
    return scrub(str(exc) or type(exc).__name__)
