"""LeverageTimeline: what the account had at any moment of a recording, for backtests ("leverage as it was then").

    timeline = LeverageTimeline.from_recording("account.jsonl")      # made by `pmbridge record`
    timeline.leverage_at("BTC/USDT:USDT", candle_open_ms)            # or the exchange id "BTCUSDT"
    timeline.multi_assets_at(candle_open_ms)

Built by replaying the recording into a ``LeverageBook``, so the order, duplicate and stale rules are the live ones,
and keeping every value each symbol took with the receive time it took it; each question is one bisect. A value
holds from the moment pmbridge received it (what a live bot could have known, never the future) until the next one;
before the first snapshot or event the answer is None, after the recording's end it is the last value.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

from .const import AccountSetting, Unit
from .errors import DecodeError
from .events import unit_of
from .models import AccountModeChange, LeverageChange
from .recording import BadLine, Header, Record, read_recording
from .replayer import Replayed, Replayer
from .symbols import SymbolMap

__all__ = ["LeverageTimeline"]

log = logging.getLogger(__name__)

T = TypeVar("T", int, bool)
_Series = tuple[list[float], list[int]]
_FlagSeries = tuple[list[float], list[bool]]


class LeverageTimeline:
    """Per symbol and per account flag, the sorted ``(receive time ms, value)`` history of a recording."""

    def __init__(self) -> None:
        self._leverage: dict[tuple[Unit, str], _Series] = {}
        self._flags: dict[AccountSetting, _FlagSeries] = {}
        self.symbols: SymbolMap | None = None
        """The recorded markets (unified symbol <-> exchange id), if the recording has them."""
        self.start: float | None = None
        """When the recording started (ms since the epoch)."""
        self.end: float | None = None
        """The receive time of the recording's last line."""
        self.bad_lines: list[BadLine] = []
        """Lines that were not records (skipped; see each ``message``)."""
        self.decode_errors = 0
        """Recorded frames that did not decode (the live bridge dropped them too)."""

    @classmethod
    def from_recording(cls, path: str | Path) -> LeverageTimeline:
        """Replay the recording at ``path``. Raises ``RecordingError`` if it is not a recording at all."""
        timeline = cls.from_records(read_recording(path))
        if timeline.bad_lines:
            log.warning(
                "%s: %d bad line(s) skipped, first: %s", path, len(timeline.bad_lines), timeline.bad_lines[0].message
            )
        return timeline

    @classmethod
    def from_records(cls, records: Iterable[tuple[int, Record | BadLine]]) -> LeverageTimeline:
        """Build from ``read_recording``'s output (or any records in file order)."""
        timeline = cls()
        replayer = Replayer()
        for _line, item in records:
            if isinstance(item, BadLine):
                timeline.bad_lines.append(item)
                continue
            if isinstance(item, Header):
                timeline.start = item.started
                continue
            try:
                changes = replayer.apply(item)
            except DecodeError:
                timeline.decode_errors += 1
                continue
            # Wall-clock times can step back (NTP): keep every series sorted by never going below the last time.
            at = item.t if timeline.end is None else max(item.t, timeline.end)
            timeline.end = at
            timeline._add(at, changes)
        timeline.symbols = replayer.book.symbols
        return timeline

    def _add(self, at: float, changes: tuple[Replayed, ...]) -> None:
        for change in changes:
            if isinstance(change, LeverageChange):
                times, values = self._leverage.setdefault((change.unit, change.exchange_symbol), ([], []))
                times.append(at)
                values.append(change.new)
            elif isinstance(change, AccountModeChange):  # positions are not the timeline's question
                flag_times, flag_values = self._flags.setdefault(change.setting, ([], []))
                flag_times.append(at)
                flag_values.append(change.new)

    # -- questions ------------------------------------------------------------------------------------------------
    def leverage_at(self, symbol: str, ts_ms: float) -> int | None:
        """The leverage of ``symbol`` (unified ``BTC/USDT:USDT`` or exchange id ``BTCUSDT``) at ``ts_ms``, or None
        if the recording knew none for it by then."""
        key = self._key(symbol)
        series = None if key is None else self._leverage.get(key)
        return None if series is None else _at(series, ts_ms)

    def multi_assets_at(self, ts_ms: float) -> bool | None:
        """Whether multi-assets mode was on at ``ts_ms`` (None: not known yet, or a COIN-M account)."""
        return self._flag_at("multi_assets", ts_ms)

    def dual_side_position_at(self, ts_ms: float) -> bool | None:
        """Whether hedge mode was on at ``ts_ms`` (None: not known yet)."""
        return self._flag_at("dual_side_position", ts_ms)

    def exchange_symbols(self) -> list[tuple[Unit, str]]:
        """Every ``(unit, exchange id)`` the recording has a leverage for."""
        return sorted(self._leverage)

    def _flag_at(self, setting: AccountSetting, ts_ms: float) -> bool | None:
        series = self._flags.get(setting)
        return None if series is None else _at(series, ts_ms)

    def _key(self, symbol: str) -> tuple[Unit, str] | None:
        if "/" in symbol:
            return None if self.symbols is None else self.symbols.exchange_id(symbol)
        return (unit_of(symbol) if self.symbols is None else self.symbols.unit_of(symbol)), symbol

    def __repr__(self) -> str:
        return f"<LeverageTimeline symbols={len(self._leverage)} start={self.start} end={self.end}>"


def _at(series: tuple[list[float], list[T]], ts_ms: float) -> T | None:
    times, values = series
    index = bisect_right(times, ts_ms) - 1
    return None if index < 0 else values[index]
