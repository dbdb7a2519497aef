"""How the CLI shows what happens: a plugin that prints every change and transition, as JSON lines or text."""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

import orjson

from ..models import AccountModeChange, LeverageChange, Position, PositionChange, ReconcileReport, StreamStateChange
from ..views import position_view


def change_record(change: LeverageChange | AccountModeChange) -> dict[str, Any]:
    """The documented JSON-lines shape of a change (docs/cli.md)."""
    if isinstance(change, LeverageChange):
        return {
            "kind": "leverage",
            "symbol": change.symbol,
            "exchange_symbol": change.exchange_symbol,
            "unit": change.unit,
            "old": change.old,
            "new": change.new,
            "source": change.source,
            "event_time": change.event_time,
            "origin": change.origin,
            "positions": [position_view(p) for p in change.positions],
        }
    return {
        "kind": change.setting,
        "old": change.old,
        "new": change.new,
        "source": change.source,
        "event_time": change.event_time,
    }


def position_record(change: PositionChange) -> dict[str, Any]:
    """The documented JSON-lines shape of a position change (docs/cli.md): the position after it, the one before."""
    return {
        "kind": "position",
        "change": change.kind,
        **position_view(change.position),
        "source": change.source,  # the change's: the view's own names the reading, which may differ
        "reason": change.reason,
        "event_time": change.event_time,
        "old": None if change.old is None else position_view(change.old),
    }


def describe(position: Position | None) -> str:
    """``long 0.5 @ 60000.1, 25x, liquidation 40198.9`` (``flat`` for none); what the exchange did not say is left
    out."""
    if position is None or not position.is_open:
        return "flat"
    text = f"{position.direction} {abs(position.amount)} @ {position.entry_price}"
    if position.leverage is not None:
        text += f", {position.leverage}x"
    if position.liquidation_price:
        text += f", liquidation {position.liquidation_price}"
    elif position.liquidation_price is not None:
        text += ", no liquidation price"  # Binance writes 0 when it computes none for the position
    return text


def position_line(change: PositionChange) -> str:
    """One line of text for a position change, the way ``watch`` prints it."""
    if change.kind == "opened":
        return f"position opened: {describe(change.position)}"
    if change.kind == "changed":
        return f"position changed: {describe(change.old)} -> {describe(change.position)}"
    shout = change.kind.upper() if change.kind == "liquidated" else change.kind  # a liquidation must stand out
    return f"position {shout}: was {describe(change.old)}"


class Printer:
    """Registered as a plugin by ``watch`` and ``demo``: one line per change, transition and drift report.

    Hooks print from pmbridge's hook thread and the command from its own: every line goes out whole, under a lock.
    """

    def __init__(self, json_lines: bool, out: TextIO | None = None) -> None:
        self.json_lines = json_lines
        self.out = out or sys.stdout
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def _emit(self, record: dict[str, Any], text: str) -> None:
        self.line(orjson.dumps(record).decode() if self.json_lines else text)

    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
        name = change.symbol or change.exchange_symbol
        old = "-" if change.old is None else f"{change.old}x"
        text = f"{name:<24} leverage {old:>5} -> {change.new}x   ({change.source}, {change.origin})"
        for position in change.positions:
            text += f"; position now {describe(position)}"
        self._emit(change_record(change), text)

    def pmbridge_position_changed(self, change: PositionChange) -> None:
        name = change.symbol or change.exchange_symbol
        self._emit(position_record(change), f"{name:<24} {position_line(change)}   ({change.source})")

    def pmbridge_account_mode_changed(self, change: AccountModeChange) -> None:
        self._emit(change_record(change), f"account {change.setting}: {change.old} -> {change.new}   ({change.source})")

    def pmbridge_stream_state_changed(self, change: StreamStateChange) -> None:
        record = {"kind": "stream", "state": str(change.new), "reason": change.reason}
        self._emit(record, f"stream {change.new}: {change.reason}")

    def pmbridge_reconciled(self, report: ReconcileReport) -> None:
        if self.json_lines:
            return  # its changes were printed one by one already
        counts = f"{report.symbols} symbols, {report.positions} open positions, {report.rest_calls} REST calls"
        took = f"{report.duration_s * 1000:.0f} ms"
        if report.first:  # it filled an empty book: nothing could have drifted yet
            self.line(f"first snapshot ({report.trigger}): {counts}, {len(report.changes)} entries loaded, {took}")
        elif report.trigger != "connect" or report.drift:
            self.line(f"reconciled ({report.trigger}): {counts}, {report.drifted} drifted, {took}")
