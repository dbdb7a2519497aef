"""The invariants a chaos run checks, as pure functions of what was announced, what was true and what the book holds.

Per setting (a symbol's leverage, or an account flag) and per position (a symbol and side: amount and entry price),
the announced values must be a subsequence of the true history: a snapshot may skip values lost in a gap, but a pushed
value must be the exact ``(E, T, value)`` the exchange pushed, nothing may go back to an older value, and nothing may
be announced twice. Each announcement's ``old`` must be the previous one's ``new`` (hooks see every change the book
made, and only those), and the last one must be the truth.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, NamedTuple, TypeVar

from ...book import LeverageBook, PositionBook
from ...models import AccountModeChange, LeverageChange, Position, PositionChange


class PositionValue(NamedTuple):
    """What the history keeps of a position: amount and entry price (a flat one is ``FLAT``, whatever its entry)."""

    amount: Decimal
    entry_price: Decimal

    def __repr__(self) -> str:
        return "flat" if not self.amount else f"{self.amount}@{self.entry_price}"


FLAT = PositionValue(Decimal(0), Decimal(0))
Setting = int | bool
Value = Setting | PositionValue
V = TypeVar("V", bound=Value)


def position_value(amount: Decimal | str, entry_price: Decimal | str) -> PositionValue:
    amount = Decimal(amount)
    return FLAT if not amount else PositionValue(amount, Decimal(entry_price))


def _value_of(position: Position | None) -> PositionValue:
    return FLAT if position is None else position_value(position.amount, position.entry_price)


@dataclass(frozen=True, slots=True)
class TrueValue(Generic[V]):
    """One record of the simulator's history: the value a setting took, with the event that pushed it."""

    event_ms: int | None
    """None for the value the account started with."""
    transaction_ms: int | None
    value: V


@dataclass(frozen=True, slots=True)
class Announcement:
    """What a hook said about one setting: ``old`` -> ``new``, from ``source``, with the event time when pushed."""

    source: str
    event_ms: int | None
    transaction_ms: int | None
    old: Value | None
    new: Value

    def __str__(self) -> str:
        at = f" E={self.event_ms}" if self.event_ms is not None else ""
        return f"{self.source}{at} {self.old!r}->{self.new!r}"


def setting_key(unit: str, symbol: str) -> str:
    return f"{unit}:{symbol}"


def truth_from_history(history: Mapping[str, Any]) -> dict[str, list[TrueValue[Setting]]]:
    """``GET /_sim/history`` as ``{setting key: [TrueValue, ...]}`` (leverage keys ``"UM:BTCUSDT"``, flags by name)."""
    truth: dict[str, list[TrueValue[Setting]]] = {}
    for unit, symbols in history["leverage"].items():
        for symbol, records in symbols.items():
            truth[setting_key(unit, symbol)] = [TrueValue(r["E"], r["T"], r["value"]) for r in records]
    truth["multi_assets"] = [TrueValue(r["E"], r["T"], r["value"]) for r in history["multi_assets"]]
    return truth


def positions_from_history(history: Mapping[str, Any]) -> dict[str, list[TrueValue[PositionValue]]]:
    """The ``positions`` of ``GET /_sim/history`` as ``{"BTCUSDT:BOTH": [TrueValue, ...]}``, each starting flat."""
    return {
        key: [
            TrueValue(None, None, FLAT),
            *(TrueValue(r["E"], r["T"], position_value(r["value"]["amount"], r["value"]["entry_price"])) for r in rs),
        ]
        for key, rs in history["positions"].items()
    }


def position_announcements(changes: Iterable[PositionChange]) -> dict[str, list[Announcement]]:
    """``pmbridge_position_changed`` arguments in the order the hook got them, per ``SYMBOL:SIDE``."""
    grouped: dict[str, list[Announcement]] = {}
    for change in changes:
        key = f"{change.exchange_symbol}:{change.position.side}"
        old, new = _value_of(change.old), _value_of(change.position)
        grouped.setdefault(key, []).append(
            Announcement(change.source, change.event_time, change.transaction_time, old, new)
        )
    return grouped


def _key_of(change: LeverageChange | AccountModeChange) -> str:
    if isinstance(change, LeverageChange):
        return setting_key(change.unit, change.exchange_symbol)
    return change.setting


def announcements_by_setting(changes: Iterable[LeverageChange | AccountModeChange]) -> dict[str, list[Announcement]]:
    """Hook arguments in the order the hooks got them, grouped per setting key."""
    grouped: dict[str, list[Announcement]] = {}
    for change in changes:
        key = _key_of(change)
        grouped.setdefault(key, []).append(
            Announcement(change.source, change.event_time, change.transaction_time, change.old, change.new)
        )
    return grouped


def check_announcements(
    key: str,
    announced: Sequence[Announcement],
    truth: Sequence[TrueValue[Any]],
    *,
    initial: Value | None = None,
    repeats: bool = False,
) -> list[str]:
    """Why ``announced`` is not an honest account of ``truth`` for setting ``key`` (empty: it is).

    ``initial``: what the first announcement's ``old`` must be, and what nobody needs to announce (a position starts
    flat; one never opened is never announced). ``repeats``: the exchange also pushes events that repeat the current
    value without a record of their own (a funding fee's ACCOUNT_UPDATE repeats the position): a value pushed at such
    an ``E`` must be the one the exchange held then.
    """
    problems: list[str] = []
    by_event = {record.event_ms: i for i, record in enumerate(truth) if record.event_ms is not None}
    times = [record.event_ms for record in truth if record.event_ms is not None]
    first_timed = len(truth) - len(times)
    position = -1  # the last history record matched so far
    previous: Announcement | None = None
    for number, ann in enumerate(announced, 1):
        label = f"{key}: announcement #{number} ({ann})"
        expected_old = initial if previous is None else previous.new
        if ann.old != expected_old:
            problems.append(f"{label}: old should be the previous announcement's new value {expected_old!r}")
        if ann.old == ann.new:
            problems.append(f"{label}: announces no change")
        previous = ann
        if ann.event_ms is not None:
            index = by_event.get(ann.event_ms)
            held = first_timed + bisect.bisect_right(times, ann.event_ms) - 1  # the record in force at that E
            if index is None and repeats and held >= 0:
                if truth[held].value != ann.new:
                    problems.append(f"{label}: invented: the exchange held {truth[held].value!r} at E={ann.event_ms}")
                elif held < position:
                    problems.append(f"{label}: stale: a later value (E={truth[position].event_ms}) was announced")
                else:
                    position = held
                continue
            if index is None or (truth[index].value, truth[index].transaction_ms) != (ann.new, ann.transaction_ms):
                made = "no change" if index is None else f"{truth[index].value!r} (T={truth[index].transaction_ms})"
                problems.append(f"{label}: invented: the exchange pushed {made} at E={ann.event_ms}")
            elif index == position:
                problems.append(f"{label}: duplicated: the event E={ann.event_ms} was already announced")
            elif index < position:
                problems.append(f"{label}: stale: a later value (E={truth[position].event_ms}) was already announced")
            else:
                position = index
            continue
        # A snapshot has no time: match the earliest later record with its value (greedy is optimal here).
        found = next((i for i in range(position + 1, len(truth)) if truth[i].value == ann.new), None)
        if found is not None:
            position = found
        elif any(record.value == ann.new for record in truth[: position + 1]):
            problems.append(f"{label}: stale: the exchange only held {ann.new!r} before what was already announced")
        else:
            problems.append(f"{label}: invented: the exchange never held {ann.new!r}")
    if previous is None and initial is None:
        problems.append(f"{key}: never announced (not even by the first snapshot)")
    elif truth and (last := initial if previous is None else previous.new) != truth[-1].value:
        problems.append(f"{key}: the last announced value is {last!r}, the exchange holds {truth[-1].value!r}")
    return problems


def check_history(
    announced: Mapping[str, Sequence[Announcement]], truth: Mapping[str, Sequence[TrueValue[Any]]]
) -> list[str]:
    """``check_announcements`` for every setting with a history, plus any announcement for a setting without one."""
    problems: list[str] = []
    for key, records in truth.items():
        problems += check_announcements(key, announced.get(key, ()), records)
    problems += [f"{key}: announced, but the exchange has no such setting" for key in announced.keys() - truth.keys()]
    return problems


def check_positions(
    announced: Mapping[str, Sequence[Announcement]], truth: Mapping[str, Sequence[TrueValue[Any]]]
) -> list[str]:
    """``check_announcements`` for every position the exchange ever had, and none announced that it never had."""
    problems: list[str] = []
    for key, records in truth.items():
        problems += check_announcements(key, announced.get(key, ()), records, initial=FLAT, repeats=True)
    problems += [f"position {key}: announced, but the exchange never had it" for key in announced.keys() - truth.keys()]
    return problems


def position_differences(positions: PositionBook, state: Mapping[str, Any]) -> list[str]:
    """Where the open positions of the book differ from ``GET /_sim/state``'s (amount, entry price, leverage)."""
    held = {f"{p.exchange_symbol}:{p.side}": (_value_of(p), p.leverage) for p in positions.open_positions()}
    true = {
        f"{p['symbol']}:{p['side']}": (position_value(p["amount"], p["entry_price"]), p["leverage"])
        for p in state["positions"]
    }
    return [
        f"position {key}: the book holds {_held(held.get(key))}, the exchange {_held(true.get(key))}"
        for key in sorted(held.keys() | true.keys())
        if held.get(key) != true.get(key)
    ]


def _held(found: tuple[PositionValue, int | None] | None) -> str:
    return "none" if found is None else f"{found[0]!r} at {found[1]}x"


def differences(book: LeverageBook, positions: PositionBook, state: Mapping[str, Any]) -> list[str]:
    """Where the bridge's books differ from ``GET /_sim/state`` (empty: they equal it)."""
    return book_differences(book, state) + position_differences(positions, state)


def book_differences(book: LeverageBook, state: Mapping[str, Any]) -> list[str]:
    """Where the book differs from ``GET /_sim/state`` (empty: it equals it)."""
    differences: list[str] = []
    for unit, symbols in state["leverage"].items():
        for symbol, leverage in symbols.items():
            held = book.leverage(symbol, unit)
            if held != leverage:
                differences.append(f"{setting_key(unit, symbol)}: the book holds {held!r}, the exchange {leverage!r}")
    for flag in ("multi_assets", "dual_side_position"):
        held_flag = book.flag(flag)
        if held_flag != state[flag]:
            differences.append(f"{flag}: the book holds {held_flag!r}, the exchange {state[flag]!r}")
    return differences
