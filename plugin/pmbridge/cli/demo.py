"""``pmbridge demo``: the whole loop in one command, against the embedded simulator, no keys needed."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..bridge import Bridge
from ..manager import create_plugin_manager
from ..models import AccountModeChange, LeverageChange, ReconcileReport, StreamStateChange
from .output import Printer

EPILOG = """\
Starts pmbridge's exchange simulator on 127.0.0.1, connects a bridge to it and plays a short story: a leverage change
made in the Binance app, a change made while the socket is down (recovered by reconcile), a listenKey expiry, a
multi-assets flip, and a plugin that raises and is isolated. Exits by itself in about 15 seconds.

examples:
  pmbridge demo
  pmbridge demo --json | jq .

exit codes: 0 the book ended equal to the exchange's truth; 1 it did not (a bug: please report it)."""


class Broken:
    """A deliberately faulty third-party plugin: pmbridge logs it by name and the others still get every call."""

    def __init__(self, board: Board | None) -> None:
        self.board = board

    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
        if self.board is not None:
            self.board.log.append("demo.broken-plugin raised: isolated and counted, the other plugins got the call")
        raise RuntimeError("this plugin is broken on purpose")


class Board:
    """The live table: symbols, leverage, source, stream state, and the last hook calls."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, int | None, int, str]] = {}
        self.state = "starting"
        self.flags: dict[str, bool] = {}
        self.log: list[str] = []
        self.step = ""

    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
        self.rows[change.exchange_symbol] = (change.symbol or "", change.old, change.new, change.source)
        if change.source != "snapshot":
            self.log.append(
                f"pmbridge_leverage_changed  {change.symbol}  {change.old}x -> {change.new}x  ({change.source})"
            )

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
        return Group(Text(self.step, style="bold cyan"), table, Text("\n".join(self.log[-8:]), style="dim"))


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
    ]
    for text, action, done in steps:
        say(text)
        await asyncio.sleep(0.8)
        await action()
        await wait(text, done)
        await asyncio.sleep(1.2)


async def _drop_then_change(sim: Any) -> None:
    await sim.drop()
    await sim.set_leverage("ETHUSDT", 50)


def _book_equals_truth(bridge: Bridge, state: dict[str, Any]) -> bool:
    for unit in ("UM", "CM"):
        for symbol, leverage in state["leverage"][unit].items():
            if bridge.book.leverage(symbol, unit) != leverage:
                return False
    return bool(bridge.book.multi_assets == state["multi_assets"])


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


COMMANDS = {"demo": ("see the whole loop on the embedded simulator (no keys, ~15 s)", add_arguments, run)}
