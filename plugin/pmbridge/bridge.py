"""Bridge: the set-up / run / unload lifecycle of one account's bridge (Home Assistant's integration shape).

    bridge = Bridge(BridgeConfig.from_env(base_url=...), plugins=[MyPlugin()])
    await bridge.start()          # markets, first snapshot; raises SetupFailed with what to check
    ...                           # hooks fire; bridge.book is the truth, readable from any thread
    await bridge.stop()

``start`` returns once the first snapshot is in the book (or raises); the stream, the reconcile cadence and the
retries run as tasks on the caller's loop until ``stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from typing import Any

from .book import LeverageBook, PositionBook
from .config import BridgeConfig
from .const import Unit
from .coordinator import Coordinator, FrameObserver
from .errors import AuthenticationFailed, ExchangeError, PMBridgeError, ReadOnly
from .manager import PluginManager, create_plugin_manager
from .models import BridgeInfo, DiagnosticsRequest, ReconcileReport, Shutdown, StreamState
from .origin import Intents
from .redact import redact
from .rest import RestClient
from .stream import StreamFatal
from .views import position_view

log = logging.getLogger(__name__)


class SetupFailed(PMBridgeError):
    """The bridge could not start; the message says what to check (credentials, permissions, URL)."""


class Bridge:
    def __init__(
        self,
        config: BridgeConfig,
        *,
        pm: PluginManager | None = None,
        plugins: tuple[object, ...] = (),
        frame_observer: FrameObserver | None = None,
    ) -> None:
        """``frame_observer`` sees every raw user-stream frame and its receive time before it is decoded (it is
        handed to the coordinator at ``start()``, so it may also be set as an attribute until then)."""
        self.config = config
        self.frame_observer = frame_observer
        self.pm = pm if pm is not None else create_plugin_manager(plugins=plugins)
        if pm is not None:
            for plugin in plugins:
                self.pm.register(plugin)
        self.book = LeverageBook()
        self.positions = PositionBook(self.book)
        """Every open position, from the stream and REST readings; readable from any thread."""
        self.intents = Intents()
        """The leverage changes this process asked for (``origin`` ``self``); hosts record theirs with ``expect``."""
        self.rest = RestClient(config)
        self.coordinator: Coordinator | None = None
        self.started_at: float | None = None
        self.stop_reason: str | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopped = asyncio.Event()
        self._unloading: asyncio.Future[None] | None = None

    @property
    def available(self) -> bool:
        return self.coordinator is not None and self.coordinator.state is StreamState.CONNECTED

    async def start(self, ready_timeout: float | None = 60.0) -> None:
        """Load markets, connect, take the first snapshot. Network trouble is retried; bad credentials raise."""
        self.pm.start_dispatch(self.config.plugin_budget)
        self.pm.historic(
            "pmbridge_configure", BridgeInfo(self.config.account, self.config.base_url, self.config.public())
        )
        try:
            self.book.symbols = await self.rest.open()
        except AuthenticationFailed as exc:
            await self.stop(f"fatal: {exc}")
            raise SetupFailed(str(exc)) from None
        except ExchangeError as exc:
            if self.stop_reason is not None:  # stop() closed the REST client under the retries: not a failure
                raise self._stopped_during_start() from None
            await self.stop(f"could not load markets: {exc}")
            raise SetupFailed(f"could not load markets: {exc}") from None
        if self.stop_reason is not None:  # stop() ran while the markets loaded: start nothing more
            raise self._stopped_during_start()
        # ccxt's import leaves ~200k long-lived objects: keep full collections from walking them (30-150 ms spikes).
        gc.collect()
        gc.freeze()
        self.coordinator = coordinator = Coordinator(
            self.config,
            self.pm,
            self.book,
            self.rest,
            positions=self.positions,
            intents=self.intents,
            frame_observer=self.frame_observer,
        )
        self.started_at = time.time()
        self._tasks = [
            asyncio.create_task(self._run_stream(coordinator), name="pmbridge-stream"),
            asyncio.create_task(coordinator.reconcile_forever(), name="pmbridge-reconcile"),
        ]
        fatal = asyncio.create_task(coordinator.wait_fatal())
        ready = asyncio.create_task(coordinator.ready.wait())
        stopped = asyncio.create_task(self._stopped.wait())  # Ctrl-C during start-up must not wait out the timeout
        try:
            done, _ = await asyncio.wait(
                {fatal, ready, stopped}, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        except asyncio.CancelledError:  # the host gave up on start(): no waiter outlives it
            fatal.cancel()
            raise
        finally:
            ready.cancel()
            stopped.cancel()
        if self.stop_reason is not None:
            fatal.cancel()
            raise self._stopped_during_start()
        if fatal in done:
            reason = fatal.result()
            await self.stop(f"fatal: {reason}")
            raise SetupFailed(reason)
        fatal.cancel()
        if ready not in done:
            await self.stop("no snapshot within the start-up timeout")
            raise SetupFailed(
                f"no snapshot within {ready_timeout} s: Binance (or {self.config.base_url or 'the network'}) "
                "did not answer; check connectivity and try again"
            )
        self._tasks.append(asyncio.create_task(self._watch_fatal(coordinator), name="pmbridge-fatal"))

    def _stopped_during_start(self) -> SetupFailed:
        return SetupFailed(f"stopped during start-up ({self.stop_reason})")

    async def _run_stream(self, coordinator: Coordinator) -> None:
        try:
            await coordinator.stream.run()
        except StreamFatal as exc:
            coordinator.fail(str(exc))
        except Exception as exc:  # a bug: stop visibly rather than sit "available" with a dead stream
            log.exception("the user stream failed unexpectedly (a bug: please report it with this log)")
            coordinator.fail(f"internal error in the user stream: {type(exc).__name__}: {exc}")

    async def _watch_fatal(self, coordinator: Coordinator) -> None:
        reason = await coordinator.wait_fatal()
        log.error("pmbridge stops: %s", reason)
        await self.stop(f"fatal: {reason}")

    async def wait_stopped(self) -> str:
        """Until the bridge stops (``stop()`` or a fatal error); returns the reason."""
        await self._stopped.wait()
        return self.stop_reason or "stopped"

    async def stop(self, reason: str = "requested") -> None:
        """Unload: stop every task, close the sockets and the REST session, call ``pmbridge_shutdown`` once.

        Every call waits for the one unload, whose reason is the first caller's. The unload runs as a task of its
        own: a caller cancelled meanwhile (a second Ctrl-C, a host giving up) leaves it to finish for the others."""
        if self._unloading is None:
            self.stop_reason = reason
            self._unloading = asyncio.ensure_future(self._unload(reason))
        await asyncio.shield(self._unloading)

    async def _unload(self, reason: str) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.coordinator is not None:
            await self.coordinator.close()
            if self.config.close_listen_key_on_stop:
                await self.coordinator.stream.close_key()
            self.coordinator.stopped(reason)
        await self.rest.close()
        gc.unfreeze()
        self._stopped.set()
        self.pm.notify("pmbridge_shutdown", Shutdown(reason))
        # Every queued notification, the shutdown last, reaches the plugins before stop() returns (bounded).
        await asyncio.to_thread(self.pm.stop_dispatch, max(1.0, 10 * self.config.plugin_budget))

    async def reconcile_now(self) -> ReconcileReport:
        """Take a snapshot now and return what it found (announced through the hooks like any other)."""
        if self.coordinator is None:
            raise PMBridgeError("the bridge is not started; call start() first")
        return await self.coordinator.resync("manual")

    async def set_leverage(self, unit: Unit, exchange_symbol: str, leverage: int, who: str = "pmbridge") -> int:
        """Change a symbol's leverage on the exchange. The stream then reports it like any change, with origin
        ``self`` (``who`` names the asker in the intent log). Raises ``ReadOnly`` on a read-only bridge."""
        if self.config.read_only:
            raise ReadOnly(
                f"set_leverage({exchange_symbol}, {leverage}) was not sent: this bridge is read-only (read_only, set "
                "in a Freqtrade dry run), so nothing is written to the exchange"
            )
        self.intents.expect(unit, exchange_symbol, leverage, who)
        try:
            return await self.rest.set_leverage(unit, exchange_symbol, leverage)
        except Exception:
            self.intents.withdraw(unit, exchange_symbol, leverage)
            raise

    def followed_leverage(self, symbol: str) -> int | None:
        """The last leverage set outside this process for ``symbol`` (exchange id or unified): what the exchange
        has, unless this process's own writes changed it since (then what it had before them). Any thread."""
        coordinator, symbols = self.coordinator, self.book.symbols
        found = None if symbols is None else symbols.key(symbol)
        if found is None:
            return self.book.leverage(symbol)
        value = None if coordinator is None else coordinator.followed.get(found)
        return value if value is not None else self.book.leverage(found[1], found[0])

    def diagnostics(self, reason: str = "requested") -> dict[str, Any]:
        """Everything support would ask for, secrets redacted: config, stream, book counts, plugins and errors."""
        coordinator = self.coordinator
        stats = self.book.stats()
        dump: dict[str, Any] = {
            "config": self.config.public(),
            "available": self.available,
            "state": str(coordinator.state) if coordinator else "not started",
            "started_at": self.started_at,
            "book": {
                "symbols": stats.symbols,
                "events": stats.events,
                "stale": stats.stale,
                "duplicates": stats.duplicates,
                "snapshots": stats.snapshots,
                "kept_newer": stats.kept_newer,
                "superseded_snapshots": stats.superseded,
                "multi_assets": self.book.multi_assets,
                "dual_side_position": self.book.dual_side_position,
            },
            "positions": {
                **self.positions.stats(),
                "open_positions": [position_view(p) for p in self.positions.open_positions()],
            },
            "origin": {"matched_self": self.intents.matched, "expired_intents": self.intents.expired},
            "rest": {"calls": self.rest.calls, "used_weight_1m": self.rest.used_weight},
            "plugins": self.pm.describe(),
            "blocked_plugins": self.pm.blocked(),
            "plugin_errors": self.pm.error_counts(),
            "plugin_isolation": self.pm.isolation(),
        }
        if coordinator is not None:
            stream = coordinator.stream
            dump["stream"] = {
                "connections": stream.connections,
                "rotations": stream.rotations,
                "key_renewals": stream.key_renewals,
                "keepalives": stream.keepalives,
                "resyncs": coordinator.resyncs,
                "decode_errors": coordinator.decode_errors,
                "future_events": coordinator.future_events,
                "frame_failures": coordinator.frame_failures,
                "last_decode_error": coordinator.last_decode_error,
                "position_readbacks": coordinator.readback.reads,
                "position_readback_failures": coordinator.readback.failures,
                "unknown_event_types": dict(coordinator.unknown_event_types),
            }
        for name, section in self.pm.collect("pmbridge_diagnostics", DiagnosticsRequest(self.book, reason)):
            dump.setdefault("plugin_sections", {})[name] = section
        redacted: dict[str, Any] = redact(dump)
        return redacted
