"""Positions benchmark: what a full resync and a position read-back cost with 10 and 1,000 open positions.

Prints one JSON object (figures and sample counts; never pass/fail). As in bench/live.py, the simulator runs in its own
process (this file run with ``--role sim``) and a started ``Bridge`` in this one, over 127.0.0.1. For each size the
simulator lists ``size + 10`` USDⓈ-M symbols, and ``size`` positions are opened in the app before the bridge starts (a
MARKET order per perpetual just above its minimum notional, long or short in turn, after a deposit). Then:

1. full resync: ``reconcile_now()`` repeated after a warm-up: REST calls per resync (the report's count, and the
   simulator's per endpoint) and wall time. A PM resync reads every symbol's leverage (3 calls) and every position
   (ccxt ``fetch_positions``, one call per unit: 2).
2. read-back after a leverage change: the app changes the leverage of a symbol that holds a position; timed from the
   simulator's loop going back to work after the change (the frame queued, not yet sent) until
   ``pmbridge_leverage_changed`` fires carrying the position read back (CLOCK_MONOTONIC is shared by both processes),
   with the REST calls the bridge made for it. The read waits ``readback.COALESCE_S`` (20 ms) first so that changes
   arriving together share it. A symbol with no position (announced at once, no read) is the baseline.

The figures are meant to be the bridge's: ccxt parsing the answers, the books, the hooks, plus loopback HTTP. The
simulator's own work is not small at 1,000 positions (positionRisk computes every row's liquidation price: 26 ms; one
market tick: 6 ms, measured with ``--simulator-as-is``; 4-10 s and 17-80 ms before its margin figures were computed
once per answer instead of once per row), and it runs on the loop that also serves the stream. So by default the
simulator process memoizes its positionRisk answers per state of the account (prices pinned, nothing trades; a
leverage change recomputes it before the clock starts) and ticks once a second (nothing rests, no position is near
liquidation). ``simulator_compute_ms`` is what it would add per call without that; ``--simulator-as-is`` measures
without either.

Run: ``python bench/positions.py [--positions 10 1000] [--samples 15] [--warmup 3]``. The child exits when its stdin
closes, so nothing outlives the run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import childproc
from childproc import BenchError, loadavg, machine, reply, run_report, run_role, serve_commands, summary_ms, wait_until

SPARE_SYMBOLS = 10
DEPOSIT_USDT = 1_000_000
LEVERAGES = (7, 9)  # the simulator starts every symbol at 20x, so each sample is a real change
SLOW_TICK_S = 1.0
"""The simulator's market tick (resting orders, triggers, liquidations: none here) instead of every 20 ms: at 1,000
positions one tick takes ~6 ms, a third of its loop's time."""


# ---------------------------------------------------------------------------------------------------------------
# the simulator process
# ---------------------------------------------------------------------------------------------------------------
def median_s(work: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


class PositionRiskMemo:
    """The simulator's positionRisk answers, computed once per state of the account (see the module docstring).

    Prices are pinned and nothing trades while measuring, so an answer only changes with a leverage change, and
    ``set_leverage`` recomputes it before the bench starts timing. The simulator's routes call these wire functions
    through their module, so replacing the module attributes is all it takes."""

    def __init__(self, aw: Any, pw: Any) -> None:
        self.um, self.cm = aw.position_risk, pw.cm_position_risk
        self.answers: dict[tuple[str, str, str], Any] = {}
        aw.position_risk, pw.cm_position_risk = self.um_answer, self.cm_answer

    def um_answer(self, account: Any, quotes: Any, version: str) -> Any:
        key = ("UM", account.kind, version)
        if key not in self.answers:
            self.answers[key] = self.um(account, quotes, version)
        return self.answers[key]

    def cm_answer(self, account: Any, standalone: bool = False) -> Any:
        key = ("CM", account.kind, str(standalone))
        if key not in self.answers:
            self.answers[key] = self.cm(account, standalone=standalone)
        return self.answers[key]


async def role_sim(symbols: int, as_is: bool) -> None:
    from pmbridge.sim import Simulator
    from pmbridge.sim import server as sim_server
    from pmbridge.sim.api import account_wire as aw
    from pmbridge.sim.api import portfolio_wire as pw
    from pmbridge.sim.clock import real_ms

    memo = None if as_is else PositionRiskMemo(aw, pw)
    if not as_is:
        sim_server.TICK_S = SLOW_TICK_S  # read by the ticker on every round
    um_position_risk, cm_position_risk = (aw.position_risk, pw.cm_position_risk) if memo is None else (memo.um, memo.cm)

    async with Simulator(symbols=symbols) as sim:
        engine, account = sim.engine, sim.engine.account()
        reply({"base_url": sim.base_url, "api_key": sim.api_key, "api_secret": sim.api_secret})

        def refresh() -> None:
            if memo is not None:
                memo.answers.clear()
                memo.um_answer(account, engine.venue.account_quotes(account), "papi")
                memo.cm_answer(account)

        async def open_positions(cmd: dict[str, Any]) -> dict[str, Any]:
            """One position on each of the first ``n`` perpetuals (prices pinned first); the others stay flat."""
            await sim.deposit(DEPOSIT_USDT)
            contracts = engine.catalogue.contracts
            perpetuals = sorted(s for s, c in contracts.items() if c.unit == "UM" and c.perpetual)
            traded = perpetuals[: cmd["n"]]
            for symbol in perpetuals:
                await sim.set_price(symbol, float(engine.market.prices.quote(symbol, real_ms()).last))
            for index, symbol in enumerate(traded):
                filters = contracts[symbol].filters
                ask = engine.market.prices.quote(symbol, real_ms()).ask
                steps = math.ceil(filters.min_notional * Decimal("1.2") / ask / filters.step)
                quantity = max(filters.min_qty, steps * filters.step)
                side = "BUY" if index % 2 == 0 else "SELL"
                await sim.place_order(symbol=symbol, side=side, type="MARKET", quantity=str(quantity))
            refresh()
            opened = len(account.open_positions())  # not sim.state(): 19 s at 1,000 positions
            return {"opened": opened, "with_position": traded, "flat": perpetuals[cmd["n"] :]}

        async def answer_cost(cmd: dict[str, Any]) -> dict[str, Any]:
            """What the simulator computes for each call of a resync (a UM read-back is the UM positionRisk), outside
            HTTP and without the memo, and one market tick."""
            quotes = engine.venue.account_quotes
            bodies: dict[str, Callable[[], object]] = {
                "um/symbolConfig": lambda: aw.symbol_config(account, None, "papi"),
                "cm/account": lambda: pw.cm_account(account),
                "um/accountConfig": lambda: aw.account_config(account),
                "um/positionRisk": lambda: um_position_risk(account, quotes(account), "papi"),
                "cm/positionRisk": lambda: cm_position_risk(account),
                "tick": engine.tick,
            }
            return {"ms": {name: round(median_s(body, cmd["repeat"]) * 1000, 2) for name, body in bodies.items()}}

        async def set_leverage(cmd: dict[str, Any]) -> dict[str, Any]:
            await sim.set_leverage(cmd["symbol"], cmd["leverage"])
            # The frame is queued; nothing reaches the bridge before this command yields to the loop.
            refresh()
            return {"t0_ns": time.monotonic_ns()}

        async def stats(cmd: dict[str, Any]) -> dict[str, Any]:
            return {"stats": sim.stats()}

        await serve_commands(
            {"open": open_positions, "set_leverage": set_leverage, "stats": stats, "answer_cost": answer_cost}
        )


# ---------------------------------------------------------------------------------------------------------------
# this process: the bridge
# ---------------------------------------------------------------------------------------------------------------
class LeverageWatch:
    """When each (symbol, leverage) was announced, and with how many positions (read back) it came."""

    def __init__(self) -> None:
        self.at: dict[tuple[str, int], tuple[int, int, str | None]] = {}

    def pmbridge_leverage_changed(self, change: Any) -> None:
        source = change.positions[0].source if change.positions else None
        self.at[(change.exchange_symbol, change.new)] = (time.monotonic_ns(), len(change.positions), source)


def calls_between(before: dict[str, Any], after: dict[str, Any], samples: int) -> dict[str, float]:
    """REST calls per sample, per endpoint, as the simulator counted them."""
    old, new = before["stats"]["rest_calls"], after["stats"]["rest_calls"]
    return {path: round((n - old.get(path, 0)) / samples, 2) for path, n in sorted(new.items()) if n - old.get(path, 0)}


async def measure_resync(args: argparse.Namespace, bridge: Any, sim: childproc.Child) -> dict[str, Any]:
    walls, reports, before, after = await childproc.timed_resyncs(bridge, sim, args.warmup, args.samples, 300)
    return {
        "open_positions_seen": sorted({report.positions for report in reports}),
        "rest_calls_per_resync": max(report.rest_calls for report in reports),
        "sim_calls_per_resync": calls_between(before, after, args.samples),
        "wall": summary_ms(walls),
        "simulator_compute_ms": (await sim.ask("answer_cost", timeout=900, repeat=3))["ms"],
    }


async def measure_change(
    args: argparse.Namespace, bridge: Any, sim: childproc.Child, watch: LeverageWatch, symbol: str
) -> dict[str, Any]:
    """Leverage changes of ``symbol`` in the app: time until announced, REST calls the bridge made for each."""
    coordinator = bridge.coordinator
    latencies, calls, reads, carried, sources = [], [], [], set(), set()
    before = await sim.ask("stats")
    for index in range(args.warmup + args.samples):
        leverage = LEVERAGES[index % 2]
        watch.at.pop((symbol, leverage), None)
        calls_before, reads_before = bridge.rest.calls, coordinator.readback.reads
        answer = await sim.ask("set_leverage", symbol=symbol, leverage=leverage)
        await wait_until(lambda key=(symbol, leverage): key in watch.at, 300, f"{symbol} {leverage}x announced")
        await coordinator.readback.settled()
        if index < args.warmup:
            before = await sim.ask("stats")
            continue
        announced_ns, count, source = watch.at[(symbol, leverage)]
        latencies.append((announced_ns - answer["t0_ns"]) / 1e9)
        calls.append(bridge.rest.calls - calls_before)
        reads.append(coordinator.readback.reads - reads_before)
        carried.add(count)
        sources.add(source)
    after = await sim.ask("stats")
    took = summary_ms(latencies)
    return {
        "symbol": symbol,
        "positions_carried": sorted(carried),
        "positions_source": sorted(s or "none" for s in sources),
        "rest_calls_per_change": max(calls),
        "readbacks_per_change": max(reads),
        "sim_calls_per_change": calls_between(before, after, args.samples),
        "change_to_hook": took,
    }


async def run_size(args: argparse.Namespace, size: int) -> dict[str, Any]:
    from pmbridge.bridge import Bridge
    from pmbridge.config import BridgeConfig

    sim = childproc.Child(f"simulator process ({size} positions)", __file__)
    bridge: Any = None
    try:
        await sim.start("sim", "--symbols", str(size + SPARE_SYMBOLS), *(["--as-is"] if args.simulator_as_is else []))
        info = await sim.read(120)
        opened = await sim.ask("open", timeout=900, n=size)
        if opened["opened"] != size:
            raise BenchError(f"{opened['opened']} positions opened in the simulator, {size} wanted")
        watch = LeverageWatch()
        # Room for the simulator's slow positionRisk (see the module docstring), memoized or not.
        config = BridgeConfig.for_simulator(
            info["base_url"], info["api_key"], info["api_secret"], rest_timeout=120.0, heartbeat=60.0
        )
        bridge = Bridge(config, plugins=(watch,))
        started = time.perf_counter()
        await asyncio.wait_for(bridge.start(ready_timeout=300.0), 330)
        start_s = time.perf_counter() - started
        if len(bridge.positions) != size:
            raise BenchError(f"the bridge's first snapshot found {len(bridge.positions)} positions, {size} open")
        return {
            "open_positions": size,
            "symbols": len(bridge.book),
            "bridge_start_s": round(start_s, 3),
            "full_resync": await measure_resync(args, bridge, sim),
            "leverage_change_with_position": await measure_change(args, bridge, sim, watch, opened["with_position"][0]),
            "leverage_change_without_position": await measure_change(args, bridge, sim, watch, opened["flat"][0]),
        }
    finally:
        if bridge is not None:
            await bridge.stop()
        await sim.close()


async def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    logging.getLogger("pmbridge").setLevel(logging.ERROR)
    report: dict[str, Any] = {
        "benchmark": "positions",
        "args": {k: v for k, v in vars(args).items() if k != "role"},
        **machine(),
    }
    started = time.perf_counter()
    report["by_positions"] = {str(size): await run_size(args, size) for size in args.positions}
    report["loadavg_after"] = loadavg()
    report["runtime_s"] = round(time.perf_counter() - started, 1)
    return report


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--role":
        role = argparse.ArgumentParser()
        role.add_argument("--role", choices=("sim",))
        role.add_argument("--symbols", type=int, default=100)
        role.add_argument("--as-is", action="store_true")
        ns = role.parse_args()
        run_role(role_sim(ns.symbols, ns.as_is))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--positions", type=int, nargs="+", default=[10, 1000], help="open positions, per run")
    parser.add_argument("--warmup", type=int, default=3, help="discarded resyncs / changes before measuring")
    parser.add_argument("--samples", type=int, default=15, help="measured resyncs / changes per size")
    parser.add_argument(
        "--simulator-as-is", action="store_true", help="no positionRisk memo, 20 ms ticks (see the docstring)"
    )
    run_report("bench/positions.py", orchestrate(parser.parse_args()))


if __name__ == "__main__":
    main()
