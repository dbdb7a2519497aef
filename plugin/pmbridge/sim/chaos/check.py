"""The invariants a chaos run checks, as pure functions of what was announced, what was true and what the book holds.

Per setting (a symbol's leverage, or an account flag), the announced values must be a subsequence of the true history:
a snapshot may skip values lost in a gap, but a pushed value must be the exact ``(E, T, value)`` the exchange pushed,
nothing may go back to an older value, and nothing may be announced twice. Each announcement's ``old`` must be the
previous one's ``new`` (hooks see every change the book made, and only those), and the last one must be the truth.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...book import LeverageBook
from ...models import AccountModeChange, LeverageChange

Value = int | bool


@dataclass(frozen=True, slots=True)
class TrueValue:
    """One record of the simulator's history: the value a setting took, with the event that pushed it."""

    event_ms: int | None
    """None for the value the account started with."""
    transaction_ms: int | None
    value: Value


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


def truth_from_history(history: Mapping[str, Any]) -> dict[str, list[TrueValue]]:
    """``GET /_sim/history`` as ``{setting key: [TrueValue, ...]}`` (leverage keys ``"UM:BTCUSDT"``, flags by name)."""
    truth: dict[str, list[TrueValue]] = {}
    for unit, symbols in history["leverage"].items():
        for symbol, records in symbols.items():
            truth[setting_key(unit, symbol)] = [TrueValue(r["E"], r["T"], r["value"]) for r in records]
    truth["multi_assets"] = [TrueValue(r["E"], r["T"], r["value"]) for r in history["multi_assets"]]
    return truth


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


def check_announcements(key: str, announced: Sequence[Announcement], truth: Sequence[TrueValue]) -> list[str]:
    """Why ``announced`` is not an honest account of ``truth`` for setting ``key`` (empty: it is)."""
    problems: list[str] = []
    by_event = {record.event_ms: i for i, record in enumerate(truth) if record.event_ms is not None}
    position = -1  # the last history record matched so far
    previous: Announcement | None = None
    for number, ann in enumerate(announced, 1):
        label = f"{key}: announcement #{number} ({ann})"
        expected_old = None if previous is None else previous.new
        if ann.old != expected_old:
            problems.append(f"{label}: old should be the previous announcement's new value {expected_old!r}")
        if ann.old == ann.new:
            problems.append(f"{label}: announces no change")
        previous = ann
        if ann.event_ms is not None:
            index = by_event.get(ann.event_ms)
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
    if previous is None:
        problems.append(f"{key}: never announced (not even by the first snapshot)")
    elif truth and previous.new != truth[-1].value:
        problems.append(f"{key}: the last announced value is {previous.new!r}, the exchange holds {truth[-1].value!r}")
    return problems


def check_history(
    announced: Mapping[str, Sequence[Announcement]], truth: Mapping[str, Sequence[TrueValue]]
) -> list[str]:
    """``check_announcements`` for every setting with a history, plus any announcement for a setting without one."""
    problems: list[str] = []
    for key, records in truth.items():
        problems += check_announcements(key, announced.get(key, ()), records)
    problems += [f"{key}: announced, but the exchange has no such setting" for key in announced.keys() - truth.keys()]
    return problems


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
