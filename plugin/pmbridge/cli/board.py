"""The demo's board: the live table of the story, and the deliberately broken plugin it shows being isolated."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..models import AccountModeChange, LeverageChange, Position, PositionChange, ReconcileReport, StreamStateChange
from .output import describe, position_line


class Broken:
    """A deliberately faulty third-party plugin: pmbridge logs it by name and the others still get every call."""

    def __init__(self, board: Board | None) -> None:
        self.board = board

    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
        if self.board is not None and change.source != "snapshot":  # shown as the board shows changes: not the load
            self.board.note("demo.broken-plugin raised: isolated and counted, the other plugins got the call")
        raise RuntimeError("this plugin is broken on purpose")


class Board:
    """The live table: symbols, leverage, source, stream state, the positions, and the last hook calls.

    ``echo`` also gets every hook call's line as it happens, whole: the transcript shown instead of the live table when
    the output is a file or a pipe.
    """

    def __init__(self, echo: Callable[[str], None] | None = None) -> None:
        self.echo = echo
        self.rows: dict[str, tuple[str, int | None, int, str]] = {}
        self.positions: dict[tuple[str, str], tuple[Position, str]] = {}
        """(exchange id, side) -> the position as last announced, and what happened to it."""
        self.state = "starting"
        self.flags: dict[str, bool] = {}
        self.log: list[str] = []
        self.step = ""

    def note(self, line: str) -> None:
        self.log.append(line)
        if self.echo is not None:
            self.echo(line)

    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
        self.rows[change.exchange_symbol] = (change.symbol or "", change.old, change.new, change.source)
        for position in change.positions:
            self.positions[(position.exchange_symbol, position.side)] = (position, f"{change.new}x ({position.source})")
        if change.source != "snapshot":
            said = f"{change.symbol}  {change.old}x -> {change.new}x  ({change.source}, {change.origin})"
            effects = "".join(f"; position now {describe(p)}" for p in change.positions)
            self.note(f"pmbridge_leverage_changed  {said}{effects}")

    def pmbridge_position_changed(self, change: PositionChange) -> None:
        shown = change.position if change.position.is_open else change.old or change.position
        self.positions[(change.exchange_symbol, change.position.side)] = (shown, f"{change.kind} ({change.source})")
        self.note(f"pmbridge_position_changed  {change.symbol}  {position_line(change)}  ({change.source})")

    def pmbridge_account_mode_changed(self, change: AccountModeChange) -> None:
        self.flags[change.setting] = change.new
        self.note(f"pmbridge_account_mode_changed  {change.setting} {change.old} -> {change.new} ({change.source})")

    def pmbridge_stream_state_changed(self, change: StreamStateChange) -> None:
        self.state = str(change.new)
        self.note(f"pmbridge_stream_state_changed  {change.new}: {change.reason}")

    def pmbridge_reconciled(self, report: ReconcileReport) -> None:
        found = f"{len(report.changes)} loaded (first snapshot)" if report.first else f"{report.drifted} drifted"
        self.note(f"pmbridge_reconciled  {report.trigger}: {report.rest_calls} REST calls, {found}")

    def render(self) -> Group:
        """The live table: the step, the account's state, the tables and the last hook calls."""
        log = Text("\n".join(self.log[-8:]), style="dim")
        return Group(Text(self.step, style="bold cyan"), Text(self.status(), style="bold"), *self.tables(), log)

    def status(self) -> str:
        def on_off(setting: str) -> str:
            value = self.flags.get(setting)
            return "?" if value is None else ("on" if value else "off")

        return (
            f"pmbridge demo  |  stream: {self.state}  |  multi-assets: {on_off('multi_assets')}  |  "
            f"hedge mode: {on_off('dual_side_position')}"
        )

    def tables(self) -> list[Table]:
        """The leverage table, and the positions one once there was a position."""
        table = Table(title="leverage", expand=False)
        for column in ("exchange id", "symbol", "leverage", "was", "source"):
            table.add_column(column)
        for exchange_id, (symbol, old, new, source) in sorted(self.rows.items()):
            style = "bold yellow" if source != "snapshot" else ""
            table.add_row(exchange_id, symbol, f"{new}x", "-" if old is None else f"{old}x", source, style=style)
        return [table, self._positions_table()] if self.positions else [table]

    def _positions_table(self) -> Table:
        table = Table(title="positions (liquidation price as the exchange reports it)", expand=False)
        for column in ("exchange id", "side", "position", "leverage", "liquidation", "last"):
            table.add_column(column)
        for (exchange_id, side), (p, last) in sorted(self.positions.items()):
            closed = last.startswith(("closed", "liquidated"))
            liquidation = "-" if p.liquidation_price is None else str(p.liquidation_price)
            table.add_row(
                exchange_id,
                side,
                f"{p.direction} {abs(p.amount)} @ {p.entry_price}",
                "-" if p.leverage is None else f"{p.leverage}x",
                liquidation,
                last,
                style="dim" if closed else "bold yellow",
            )
        return table
