"""Chaos: seeded fault schedules against the simulator, and the invariants every schedule must leave intact.

    schedule = generate(seed)                 # same seed, same schedule; print(schedule.describe()) to report it
    result = await run_schedule(schedule)     # fresh Simulator + Bridge on this loop, steps, settle, checks
    assert result.ok, result.violations

Faults: socket drops, listenKey expiry (announced or silent), 24 h cuts (key kept alive, or a host suspended for a
day), HTTP 429/418/5xx and -1021, REST latency, malformed, duplicate and out-of-order frames (configuration and
position updates), make-before-break rotations on a fast clock, a plugin that raises on every change and one that is
slow (and sometimes blocks), with UM and CM leverage changes, multi-assets changes and trades in the app (opening,
growing, reducing, flipping, closing positions) before, inside and after every kind of gap. After each schedule
settles: the leverage and position books equal ``/_sim/state``; per setting and per position, the announced values are
a subsequence of the simulator's true history (``/_sim/history``) with nothing stale, duplicated or invented, and a
value announced from the stream carries the event time it was pushed with; the books counted every injected stale,
duplicate and malformed frame the bridge received; only the raising plugin raised, once per change; the stream is
connected; the bridge stops cleanly and leaves no task or thread behind. ``bench/chaos.py`` runs any number of
schedules.
"""

from __future__ import annotations

from .check import (
    FLAT,
    Announcement,
    PositionValue,
    TrueValue,
    Value,
    announcements_by_setting,
    book_differences,
    check_announcements,
    check_history,
    check_positions,
    differences,
    position_announcements,
    position_differences,
    positions_from_history,
    truth_from_history,
)
from .runner import EXERCISED_BY, ChaosRunner, ScheduleResult, run_schedule
from .schedule import Schedule, generate
from .steps import FAULT_KINDS, GAP_KINDS, Step, step_kinds

__all__ = [
    "EXERCISED_BY",
    "FAULT_KINDS",
    "FLAT",
    "GAP_KINDS",
    "Announcement",
    "ChaosRunner",
    "PositionValue",
    "Schedule",
    "ScheduleResult",
    "Step",
    "TrueValue",
    "Value",
    "announcements_by_setting",
    "book_differences",
    "check_announcements",
    "check_history",
    "check_positions",
    "differences",
    "generate",
    "position_announcements",
    "position_differences",
    "positions_from_history",
    "run_schedule",
    "step_kinds",
    "truth_from_history",
]
