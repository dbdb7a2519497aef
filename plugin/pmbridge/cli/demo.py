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
from rich.console import Console
from rich.live import Live

from ..bridge import Bridge
from ..manager import create_plugin_manager
from .board import Board, Broken
from .exits import EXIT_FAILURE, EXIT_OK
from .output import Printer
from .signals import StopSignals

EPILOG = """\
Starts pmbridge's exchange simulator on 127.0.0.1, connects a bridge to it and plays a short story: a leverage change
made in the Binance app, a change made while the socket is down (recovered by reconcile), a listenKey expiry, a
multi-assets flip, a plugin that raises and is isolated, and a position opened in the app whose leverage is then
changed in the app (shown with the liquidation price the exchange reports) before it is closed. Exits by itself in
about 17 seconds. In a terminal the story is a live table; to a file or a pipe it is a transcript, one whole line
per step and per hook call, then the final tables.

examples:
  pmbridge demo
  pmbridge demo --json | jq .
  pmbridge demo > demo.txt 2>&1

exit codes: 0 the book (leverage, account mode and positions) ended equal to the exchange's truth; 1 it did not (a bug:
please report it); 130 (Ctrl-C) or 143 (SIGTERM) interrupted."""


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
    live_table = not json_lines and console.is_terminal and not console.is_dumb_terminal
    printer = Printer(json_lines=json_lines)
    # To a file or a pipe, a transcript: each line written whole and flushed under the printer's lock, so nothing
    # written to stderr meanwhile can land inside one.
    board = Board(echo=None if json_lines or live_table else printer.line)
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
            if not live_table:
                pm.flush()  # what the last step caused is printed before the next step's line
                printer.line(orjson.dumps({"kind": "demo", "step": text}).decode() if json_lines else text)

        try:
            if live_table:
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
            else:
                await bridge.start()
                await story(sim, bridge, say)
            ok = _book_equals_truth(bridge, sim.state())
            pm.flush()
            board.echo = None  # the bridge's own stop is not part of the story
            errors = pm.error_counts()
        finally:  # also when Ctrl-C or SIGTERM cancelled the story
            await bridge.stop("demo finished")
    verdict = "the book equals the simulator's truth" if ok else "the book DIFFERS from the simulator's truth"
    if json_lines:
        printer.line(
            orjson.dumps({"kind": "demo", "finished": True, "converged": ok, "plugin_errors": errors}).decode()
        )
    else:
        if not live_table:
            printer.line(board.status())
            Console(width=120).print(*board.tables())  # no wrapping at 80 columns in a file
        printer.line(f"demo finished: {verdict}; plugin errors isolated: {errors}")
    return EXIT_OK if ok else EXIT_FAILURE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("--json", action="store_true", help="JSON lines instead of the live table")


def run(args: argparse.Namespace) -> int:
    try:
        return StopSignals("demo").run(lambda: demo(args.json))
    except RuntimeError as exc:
        print(f"pmbridge demo: {exc}", file=sys.stderr)
        return EXIT_FAILURE


COMMANDS = {"demo": ("see the whole loop on the embedded simulator (no keys, ~17 s)", add_arguments, run)}
