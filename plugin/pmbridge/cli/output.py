"""How the CLI shows what happens: a plugin that prints every change and transition, as JSON lines or text."""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

import orjson

from ..models import AccountModeChange, LeverageChange, ReconcileReport, StreamStateChange


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
        }
    return {
        "kind": change.setting,
        "old": change.old,
        "new": change.new,
        "source": change.source,
        "event_time": change.event_time,
    }


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
        self._emit(change_record(change), f"{name:<24} leverage {old:>5} -> {change.new}x   ({change.source})")

    def pmbridge_account_mode_changed(self, change: AccountModeChange) -> None:
        self._emit(change_record(change), f"account {change.setting}: {change.old} -> {change.new}   ({change.source})")

    def pmbridge_stream_state_changed(self, change: StreamStateChange) -> None:
        record = {"kind": "stream", "state": str(change.new), "reason": change.reason}
        self._emit(record, f"stream {change.new}: {change.reason}")

    def pmbridge_reconciled(self, report: ReconcileReport) -> None:
        if self.json_lines:
            return  # its changes were printed one by one already
        if report.trigger != "connect" or report.drift:
            self.line(
                f"reconciled ({report.trigger}): {report.symbols} symbols, {report.rest_calls} REST calls, "
                f"{len(report.changes)} drifted, {report.duration_s * 1000:.0f} ms"
            )
