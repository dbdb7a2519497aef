"""BridgeThread: a bridge on its own asyncio loop in a daemon thread, for hosts that are not asyncio (Freqtrade).

The host's thread never waits on the bridge except in ``start`` (bounded) and ``stop``; it reads ``book`` lock-free.
Coroutines for the bridge's loop (``set_leverage``...) go through ``submit``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .book import LeverageBook
from .bridge import Bridge, SetupFailed
from .config import BridgeConfig
from .manager import PluginManager
from .native import name_this_thread

log = logging.getLogger(__name__)
T = TypeVar("T")


class BridgeThread:
    def __init__(self, config: BridgeConfig, pm: PluginManager) -> None:
        self.config = config
        self.pm = pm
        self.bridge: Bridge | None = None
        self.failure: str | None = None
        """Why the bridge could not start (bad credentials...), once known."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._ready = threading.Event()
        self._done: asyncio.Event | None = None

    @property
    def book(self) -> LeverageBook | None:
        return None if self.bridge is None else self.bridge.book

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def start(self, timeout: float) -> bool:
        """Start the thread; wait up to ``timeout`` s for the first snapshot. False if not ready yet (it goes on
        trying in the background); raises ``SetupFailed`` if it failed for good (bad credentials)."""
        self._thread = threading.Thread(target=self._run, name="pmbridge", daemon=True)
        self._thread.start()
        self._started.wait()
        self._ready.wait(timeout)
        if self.failure is not None:
            raise SetupFailed(self.failure)
        return self._ready.is_set()

    def _run(self) -> None:
        name_this_thread("pmbridge")
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        done = self._done = asyncio.Event()
        self.bridge = bridge = Bridge(self.config, pm=self.pm)
        self._started.set()
        starting = asyncio.create_task(bridge.start(ready_timeout=None))
        stopping = asyncio.create_task(done.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            error = starting.exception()
            if error is None:
                self._ready.set()
                stopped = asyncio.create_task(bridge.wait_stopped())
                await asyncio.wait({stopped, stopping}, return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
            else:
                self.failure = str(error) if isinstance(error, SetupFailed) else f"{type(error).__name__}: {error}"
                if not isinstance(error, SetupFailed):
                    log.error("pmbridge failed to start", exc_info=error)
                self._ready.set()
        else:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await starting
        stopping.cancel()
        await bridge.stop("host stopped")

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coroutine`` on the bridge's loop; returns a future the calling thread may wait on (or not)."""
        if self._loop is None or self._loop.is_closed():
            coroutine.close()
            raise SetupFailed("the bridge thread is not running")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def call_soon(self, callback: Callable[..., object], *args: object) -> bool:
        """Schedule a plain callback on the bridge's loop (False if it is not running)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return False
        try:
            loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # closed in between
            return False
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the bridge (``pmbridge_shutdown`` fires on its thread) and join the thread."""
        loop, done = self._loop, self._done
        if loop is not None and done is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(done.set)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning(
                    "the pmbridge thread did not stop within %.0f s; it is a daemon and dies with the bot", timeout
                )
