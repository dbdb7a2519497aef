"""Replaying a recording: its frames and snapshots through decode -> the books -> the plugin hooks, in file order.

Used by ``pmbridge replay`` (with a plugin manager, paced) and ``LeverageTimeline`` (no plugins, as fast as possible).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from attrs import evolve

from .book import LeverageBook, PositionBook
from .const import AccountType
from .errors import UnknownEventError
from .events import AccountConfigUpdate, AccountUpdate, OrderUpdate, decode
from .manager import PluginManager
from .models import AccountModeChange, BridgeInfo, Change, LeverageChange, PositionChange, ReconcileReport, Shutdown
from .recording import FrameRecord, Header, MarketsRecord, Record, SnapshotRecord

__all__ = ["Replayed", "Replayer"]

Replayed = Change | PositionChange


class Replayer:
    """Applies records to ``book`` and ``positions`` the way the coordinator applies live ones, announcing changes
    through ``pm``.

    A frame takes the live path: ``decode``, then ``LeverageBook.apply`` for a config event or ``PositionBook.apply``
    for an ACCOUNT_UPDATE (so the order, duplicate and stale rules are the books' own; an ORDER_TRADE_UPDATE only
    marks a forced close as a liquidation, as live), then the change hooks. A snapshot line goes through both books'
    ``apply_snapshot`` at its place in the file, then ``pmbridge_reconciled`` (``pmbridge_ready`` after the first).
    A config event naming neither a symbol nor the flag made the live bridge resync; the snapshot that answered is
    the recording's next snapshot line, so the frame itself changes nothing here.

    What a replay cannot do is read back over REST: the live bridge held a change on a symbol with an open position
    until it had read the position back (its liquidation price, mark price, profit). Here every change goes out at
    once, with the figures the frame carried and the book last had; a leverage change's ``positions`` are the book's
    open positions of the symbol, and its ``origin`` is ``external`` (a recording holds no intents).

    ``apply`` raises ``DecodeError`` for a frame that does not decode (the live bridge dropped it too); events of
    unknown types are ignored, as live.
    """

    def __init__(
        self, pm: PluginManager | None = None, book: LeverageBook | None = None, positions: PositionBook | None = None
    ) -> None:
        self.pm = pm
        self.book = book if book is not None else LeverageBook()
        self.positions = positions if positions is not None else PositionBook(self.book)
        self.frames = 0
        self.snapshots = 0
        self.account: AccountType | None = None

    def apply(self, record: Record) -> tuple[Replayed, ...]:
        """Apply one record; return the changes it made (already announced), in the order they were announced."""
        if isinstance(record, FrameRecord):
            self.frames += 1
            return self._frame(record.frame)
        if isinstance(record, SnapshotRecord):
            return self._snapshot(record)
        if isinstance(record, MarketsRecord):
            self.book.symbols = record.symbols
        else:
            self.account = record.account
            if self.pm is not None:
                self._configure(record)
        return ()

    def finish(self, reason: str = "replay finished") -> None:
        """Announce ``pmbridge_shutdown`` once the recording is done (or abandoned)."""
        if self.pm is not None:
            self.pm.notify("pmbridge_shutdown", Shutdown(reason))

    def _configure(self, header: Header) -> None:
        assert self.pm is not None
        info = BridgeInfo(header.account, None, MappingProxyType({"replay": True}))
        self.pm.historic("pmbridge_configure", info)

    def _frame(self, frame: str) -> tuple[Replayed, ...]:
        try:
            event = decode(frame)
        except UnknownEventError:
            return ()
        if type(event) is AccountUpdate:
            return self._announce(self.positions.apply(event))
        if type(event) is OrderUpdate:
            self.positions.note_order(event)
            return ()
        if type(event) is not AccountConfigUpdate or (event.symbol is None and event.multi_assets is None):
            return ()
        symbols = self.book.symbols
        return self._announce(self.book.apply(event if symbols is None else symbols.corrected(event)))

    def _snapshot(self, record: SnapshotRecord) -> tuple[Replayed, ...]:
        first = self.snapshots == 0
        self.snapshots += 1
        # The line is the books as the live bridge held them after the snapshot: every earlier frame is already in it.
        mark = self.book.mark()
        changes = self.book.apply_snapshot(record.snapshot, requested_at=mark, source=record.source)
        moved: tuple[PositionChange, ...] = ()
        if record.positions is not None:  # a recording from before positions were recorded: the frames' say stands
            moved = self.positions.apply_snapshot(record.positions, requested_at=mark, source=record.source)
        # Leverage first, positions after, as the live resync announces them.
        announced = self._announce(changes) + self._announce(moved)
        if self.pm is not None:
            if first:
                self.pm.historic("pmbridge_ready", self.book)
            report = ReconcileReport(
                source=record.source,
                trigger=record.trigger,
                rest_calls=0,
                symbols=record.snapshot.symbols,
                duration_s=0.0,
                changes=changes,
                position_changes=moved,
                positions=len(self.positions),
            )
            self.pm.notify("pmbridge_reconciled", report)
        return announced

    def _announce(self, changes: tuple[Replayed, ...]) -> tuple[Replayed, ...]:
        announced = tuple(self._with_positions(c) if type(c) is LeverageChange else c for c in changes)
        if self.pm is not None:
            for change in announced:
                self.pm.notify(_HOOKS[type(change)], change)
        return announced

    def _with_positions(self, change: LeverageChange) -> LeverageChange:
        # Binance applies a leverage change to the symbol's open positions at once: so does the book.
        self.positions.refresh_leverage(change.unit, change.exchange_symbol, change.new)
        held = self.positions.open_positions(change.exchange_symbol)
        return evolve(change, positions=held) if held else change


_HOOKS: Final[dict[type, str]] = {
    LeverageChange: "pmbridge_leverage_changed",
    AccountModeChange: "pmbridge_account_mode_changed",
    PositionChange: "pmbridge_position_changed",
}
