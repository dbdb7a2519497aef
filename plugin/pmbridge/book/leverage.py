"""LeverageBook: the ordered truth of every symbol's leverage and the account flags.

One writer (the coordinator's loop) applies events and snapshots; any thread reads. Entries are immutable and replaced
by a single dict assignment, so a reader sees the old entry or the new one, never half of each, and never waits.
Order: per ``(unit, symbol)`` the last writer by ``(E, T)`` wins. A snapshot carries no time of its own, so it is
ordered by *receipt*: ``mark()`` before the REST request, pass the mark to ``apply_snapshot``, and any entry written by
an event received after the mark is kept over the snapshot's (possibly older) value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import NamedTuple

from attrs import frozen

from ..const import AccountSetting, Source, Unit
from ..events import AccountConfigUpdate, unit_of
from ..models import AccountModeChange, Change, LeverageChange, stream_leverage_change
from ..symbols import SymbolMap
from .ordering import NEWER as _NEWER
from .ordering import STALE as _STALE
from .ordering import order as _order

__all__ = ["BookEntry", "BookStats", "FlagEntry", "LeverageBook", "Snapshot"]


class BookEntry(NamedTuple):
    """One symbol's leverage. ``event_time`` is the newest event time known for the symbol: a snapshot, which has
    no time, keeps the previous one as a floor so that late copies of older frames are still recognised as stale.

    A named tuple: immutable like the rest, and 4x cheaper to build than a frozen attrs class on the hot path.
    """

    leverage: int
    event_time: int | None
    transaction_time: int | None
    source: Source
    seq: int
    """Receipt position (see ``LeverageBook.mark``)."""


class FlagEntry(NamedTuple):
    value: bool
    event_time: int | None
    transaction_time: int | None
    source: Source
    seq: int


@frozen(slots=True)
class Snapshot:
    """A REST view of the account: leverage per unit and symbol, and the flags (None where not fetched)."""

    leverage: Mapping[Unit, Mapping[str, int]]
    multi_assets: bool | None = None
    dual_side_position: bool | None = None

    @property
    def symbols(self) -> int:
        return sum(len(by_symbol) for by_symbol in self.leverage.values())


@frozen(slots=True)
class BookStats:
    events: int
    stale: int
    duplicates: int
    snapshots: int
    kept_newer: int
    symbols: int
    superseded: int = 0
    """Snapshots skipped because one requested later had already been applied."""


def _floor(entry: BookEntry | FlagEntry | None) -> tuple[int | None, int | None]:
    """The (E, T) a snapshot keeps from the entry it replaces, so late copies of older frames stay stale."""
    return (None, None) if entry is None else (entry.event_time, entry.transaction_time)


class LeverageBook:
    """``(unit, exchange symbol) -> BookEntry`` plus the account flags. See the module docstring for the order.

    Single writer: ``apply``, ``apply_snapshot`` and ``mark`` belong to one thread (the bridge's loop). Reads are
    safe from any thread at any time.
    """

    def __init__(self, symbols: SymbolMap | None = None) -> None:
        self._entries: dict[tuple[Unit, str], BookEntry] = {}
        self._flags: dict[AccountSetting, FlagEntry] = {}
        self._seq = 0
        self._events = self._stale = self._duplicates = self._snapshots = self._kept_newer = 0
        self._superseded = 0
        self._snapshot_mark = -1
        self.symbols: SymbolMap | None = symbols
        """Market metadata: fills ``LeverageChange.symbol`` and lets readers ask by unified symbol."""

    # -- writing ---------------------------------------------------------------------------------------------
    def mark(self) -> int:
        """A new position in the receipt order. Take it *before* requesting a snapshot; pass it to ``apply_snapshot``.

        Every mark is distinct, so two snapshots in flight together are ordered by when they were requested."""
        self._seq += 1
        return self._seq

    def apply(self, event: AccountConfigUpdate) -> tuple[Change, ...]:
        """Apply one decoded event; return the real changes (none for a duplicate, stale or no-op event)."""
        self._seq += 1
        self._events += 1
        seq = self._seq
        changes: tuple[Change, ...] = ()
        e, t = event.event_time, event.transaction_time
        if event.symbol is not None and event.leverage is not None:
            key = (event.unit, event.symbol)
            entry = self._entries.get(key)
            if entry is None or (entry.event_time is not None and e > entry.event_time):
                verdict = _NEWER  # the common case, decided without a call
            else:
                verdict = _order(entry.event_time, entry.transaction_time, e, t)
            if verdict == _NEWER:
                self._entries[key] = BookEntry(event.leverage, e, t, "stream", seq)
                if entry is None or entry.leverage != event.leverage:
                    symbols = self.symbols
                    changes = (
                        stream_leverage_change(
                            key[0],
                            key[1],
                            None if entry is None else entry.leverage,
                            event.leverage,
                            e,
                            t,
                            None if symbols is None else symbols.unified(*key),
                        ),
                    )
            else:
                self._count(verdict)
        if event.multi_assets is not None:
            change = self._set_flag_from_event("multi_assets", event.multi_assets, e, t, seq)
            if change is not None:
                changes = (*changes, change)
        return changes

    def apply_snapshot(
        self, snapshot: Snapshot, *, requested_at: int, source: Source = "snapshot"
    ) -> tuple[Change, ...]:
        """Apply a REST snapshot requested at receipt position ``requested_at`` (from ``mark()``).

        Entries written by an event received after that position are kept (counted in ``kept_newer``); every other
        difference is applied and returned as a change with ``source``.
        """
        self._snapshots += 1
        if requested_at < self._snapshot_mark:
            # Requested before a snapshot already applied: that one is as new or newer for everything it covered,
            # and values it merely confirmed left no trace this older one could respect. Skip it whole.
            self._superseded += 1
            return ()
        self._snapshot_mark = requested_at
        # Entries a snapshot writes are as new as its request: a later snapshot replaces them, an older one cannot.
        seq = requested_at
        changes: list[Change] = []
        for unit, by_symbol in snapshot.leverage.items():
            for symbol, leverage in by_symbol.items():
                key = (unit, symbol)
                entry = self._entries.get(key)
                if not self._snapshot_wins(entry, leverage, requested_at):
                    continue
                self._entries[key] = BookEntry(leverage, *_floor(entry), source, seq)
                changes.append(self._leverage_change(key, entry, leverage, source, None, None))
        flags: tuple[tuple[AccountSetting, bool | None], ...] = (
            ("multi_assets", snapshot.multi_assets),
            ("dual_side_position", snapshot.dual_side_position),
        )
        for setting, value in flags:
            if value is None:
                continue
            flag = self._flags.get(setting)
            if not self._snapshot_wins(flag, value, requested_at):
                continue
            self._flags[setting] = FlagEntry(value, *_floor(flag), source, seq)
            changes.append(AccountModeChange(setting, None if flag is None else flag.value, value, source, None))
        return tuple(changes)

    def _snapshot_wins(self, entry: BookEntry | FlagEntry | None, value: object, requested_at: int) -> bool:
        """Whether a snapshot value replaces ``entry``: not if an event received after the request wrote it."""
        if entry is None:
            return True
        if entry.seq > requested_at:
            self._kept_newer += 1
            return False
        current = entry.leverage if isinstance(entry, BookEntry) else entry.value
        return current != value

    def _set_flag_from_event(
        self, setting: AccountSetting, value: bool, e: int, t: int | None, seq: int
    ) -> AccountModeChange | None:
        flag = self._flags.get(setting)
        verdict = _NEWER if flag is None else _order(flag.event_time, flag.transaction_time, e, t)
        if verdict != _NEWER:
            self._count(verdict)
            return None
        self._flags[setting] = FlagEntry(value, e, t, "stream", seq)
        if flag is not None and flag.value == value:
            return None
        return AccountModeChange(setting, None if flag is None else flag.value, value, "stream", e, t)

    def _count(self, verdict: int) -> None:
        if verdict == _STALE:
            self._stale += 1
        else:
            self._duplicates += 1

    def _leverage_change(
        self, key: tuple[Unit, str], entry: BookEntry | None, new: int, source: Source, e: int | None, t: int | None
    ) -> LeverageChange:
        unified = None if self.symbols is None else self.symbols.unified(*key)
        old = None if entry is None else entry.leverage
        return LeverageChange(key[0], key[1], old, new, source, e, t, unified)

    # -- reading (any thread, never blocks) ------------------------------------------------------------------
    def get(self, symbol: str, unit: Unit | None = None) -> BookEntry | None:
        """The entry for an exchange id (``BTCUSDT``) or, with markets loaded, a unified symbol (``BTC/USDT:USDT``)."""
        if "/" in symbol:
            if self.symbols is None:
                return None
            found = self.symbols.exchange_id(symbol)
            if found is None:
                return None
            unit, symbol = found
        return self._entries.get((unit or unit_of(symbol), symbol))

    def leverage(self, symbol: str, unit: Unit | None = None) -> int | None:
        """The exchange's leverage for ``symbol`` as far as the book knows, or None."""
        entry = self.get(symbol, unit)
        return None if entry is None else entry.leverage

    def flag(self, setting: AccountSetting) -> bool | None:
        entry = self._flags.get(setting)
        return None if entry is None else entry.value

    @property
    def multi_assets(self) -> bool | None:
        return self.flag("multi_assets")

    @property
    def dual_side_position(self) -> bool | None:
        return self.flag("dual_side_position")

    def entries(self) -> dict[tuple[Unit, str], BookEntry]:
        """A consistent copy of every entry (copying a dict is atomic under the GIL)."""
        return self._entries.copy()

    def flags(self) -> dict[AccountSetting, FlagEntry]:
        return self._flags.copy()

    def stats(self) -> BookStats:
        return BookStats(
            self._events,
            self._stale,
            self._duplicates,
            self._snapshots,
            self._kept_newer,
            len(self._entries),
            self._superseded,
        )

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[tuple[Unit, str]]:
        return iter(self.entries())

    def __repr__(self) -> str:
        return f"<LeverageBook symbols={len(self._entries)} multi_assets={self.multi_assets}>"
