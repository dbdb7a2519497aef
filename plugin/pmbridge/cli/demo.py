"""``pmbridge demo``: the whole loop in one command, against the embedded simulator, no keys needed."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import orjson
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..bridge import Bridge
from ..manager import create_plugin_manager
from ..models import AccountModeChange, LeverageChange, Position, PositionChange, ReconcileReport, StreamStateChange
from .output import Printer, describe, position_line

EPILOG = """\
Starts pmbridge's exchange simulator on 127.0.0.1, connects a bridge to it and plays a short story: a leverage change
made in the Binance app, a change made while the socket is down (recovered by reconcile), a listenKey expiry, a
multi-assets flip, a plugin that raises and is isolated, and a position opened in the app whose leverage is then
changed in the app (shown with the liquidation price the exchange reports) before it is closed. Exits by itself in
about 17 seconds.

examples:
  pmbridge demo
  pmbridge demo --json | jq .

exit codes: 0 the book (leverage, account mode and positions) ended equal to the exchange's truth; 1 it did not (a bug:
please report it)."""


class Broken:
    """A deliberately faulty third-party plugin: pmbridge logs it by name and the others still get every call."""

    def __init__(self, board: Board | None) -> None:
        self.board = board

    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
        if self.board is not None:
            self.board.log.append("demo.broken-plugin raised: isolated and counted, the other plugins got the call")
        raise RuntimeError("this plugin is broken on purpose")


class Board:
    """The live table: symbols, leverage, source, stream state, the positions, and the last hook calls."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, int | None, int, str]] = {}
        self.positions: dict[tuple[str, str], tuple[Position, str]] = {}
        """(exchange id, side) -> the position as last announced, and what happened to it."""
        self.state = "starting"
        self.flags: dict[str, bool] = {}
        self.log: list[str] = []
        self.step = ""

    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
        self.rows[change.exchange_symbol] = (change.symbol or "", change.old, change.new, change.source)
        for position in change.positions:
            self.positions[(position.exchange_symbol, position.side)] = (position, f"{change.new}x ({position.source})")
        if change.source != "snapshot":
            said = f"{change.symbol}  {change.old}x -> {change.new}x  ({change.source}, {change.origin})"
            effects = "".join(f"; position now {describe(p)}" for p in change.positions)
            self.log.append(f"pmbridge_leverage_changed  {said}{effects}")

    def pmbridge_position_changed(self, change: PositionChange) -> None:
        shown = change.position if change.position.is_open else change.old or change.position
        self.positions[(change.exchange_symbol, change.position.side)] = (shown, f"{change.kind} ({change.source})")
        self.log.append(f"pmbridge_position_changed  {change.symbol}  {position_line(change)}  ({change.source})")

    def pmbridge_account_mode_changed(self, change: AccountModeChange) -> None:
        self.flags[change.setting] = change.new
        self.log.append(
            f"pmbridge_account_mode_changed  {change.setting} {change.old} -> {change.new} ({change.source})"
        )

    def pmbridge_stream_state_changed(self, change: StreamStateChange) -> None:
        self.state = str(change.new)
        self.log.append(f"pmbridge_stream_state_changed  {change.new}: {change.reason}")

    def pmbridge_reconciled(self, report: ReconcileReport) -> None:
        self.log.append(
            f"pmbridge_reconciled  {report.trigger}: {report.rest_calls} REST calls, {len(report.changes)} drifted"
        )

    def render(self) -> Group:
        def on_off(setting: str) -> str:
            value = self.flags.get(setting)
            return "?" if value is None else ("on" if value else "off")

        title = (
            f"pmbridge demo  |  stream: {self.state}  |  multi-assets: {on_off('multi_assets')}  |  "
            f"hedge mode: {on_off('dual_side_position')}"
        )
        table = Table(title=title, expand=False)
        for column in ("exchange id", "symbol", "leverage", "was", "source"):
            table.add_column(column)
        for exchange_id, (symbol, old, new, source) in sorted(self.rows.items()):
            style = "bold yellow" if source != "snapshot" else ""
            table.add_row(exchange_id, symbol, f"{new}x", "-" if old is None else f"{old}x", source, style=style)
        parts: list[Table | Text] = [Text(self.step, style="bold cyan"), table]
        if self.positions:
            parts.append(self._positions_table())
        parts.append(Text("\n".join(self.log[-8:]), style="dim"))
        return Group(*parts)

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


async def story(sim: Any, bridge: Bridge, say: Callable[[str], None]) -> None:
    async def wait(what: str, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise RuntimeError(f"demo step timed out: {what}")
            await asyncio.sleep(0.02)

    steps: list[tuple[str, Callable[[], Awaitable[Any]], Callable[[], bool]]] = [
        (
            "1. A user changes BTCUSDT leverage to 25x in the Binance app: the stream tells us at once.",
            lambda: sim.set_leverage("BTCUSDT", 25),
            lambda: bridge.book.leverage("BTCUSDT") == 25,
        ),
        (
            "2. The socket drops, and ETHUSDT goes to 50x while we are away: Binance never replays it, reconcile "
            "finds it.",
            lambda: _drop_then_change(sim),
            lambda: bridge.book.leverage("ETHUSDT") == 50 and bridge.available,
        ),
        (
            "3. The listenKey expires: pmbridge gets a new one, reconnects and resyncs.",
            sim.expire_key,
            lambda: bridge.available and bridge.coordinator is not None and bridge.coordinator.stream.key_renewals >= 1,
        ),
        (
            "4. Multi-assets mode is switched on in the app.",
            lambda: sim.set_multi_assets(True),
            lambda: bridge.book.multi_assets is True,
        ),
        (
            "5. A COIN-M symbol: BTCUSD_PERP to 10x. (A plugin raised on every change so far: isolated, counted.)",
            lambda: sim.set_leverage("BTCUSD_PERP", 10),
            lambda: bridge.book.leverage("BTCUSD_PERP", "CM") == 10,
        ),
        (
            "6. A long of 0.5 BTC is opened in the app (price pinned at 60,000): the stream says it opened, and "
            "pmbridge reads the exchange's liquidation price back before announcing it.",
            lambda: _open_position(sim),
            lambda: _positions_match(bridge, sim.state()) and bool(bridge.positions.open_positions()),
        ),
        (
            "7. BTCUSDT goes from 25x to 10x in the app with the position open: it runs at 10x at once, announced "
            "with the position read back (Portfolio Margin liquidates on the account's uniMMR, not the leverage).",
            lambda: sim.set_leverage("BTCUSDT", 10),
            lambda: bridge.book.leverage("BTCUSDT") == 10 and _positions_match(bridge, sim.state()),
        ),
        (
            "8. The position is closed in the app: the stream reports it closed, and the book holds no position.",
            lambda: sim.close_position("BTCUSDT"),
            lambda: not bridge.positions.open_positions(),
        ),
    ]
    for text, action, done in steps:
        say(text)
        await asyncio.sleep(0.7)
        await action()
        await wait(text, done)
        if bridge.coordinator is not None:
            await bridge.coordinator.readback.settled()  # a change held for its read-back goes out before the next
        await asyncio.sleep(1.1)


async def _drop_then_change(sim: Any) -> None:
    await sim.drop()
    await sim.set_leverage("ETHUSDT", 50)


async def _open_position(sim: Any) -> None:
    await sim.set_price("BTCUSDT", 60000)  # pinned: the entry and the liquidation price are the same every run
    await sim.place_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.500")


def _positions_match(bridge: Bridge, state: dict[str, Any]) -> bool:
    """The book's open positions are the exchange's: amount, entry, leverage and liquidation price."""

    def figures(p: dict[str, Any]) -> tuple[Decimal, Decimal, int, Decimal | None]:
        liquidation = p["liquidation_price"]
        return (
            Decimal(p["amount"]),
            Decimal(p["entry_price"]),
            p["leverage"],
            None if liquidation is None else Decimal(liquidation),
        )

    truth = {(p["symbol"], p["side"]): figures(p) for p in state["positions"]}
    book = {
        (p.exchange_symbol, p.side): (p.amount, p.entry_price, p.leverage, p.liquidation_price)
        for p in bridge.positions.open_positions()
    }
    return book == truth


def _book_equals_truth(bridge: Bridge, state: dict[str, Any]) -> bool:
    for unit in ("UM", "CM"):
        for symbol, leverage in state["leverage"][unit].items():
            if bridge.book.leverage(symbol, unit) != leverage:
                return False
    return bool(bridge.book.multi_assets == state["multi_assets"]) and _positions_match(bridge, state)


async def demo(json_lines: bool) -> int:
    from ..config import BridgeConfig  # noqa: PLC0415
    from ..sim import Simulator  # noqa: PLC0415

    console = Console(stderr=False)
    board = Board()
    printer = Printer(json_lines=True)
    plugins: tuple[object, ...] = (printer,) if json_lines else (board,)
    async with Simulator(symbols=6) as sim:
        pm = create_plugin_manager(block=["pmbridge.builtin.logger"])
        pm.register(Broken(None if json_lines else board), name="demo.broken-plugin")
        # The story shows the isolation itself; the tracebacks a real deployment wants would drown the table.
        logging.getLogger("pmbridge").setLevel(logging.CRITICAL)
        config = BridgeConfig.for_simulator(sim.base_url, sim.api_key, sim.api_secret, backoff_initial=0.3)
        bridge = Bridge(config, pm=pm, plugins=plugins)

        def say(text: str) -> None:
            board.step = text
            if json_lines:
                pm.flush()  # what the last step caused is printed before the next step's line
                printer.line(orjson.dumps({"kind": "demo", "step": text}).decode())

        if json_lines:
            await bridge.start()
            await story(sim, bridge, say)
        else:
            with Live(board.render(), console=console, refresh_per_second=10) as live:

                async def refresh() -> None:
                    while True:
                        live.update(board.render())
                        await asyncio.sleep(0.1)

                painter = asyncio.create_task(refresh())
                await bridge.start()
                await story(sim, bridge, say)
                painter.cancel()
                pm.flush()
                live.update(board.render())
        ok = _book_equals_truth(bridge, sim.state())
        pm.flush()
        errors = pm.error_counts()
        await bridge.stop("demo finished")
    verdict = "the book equals the simulator's truth" if ok else "the book DIFFERS from the simulator's truth"
    summary = f"demo finished: {verdict}; plugin errors isolated: {errors}"
    if json_lines:
        print(orjson.dumps({"kind": "demo", "finished": True, "converged": ok, "plugin_errors": errors}).decode())
    else:
        if not console.is_terminal:  # redirected, Live's last render ends without a line break
            console.line()
        console.print(summary)
    return 0 if ok else 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("--json", action="store_true", help="JSON lines instead of the live table")


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(demo(args.json))
    except RuntimeError as exc:
        print(f"pmbridge demo: {exc}", file=sys.stderr)
        return 1


COMMANDS = {"demo": ("see the whole loop on the embedded simulator (no keys, ~17 s)", add_arguments, run)}
