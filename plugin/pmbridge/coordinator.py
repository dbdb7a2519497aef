"""The coordinator: one per account. Merges push (the stream) and poll (REST snapshots) into the book, in order.

Live events always go straight to the book. A snapshot is taken after every connection with a possible gap, on a
fixed cadence that pushes do not reset, and on request; the book's mark/apply_snapshot seam settles every race: a
symbol written by an event received after the snapshot was requested keeps the event's value, and everything else
takes the snapshot's. (Holding events back while a snapshot is in flight would only make them late: when two
snapshots overlap, events held for the first would be applied after the second, newer one.) Every change goes out
through the plugin manager; availability is announced once when lost and once when back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Final

from attrs import evolve

from .book import LeverageBook, PositionBook
from .config import BridgeConfig
from .const import Source, Unit
from .errors import AuthenticationFailed, ClientClosed, DecodeError, ExchangeError, UnknownEventError
from .events import AccountConfigUpdate, AccountUpdate, ListenKeyExpired, OrderUpdate, decode
from .lograte import LogRate
from .manager import PluginManager
from .models import Change, LeverageChange, PositionChange, ReconcileReport, StreamState, StreamStateChange
from .origin import Intents
from .readback import ReadBack
from .readings import leverage_snapshot, positions_snapshot
from .rest import RestClient
from .retry import Backoff
from .stream import UserStream

log = logging.getLogger(__name__)

FUTURE_HORIZON_S: Final = 86_400.0
"""An event dated further ahead of the local clock than this (times ``time_scale``) is dropped as corrupt."""

FrameObserver = Callable[[str | bytes, float], None]
"""Sees every raw frame and its receive time (``time.time()``) before it is decoded, e.g. ``pmbridge record``."""


class Coordinator:
    def __init__(
        self,
        config: BridgeConfig,
        pm: PluginManager,
        book: LeverageBook,
        rest: RestClient,
        *,
        positions: PositionBook | None = None,
        intents: Intents | None = None,
        frame_observer: FrameObserver | None = None,
    ) -> None:
        self.config = config
        self.pm = pm
        self.book = book
        self.positions = positions if positions is not None else PositionBook(book)
        self.intents = intents if intents is not None else Intents()
        self.readback = ReadBack(rest, book, self.positions, pm, enabled=config.position_readback)
        self.followed: dict[tuple[Unit, str], int] = {}
        """Per symbol, the last leverage set outside this process: what ``follow`` adopts even after this process's
        host re-sent an older value (Freqtrade does before each DCA and stoploss order)."""
        self.rest = rest
        self.state = StreamState.STARTING
        self.stream = UserStream(
            config, rest, on_frame=self.on_frame, on_connected=self._connected, on_disconnected=self._disconnected
        )
        self.ready = asyncio.Event()
        """Set once the first snapshot is in the book."""
        self.resyncs = 0
        self.decode_errors = 0
        self.unknown_event_types: dict[str, int] = {}
        self.last_decode_error: str | None = None
        self.future_events = 0
        self.frame_failures = 0
        self._horizon_ms = 0
        self._log_rate = LogRate()
        self._resync_task: asyncio.Task[None] | None = None
        self._resync_again = False
        self._fatal: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._backoff = Backoff(config.backoff_initial, config.backoff_max)
        self._frame_observer = frame_observer

    # -- frames (the hot path) ----------------------------------------------------------------------------------
    def on_frame(self, raw: str | bytes) -> None:
        if self._frame_observer is not None:
            try:
                self._frame_observer(raw, time.time())
            except Exception:  # an observer must never stop the stream
                log.exception("the frame observer raised; the frame is still applied")
        try:
            event = decode(raw)
        except UnknownEventError as exc:
            seen = self.unknown_event_types.get(exc.event_type, 0)
            if not seen:
                log.info("ignoring user-stream events of unknown type %r (logged once per type)", exc.event_type)
            self.unknown_event_types[exc.event_type] = seen + 1
            return
        except DecodeError as exc:
            self.decode_errors += 1
            self.last_decode_error = str(exc)
            since = self._log_rate.due("decode")
            if since is not None:
                log.warning(
                    "dropped a malformed frame: %s (%d malformed since the last report; the next reconcile restores "
                    "anything they hid)",
                    exc,
                    since,
                )
            return
        try:
            if type(event) is AccountConfigUpdate:
                if event.event_time > self._horizon_ms and self._from_the_future(event.event_time):
                    return
                if event.symbol is None and event.multi_assets is None:
                    self.request_resync("config_event")  # "something changed": Binance did not say what
                else:
                    self.announce(self.book.apply(self._with_unit(event)))
            elif type(event) is AccountUpdate:
                if event.event_time > self._horizon_ms and self._from_the_future(event.event_time):
                    return
                self.announce_positions(self.positions.apply(event))
            elif type(event) is OrderUpdate:
                self.positions.note_order(event)
            elif type(event) is ListenKeyExpired:
                self.stream.renew_key("Binance said the listenKey expired (listenKeyExpired)")
        except Exception:  # a bug here must cost one frame, never the stream (the reconcile restores the book)
            self.frame_failures += 1
            log.exception("applying a decoded frame failed (a bug: please report it); the stream goes on")

    def _from_the_future(self, event_time: int) -> bool:
        """True (and counted) if ``event_time`` lies beyond the horizon: no real event is dated a day ahead.

        Such a frame is corrupt, and applying it would make every real event of that symbol look stale until a
        restart. The horizon is recomputed only when an event passes the cached one, so the hot path pays a compare.
        """
        window_s = FUTURE_HORIZON_S * self.config.time_scale  # the simulator's compressed clock runs ahead
        self._horizon_ms = int((time.time() + window_s) * 1000)
        if event_time <= self._horizon_ms:
            return False
        self.future_events += 1
        since = self._log_rate.due("future")
        if since is not None:
            log.warning(
                "dropped an event dated %d ms, more than %.0f h ahead of this machine's clock (%d such since the last "
                "report): a corrupt frame, or this machine's clock is far behind; the next reconcile restores the "
                "truth",
                event_time,
                window_s / 3600,
                since,
            )
        return True

    def announce(self, changes: tuple[Change, ...], readback: bool = True) -> None:
        """Leverage and mode changes to the hooks: each leverage change with its origin, and, on a symbol with open
        positions, after the positions were read back (``readback``; a snapshot brings its own reading)."""
        for change in changes:
            if type(change) is not LeverageChange:
                self.pm.notify("pmbridge_account_mode_changed", change)
                continue
            ours = bool(self.intents) and self.intents.match(change.unit, change.exchange_symbol, change.new)
            leverage = evolve(change, origin="self") if ours else change
            if not ours:
                self.followed[(change.unit, change.exchange_symbol)] = change.new
            self.positions.refresh_leverage(leverage.unit, leverage.exchange_symbol, leverage.new)
            if self.readback.queued(leverage.exchange_symbol) or (readback and self.readback.needed(leverage)):
                self.readback.hold(leverage)
            elif self.positions.has_open(leverage.unit, leverage.exchange_symbol):
                positions = self.positions.open_positions(leverage.exchange_symbol)
                self.pm.notify("pmbridge_leverage_changed", evolve(leverage, positions=positions))
            else:
                self.pm.notify("pmbridge_leverage_changed", leverage)

    def announce_positions(self, changes: tuple[PositionChange, ...]) -> None:
        """Position changes to ``pmbridge_position_changed``; a stream change on an open position waits for the
        read-back that brings its liquidation price."""
        for change in changes:
            queued = self.readback.queued(change.exchange_symbol)
            if queued or (change.source == "stream" and self.readback.needed(change)):
                self.readback.hold(change)
            else:
                self.pm.notify("pmbridge_position_changed", change)

    def _with_unit(self, event: AccountConfigUpdate) -> AccountConfigUpdate:
        symbols = self.book.symbols
        return event if symbols is None else symbols.corrected(event)

    # -- connection state ---------------------------------------------------------------------------------------
    def _set_state(self, new: StreamState, reason: str) -> None:
        old = self.state
        if old is new:
            return
        self.state = new
        # Availability is logged once when lost and once when back; every transition goes to the hook.
        if new is StreamState.STOPPED:
            log.info("pmbridge stopped: %s", reason)
        elif old is StreamState.CONNECTED:
            log.warning("pmbridge unavailable: %s", reason)
        elif new is StreamState.CONNECTED and self.resyncs > 1:
            log.warning("pmbridge available again: %s", reason)
        self.pm.notify("pmbridge_stream_state_changed", StreamStateChange(old, new, reason, time.time()))

    async def close(self) -> None:
        """Cancel a snapshot in flight (or retrying against a down exchange): nothing runs after the bridge stops."""
        task, self._resync_task = self._resync_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.readback.close()

    def stopped(self, reason: str) -> None:
        """The bridge unloaded: the last transition, announced like the others."""
        self._set_state(StreamState.STOPPED, reason)

    def _connected(self, gap: bool, reason: str) -> None:
        if gap:
            self.request_resync("connect", reason)
        else:
            log.info("%s", reason)

    def _disconnected(self, reason: str) -> None:
        self._set_state(StreamState.DISCONNECTED, reason)

    # -- resync -------------------------------------------------------------------------------------------------
    def request_resync(self, trigger: str, reason: str | None = None) -> None:
        """Take a snapshot soon (live events keep flowing into the book). Coalesces with one already running."""
        if trigger == "connect":
            self._set_state(StreamState.RESYNCING, reason or "resyncing")
        if self._resync_task is not None and not self._resync_task.done():
            self._resync_again = True
            return
        self._resync_task = asyncio.create_task(self._resync_until_done(trigger), name="pmbridge-resync")

    async def _resync_until_done(self, trigger: str) -> None:
        while True:
            try:
                await self.resync(trigger)
            except AuthenticationFailed as exc:
                self.fail(str(exc))
                return
            except ClientClosed:  # the bridge is stopping: no snapshot can be taken any more
                return
            except ExchangeError as exc:  # retryable errors were already retried inside rest
                delay = self._backoff.next()
                log.warning("snapshot failed (%s); trying again in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            self._backoff.reset()
            if not self._resync_again:
                return
            self._resync_again = False

    async def resync(self, trigger: str) -> ReconcileReport:
        """One snapshot: mark, fetch, apply (events received meanwhile win), announce. Returns the report."""
        started = time.perf_counter()
        calls_before = self.rest.calls
        kept_before = self.book.stats().kept_newer
        mark = self.book.mark()
        symbols = self.book.symbols
        if symbols is None:
            raise ExchangeError("markets are not loaded: the bridge must be started first")
        snapshot, reading = await asyncio.gather(leverage_snapshot(self.rest), positions_snapshot(self.rest, symbols))
        first = not self.ready.is_set()
        source: Source = "snapshot" if first else "reconcile"
        changes = self.book.apply_snapshot(snapshot, requested_at=mark, source=source)
        position_changes = self.positions.apply_snapshot(reading, requested_at=mark, source=source)
        kept_newer = self.book.stats().kept_newer - kept_before
        self.resyncs += 1
        self.announce(changes, readback=False)  # the reading just taken is the read-back
        self.announce_positions(position_changes)
        report = ReconcileReport(
            source=source,
            trigger=trigger,
            rest_calls=self.rest.calls - calls_before,
            symbols=snapshot.symbols,
            duration_s=time.perf_counter() - started,
            changes=changes,
            kept_newer=kept_newer,
            position_changes=position_changes,
            positions=len(self.positions),
        )
        if first:
            self.ready.set()
            self.pm.historic("pmbridge_ready", self.book)
        if self.state is StreamState.RESYNCING:
            self._set_state(StreamState.CONNECTED, f"snapshot applied ({trigger}), live events flowing")
        self.pm.notify("pmbridge_reconciled", report)
        return report

    async def reconcile_forever(self) -> None:
        """The fixed cadence: every ``reconcile_interval``, whatever the stream pushed in between."""
        interval = self.config.scaled(self.config.reconcile_interval)
        loop = asyncio.get_running_loop()
        next_run = loop.time() + interval
        while True:
            await asyncio.sleep(max(0.0, next_run - loop.time()))
            next_run += interval
            if self.state is StreamState.CONNECTED:
                self.request_resync("interval")

    # -- failure ------------------------------------------------------------------------------------------------
    def fail(self, reason: str) -> None:
        """Something retrying cannot fix happened: the bridge stops with ``reason``."""
        if not self._fatal.done():
            self._fatal.set_result(reason)

    async def wait_fatal(self) -> str:
        return await self._fatal
