"""Replaying a recording: its frames and snapshots through decode -> LeverageBook -> the plugin hooks, in file order.

Used by ``pmbridge replay`` (with a plugin manager, paced) and ``LeverageTimeline`` (no plugins, as fast as possible).
"""

from __future__ import annotations

from types import MappingProxyType

from .book import LeverageBook
from .const import AccountType
from .errors import UnknownEventError
from .events import AccountConfigUpdate, decode
from .manager import PluginManager
from .models import BridgeInfo, Change, ReconcileReport, Shutdown
from .recording import FrameRecord, Header, MarketsRecord, Record, SnapshotRecord

__all__ = ["Replayer"]


class Replayer:
    """Applies records to ``book`` the way the coordinator applies live ones, announcing changes through ``pm``.

    A frame takes the live path: ``decode``, ``LeverageBook.apply`` (so the order, duplicate and stale rules are the
    book's own), then ``pmbridge_leverage_changed`` / ``pmbridge_account_mode_changed``. A snapshot line goes through
    ``apply_snapshot`` at its place in the file, then ``pmbridge_reconciled`` (``pmbridge_ready`` after the first).
    A config event naming neither a symbol nor the flag made the live bridge resync; the snapshot that answered is
    the recording's next snapshot line, so the frame itself changes nothing here.

    ``apply`` raises ``DecodeError`` for a frame that does not decode (the live bridge dropped it too); events of
    unknown types are ignored, as live.
    """

    def __init__(self, pm: PluginManager | None = None, book: LeverageBook | None = None) -> None:
        self.pm = pm
        self.book = book if book is not None else LeverageBook()
        self.frames = 0
        self.snapshots = 0
        self.account: AccountType | None = None

    def apply(self, record: Record) -> tuple[Change, ...]:
        """Apply one record; return the changes it made (already announced)."""
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

    def _frame(self, frame: str) -> tuple[Change, ...]:
        try:
            event = decode(frame)
        except UnknownEventError:
            return ()
        if type(event) is not AccountConfigUpdate or (event.symbol is None and event.multi_assets is None):
            return ()
        symbols = self.book.symbols
        changes = self.book.apply(event if symbols is None else symbols.corrected(event))
        self._announce(changes)
        return changes

    def _snapshot(self, record: SnapshotRecord) -> tuple[Change, ...]:
        first = self.snapshots == 0
        self.snapshots += 1
        # The line is the book as the live bridge held it after the snapshot: every earlier frame is already in it.
        changes = self.book.apply_snapshot(record.snapshot, requested_at=self.book.mark(), source=record.source)
        self._announce(changes)
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
            )
            self.pm.notify("pmbridge_reconciled", report)
        return changes

    def _announce(self, changes: tuple[Change, ...]) -> None:
        if self.pm is not None:
            self.pm.announce(changes)
