"""``pmbridge reconcile``: is the stream telling us everything? Snapshot, listen, snapshot again, report the drift."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import orjson
from attrs import frozen
from rich.console import Console
from rich.table import Table

from ..bridge import Bridge, SetupFailed
from ..config import BridgeConfig
from ..errors import ConfigError, PMBridgeError
from ..models import AccountModeChange, Change, LeverageChange, PositionChange, ReconcileReport
from .common import CREDENTIALS_HELP, Progress, add_connection_arguments, config_from_args, host_of
from .exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from .output import change_record, describe, position_record
from .signals import StopSignals

EXIT_DRIFT = 3

EPILOG = f"""\
Takes a REST snapshot, listens to the user data stream for --listen seconds, then takes a second snapshot. Any value
or position the second snapshot (or a resync after a reconnect in between) had to correct is drift: a change the
stream did not report. Binance never replays events lost while a socket was down (a leverage change, a fill), and
pushes nothing for a position-mode change.

{CREDENTIALS_HELP}

examples:
  pmbridge reconcile
  pmbridge reconcile --listen 60 --json | jq .changes
  pmbridge reconcile --config user_data/config.json --listen 30
  pmbridge reconcile --base-url http://127.0.0.1:8765       # against `python -m pmbridge.sim`
  */15 * * * * pmbridge reconcile --json >> drift.jsonl || alert   # cron: non-zero on drift or failure

exit codes: 0 no drift; 3 drift found (the table or JSON lists it); 1 failure (the message says what failed and
what to do); 2 bad command line or configuration; 130 (Ctrl-C) or 143 (SIGTERM) interrupted: no result."""


class DriftCollector:
    """Registered on the bridge: keeps every reconcile after the first snapshot and counts what the stream said."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.reports: list[ReconcileReport] = []
        self.stream_changes = 0

    def pmbridge_reconciled(self, report: ReconcileReport) -> None:
        if report.source == "reconcile":
            self.reports.append(report)
            if report.drift and report.trigger != "manual":
                self.progress(
                    f"a resync ({report.trigger}) found {report.drifted} value(s) or position(s) the stream missed"
                )

    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
        if change.source == "stream":
            self.stream_changes += 1

    def pmbridge_account_mode_changed(self, change: AccountModeChange) -> None:
        if change.source == "stream":
            self.stream_changes += 1

    def pmbridge_position_changed(self, change: PositionChange) -> None:
        if change.source == "stream":
            self.stream_changes += 1

    def drift(self) -> list[tuple[str, Change]]:
        return [(report.trigger, change) for report in self.reports for change in report.changes]

    def position_drift(self) -> list[tuple[str, PositionChange]]:
        """Positions a snapshot found other than the stream had said (a fill while the socket was down)."""
        return [(r.trigger, c) for r in self.reports for c in r.position_changes if c.source == "reconcile"]


@frozen
class Outcome:
    drift: list[tuple[str, Change]]
    symbols: int
    rest_calls: int
    listened_s: float
    stream_changes: int
    position_drift: list[tuple[str, PositionChange]]
    positions: int
    """Open positions after the second snapshot."""

    @property
    def drifted(self) -> int:
        return len(self.drift) + len(self.position_drift)

    def to_json(self) -> dict[str, Any]:
        return {
            "drift": self.drifted > 0,
            "changes": [{**change_record(change), "trigger": trigger} for trigger, change in self.drift],
            "symbols": self.symbols,
            "rest_calls": self.rest_calls,
            "listened_s": round(self.listened_s, 3),
            "stream_changes": self.stream_changes,
            "position_changes": [{**position_record(c), "trigger": trigger} for trigger, c in self.position_drift],
            "positions": self.positions,
        }


class ReconcileFailed(PMBridgeError):
    """The check could not be completed; the message says what failed and what to do."""


async def reconcile(config: BridgeConfig, listen_s: float, timeout: float, progress: Progress) -> Outcome:
    collector = DriftCollector(progress)
    bridge = Bridge(config, plugins=(collector,))
    host = host_of(config)
    progress(f"connecting to {host} ({config.account} account): markets, user stream, first snapshot")
    try:
        try:
            await asyncio.wait_for(bridge.start(ready_timeout=timeout), timeout)
        except SetupFailed as exc:
            raise ReconcileFailed(f"could not start: {exc}") from None
        except TimeoutError:
            raise ReconcileFailed(
                f"{host} did not answer within {timeout:g} s (markets, listenKey or first snapshot); check the "
                "network and --base-url, or raise --timeout"
            ) from None
        book = bridge.book
        progress(f"first snapshot: {len(book)} symbols; listening to the stream for {listen_s:g} s")
        started = time.monotonic()
        stopped = asyncio.ensure_future(bridge.wait_stopped())
        done, _ = await asyncio.wait({stopped}, timeout=listen_s)
        if stopped in done:
            raise ReconcileFailed(f"the bridge stopped while listening: {stopped.result()}")
        stopped.cancel()
        listened = time.monotonic() - started
        progress("second snapshot")
        try:
            final = await asyncio.wait_for(bridge.reconcile_now(), timeout)
        except TimeoutError:
            raise ReconcileFailed(
                f"the second snapshot got no answer from {host} within {timeout:g} s; try again"
            ) from None
        except PMBridgeError as exc:
            raise ReconcileFailed(f"the second snapshot failed: {exc}") from None
        await asyncio.to_thread(bridge.pm.flush, timeout, False)  # the collector runs on the hook thread
        return Outcome(
            collector.drift(),
            final.symbols,
            bridge.rest.calls,
            listened,
            collector.stream_changes,
            collector.position_drift(),
            final.positions,
        )
    finally:  # also when start-up timed out or a signal cancelled the check
        await bridge.stop("reconcile finished")


def _value(change: Change, value: object) -> str:
    if value is None:
        return "-"
    if isinstance(change, LeverageChange):
        return f"{value}x"
    return "on" if value else "off"


_FOUND_BY = {"manual": "second snapshot", "connect": "resync after reconnect"}


def print_table(outcome: Outcome, console: Console) -> None:
    if outcome.drifted:
        table = Table(title="drift: values the stream did not report")
        for column in ("symbol", "exchange id", "book value", "exchange value", "source"):
            table.add_column(column)
        for trigger, change in outcome.drift:
            if isinstance(change, LeverageChange):
                symbol, exchange_id = change.symbol or "-", f"{change.exchange_symbol} ({change.unit})"
            else:
                symbol, exchange_id = "(account)", change.setting
            book, exchange = _value(change, change.old), _value(change, change.new)
            table.add_row(symbol, exchange_id, book, exchange, f"{change.source} ({_FOUND_BY.get(trigger, trigger)})")
        for trigger, moved in outcome.position_drift:
            table.add_row(
                moved.symbol or "-",
                f"{moved.exchange_symbol} ({moved.position.unit}, {moved.position.side} position)",
                describe(moved.old),
                describe(moved.position),
                f"{moved.source} ({_FOUND_BY.get(trigger, trigger)})",
            )
        console.print(table)
        console.print(
            f"{outcome.drifted} value(s) or position(s) drifted: the book had them wrong until a snapshot corrected "
            "them. Bots that read leverage or positions from the stream alone would have traded on stale values."
        )
    else:
        console.print("no drift: the stream reported every change.")
    console.print(
        f"{outcome.symbols} symbols, {outcome.positions} open position(s), {outcome.stream_changes} change(s) from "
        f"the stream, {outcome.rest_calls} REST calls, listened {outcome.listened_s:.1f} s"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    add_connection_arguments(parser)
    parser.add_argument(
        "--listen", type=float, default=5.0, metavar="SECONDS", help="how long to listen between the snapshots (5)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="give up on a start-up or snapshot that takes longer (30)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout instead of the table")


def run(args: argparse.Namespace) -> int:
    if args.listen < 0 or args.timeout <= 0:
        print("pmbridge reconcile: --listen must be >= 0 and --timeout > 0 seconds", file=sys.stderr)
        return EXIT_USAGE
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print(f"pmbridge reconcile: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return StopSignals("reconcile").run(lambda: check_and_report(config, args))


async def check_and_report(config: BridgeConfig, args: argparse.Namespace) -> int:
    """The check, then its report on stdout; the exit code."""
    try:
        outcome = await reconcile(config, args.listen, args.timeout, Progress("reconcile"))
    except PMBridgeError as exc:
        print(f"pmbridge reconcile: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        print(orjson.dumps(outcome.to_json()).decode(), flush=True)
    else:
        console = Console()
        if not console.is_terminal:  # cron mail and log files: no wrapping at 80 columns
            console = Console(width=120)
        print_table(outcome, console)
    return EXIT_DRIFT if outcome.drifted else EXIT_OK


COMMANDS = {
    "reconcile": (
        "snapshot, listen, snapshot again: report drift the stream missed (exit 3 on drift)",
        add_arguments,
        run,
    )
}
