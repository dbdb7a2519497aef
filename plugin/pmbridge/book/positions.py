"""PositionBook: every position of the account, per (unit, symbol, side), in the same order as the leverage book.

Fed live by ``ACCOUNT_UPDATE`` rows and corrected by REST readings (``apply_snapshot``: a full snapshot on every gap
and on the cadence, or a read-back of a few symbols after a change). The rules are the leverage book's: per key the
last writer by (E, T) wins; a reading has no event time, so it is ordered by receipt (``mark()`` before the request)
and an entry written by an event received after the mark is kept; a reading requested before one already applied is
skipped wherever that one covered (as the leverage book skips a superseded snapshot). A reading lists open positions
only: a key it does not list (in the units or symbols it covers) is flat.

A change is announced when the amount, entry price, margin type or isolated margin moves: the liquidation price,
mark price and unrealized profit follow the market and are refreshed silently by readings.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Final, NamedTuple

from attrs import evolve, frozen

from ..const import PositionSide, Source, Unit
from ..events import unit_of
from ..models import Position, PositionChange
from .ordering import NEWER, STALE, order

if TYPE_CHECKING:
    from ..events import AccountUpdate, OrderUpdate
    from ..symbols import SymbolMap
    from .leverage import LeverageBook

Key = tuple[Unit, str, PositionSide]
ZERO: Final = Decimal(0)
LIQUIDATION_MEMORY_MS: Final = 60_000
"""How long a forced order (``autoclose-``) marks its symbol: a close within it is reported as a liquidation."""


class _Entry(NamedTuple):
    position: Position
    event_time: int | None
    transaction_time: int | None
    seq: int


@frozen(slots=True)
class PositionSnapshot:
    """A REST reading: ``positions`` (open ones), the ``units`` it covers, and, for a read-back, the ``symbols``."""

    positions: tuple[Position, ...]
    units: frozenset[Unit]
    symbols: frozenset[str] | None = None
    """Exchange ids read; None for a full snapshot (everything in ``units``)."""

    def covers(self, key: Key) -> bool:
        return key[0] in self.units and (self.symbols is None or key[1] in self.symbols)


class PositionBook:
    """Single writer (the bridge's loop); ``get``/``open_positions`` are safe from any thread (entries are immutable
    and swapped by one dict assignment)."""

    def __init__(self, leverage: LeverageBook) -> None:
        self._entries: dict[Key, _Entry] = {}
        self._open: dict[tuple[Unit, str], frozenset[PositionSide]] = {}
        """Sides open per symbol: the hot path asks "does this symbol hold a position?" on every leverage event."""
        self._leverage = leverage
        self._liquidating: dict[tuple[str, PositionSide], int] = {}
        self._read_at: dict[tuple[Unit, str | None], int] = {}
        """Request mark of the newest reading applied, per unit (symbol None: a full snapshot) and per symbol read
        back: an older reading landing later must not touch what a newer one covered, even where the newer one
        wrote nothing (a position it found flat, as the book had it, leaves no entry to be ordered against)."""
        self.events = self.stale = self.duplicates = self.snapshots = self.kept_newer = self.superseded = 0

    @property
    def symbols(self) -> SymbolMap | None:
        return self._leverage.symbols

    # -- writing ---------------------------------------------------------------------------------------------------
    def mark(self) -> int:
        """A receipt position shared with the leverage book: take it before requesting a reading."""
        return self._leverage.mark()

    def note_order(self, update: OrderUpdate) -> None:
        """Remember forced orders (liquidation, auto-deleveraging): a close they cause is reported as liquidated."""
        if update.liquidation:
            self._liquidating[(update.symbol, update.position_side)] = update.event_time

    def apply(self, update: AccountUpdate) -> tuple[PositionChange, ...]:
        """Apply one ACCOUNT_UPDATE; the positions whose amount, entry or margin changed."""
        seq = self._leverage.mark()
        self.events += 1
        changes = []
        for row in update.positions:
            unit = row.unit if self.symbols is None else self.symbols.unit_of(row.symbol)
            key: Key = (unit, row.symbol, row.side)
            entry = self._entries.get(key)
            if entry is not None:
                verdict = order(entry.event_time, entry.transaction_time, update.event_time, update.transaction_time)
                if verdict != NEWER:
                    if verdict == STALE:
                        self.stale += 1
                    else:
                        self.duplicates += 1
                    continue
            old = None if entry is None else entry.position
            moved = old is None or (old.amount, old.entry_price) != (row.amount, row.entry_price)
            position = Position(
                unit,
                row.symbol,
                row.side,
                row.amount,
                row.entry_price,
                self._unified(unit, row.symbol),
                self._leverage.leverage(row.symbol, unit),
                row.margin_type or (old.margin_type if old else None) or ("cross" if update.hint else None),
                row.isolated_wallet if row.margin_type == "isolated" else None,
                # The stream carries no liquidation price: an earlier reading's stays true only if nothing moved.
                None if moved or old is None else old.liquidation_price,
                row.unrealized_pnl,
                None if old is None else old.mark_price,
                row.break_even_price,
                update.event_time,
                "stream",
            )
            self._write(key, _Entry(position, update.event_time, update.transaction_time, seq))
            change = self._change(old, position, "stream", update.event_time, update.transaction_time, update.reason)
            if change is not None:
                changes.append(change)
        return tuple(changes)

    def apply_snapshot(
        self, snapshot: PositionSnapshot, *, requested_at: int, source: Source = "snapshot"
    ) -> tuple[PositionChange, ...]:
        """Apply a REST reading requested at ``requested_at``; every difference from it is a change with ``source``
        (entries written by events received after the request are kept, counted in ``kept_newer``)."""
        self.snapshots += 1
        read = {(p.unit, p.exchange_symbol, p.side): p for p in snapshot.positions}
        changes: list[PositionChange] = []
        keys = [k for k in self._entries if snapshot.covers(k) and k not in read]
        for key in [*read, *keys]:
            if max(self._read_at.get((key[0], None), -1), self._read_at.get(key[:2], -1)) > requested_at:
                self.superseded += 1
                continue
            entry = self._entries.get(key)
            if entry is not None and entry.seq > requested_at:
                self.kept_newer += 1
                continue
            found = read.get(key)
            old = None if entry is None else entry.position
            if found is None:
                if old is None or not old.is_open:
                    continue
                found = evolve(old, amount=ZERO, unrealized_pnl=ZERO, liquidation_price=None, source=source)
            else:
                # The reading's leverage is as of the request; a leverage event received since is newer (and a
                # reading without leverage, fapi v3, takes the book's).
                newer = self._leverage.get(key[1], key[0])
                if found.leverage is None or (newer is not None and newer.seq > requested_at):
                    found = evolve(found, leverage=None if newer is None else newer.leverage)
            floor = (None, None) if entry is None else (entry.event_time, entry.transaction_time)
            self._write(key, _Entry(evolve(found, source=source), *floor, requested_at))
            change = self._change(old, self._entries[key].position, source, None, None, None)
            if change is not None:
                changes.append(change)
        for unit in snapshot.units:
            for symbol in (None,) if snapshot.symbols is None else snapshot.symbols:
                self._read_at[(unit, symbol)] = max(self._read_at.get((unit, symbol), -1), requested_at)
        return tuple(changes)

    def _write(self, key: Key, entry: _Entry) -> None:
        self._entries[key] = entry
        sides = self._open.get(key[:2], frozenset())
        sides = sides | {key[2]} if entry.position.is_open else sides - {key[2]}
        if sides:
            self._open[(key[0], key[1])] = sides
        else:
            self._open.pop((key[0], key[1]), None)

    def _change(
        self,
        old: Position | None,
        new: Position,
        source: Source,
        event_time: int | None,
        transaction_time: int | None,
        reason: str | None,
    ) -> PositionChange | None:
        was_open = old is not None and old.is_open
        if not was_open and not new.is_open:
            return None
        if not was_open:
            kind = "opened"
        elif not new.is_open:
            kind = "liquidated" if self._forced(new, event_time) else "closed"
        elif old is not None and _material(old) == _material(new):
            return None
        else:
            kind = "changed"
        return PositionChange(kind, new, old, source, event_time, transaction_time, reason)  # type: ignore[arg-type]

    def _forced(self, position: Position, event_time: int | None) -> bool:
        marked = self._liquidating.pop((position.exchange_symbol, position.side), None)
        if marked is None:
            return False
        return event_time is None or abs(event_time - marked) <= LIQUIDATION_MEMORY_MS

    def _unified(self, unit: Unit, exchange_symbol: str) -> str | None:
        symbols = self.symbols
        return None if symbols is None else symbols.unified(unit, exchange_symbol)

    def refresh_leverage(self, unit: Unit, exchange_symbol: str, leverage: int) -> None:
        """The symbol's leverage changed: its open positions now run at it (Binance applies it at once)."""
        for side in self._open.get((unit, exchange_symbol), ()):
            key: Key = (unit, exchange_symbol, side)
            entry = self._entries[key]
            if entry.position.leverage != leverage:
                self._entries[key] = entry._replace(position=evolve(entry.position, leverage=leverage))

    # -- reading ---------------------------------------------------------------------------------------------------
    def get(self, symbol: str, side: PositionSide = "BOTH", unit: Unit | None = None) -> Position | None:
        """The position of an exchange id or unified symbol and side, or None if the book never saw one."""
        found = self._resolve(symbol, unit)
        if found is None:
            return None
        entry = self._entries.get((found[0], found[1], side))
        return None if entry is None else entry.position

    def open_positions(self, symbol: str | None = None) -> tuple[Position, ...]:
        """Every open position (of ``symbol``, an exchange id or unified symbol, if given)."""
        if symbol is None:
            return tuple(e.position for e in list(self._entries.values()) if e.position.is_open)
        found = self._resolve(symbol, None)
        if found is None:
            return ()
        return tuple(self._entries[(*found, side)].position for side in sorted(self._open.get(found, ())))

    def has_open(self, unit: Unit, exchange_symbol: str) -> bool:
        return (unit, exchange_symbol) in self._open

    def _resolve(self, symbol: str, unit: Unit | None) -> tuple[Unit, str] | None:
        if self.symbols is not None:
            return self.symbols.key(symbol, unit)
        return None if "/" in symbol else (unit or unit_of(symbol), symbol)

    def __len__(self) -> int:
        return sum(len(sides) for sides in list(self._open.values()))

    def stats(self) -> Mapping[str, int]:
        return {"open": len(self), "events": self.events, "stale": self.stale, "duplicates": self.duplicates,
                "readings": self.snapshots, "kept_newer": self.kept_newer, "superseded": self.superseded}  # fmt: skip


def _material(p: Position) -> tuple[object, ...]:
    return (p.amount, p.entry_price, p.margin_type, p.isolated_margin)
