"""Run one chaos schedule against a fresh in-process simulator and bridge, let it settle, and check the invariants.

After the last step the injected REST trouble is lifted and the bridge is left alone (no forced reconcile: convergence
must come from its own reconnects, resyncs and read-backs) until its books (leverage, flags and positions) equal
``/_sim/state``. Then (``audit``): the announcements against the simulator's true history, the books' stale/duplicate
counters against the injected frames the bridge received, the plugin errors (only the deliberately raising plugin's,
one per change), the stream's health; then a clean stop, and no thread or task left behind.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Final

from ...bridge import Bridge
from ...config import BridgeConfig
from ...errors import PMBridgeError
from ...manager import create_plugin_manager
from ...models import StreamState
from ..server import Simulator
from .actions import Actions
from .audit import check_counters, check_health, check_hooks, check_isolation, check_plugins, effects_of
from .plugins import ChaosRecorder, FrameLog, RaisingPlugin, SlowPlugin
from .schedule import Schedule
from .steps import FAST_CLOCK_SPEED, ROTATE_AFTER_FAST_S, SIM_SYMBOLS

SETTLE_TIMEOUT_S: Final = 8.0
STOP_TIMEOUT_S: Final = 10.0
READBACK_WAIT_S: Final = 5.0
"""How long position read-backs still in flight may take before the hooks are checked."""
EXERCISED_BY: Final[dict[str, str]] = {
    "drop": "sockets_dropped",
    "key_expired": "keys_expired",
    "key_expired_silently": "keys_expired_silently",
    "cut_24h": "sockets_cut",
    "suspended_24h": "sockets_cut_key_expired",
    "http_429": "rest_answered_429",
    "http_418": "rest_answered_418",
    "http_5xx": "rest_answered_5xx",
    "clock_skew_1021": "rest_answered_1021",
    "latency": "rest_delayed",
    "malformed": "malformed_received",
    "duplicate": "duplicate_received",
    "out_of_order": "stale_received",
    "leverage_um": "leverage_um_changed",
    "leverage_cm": "leverage_cm_changed",
    "multi_assets": "multi_assets_changed",
    "trade": "trades_filled",
    "position_duplicate": "position_duplicate_received",
    "position_out_of_order": "position_stale_received",
    "raising_plugin": "plugin_raised",
    "slow_plugin": "slow_plugin_calls",
    "blocking_plugin": "slow_plugin_blocks",
    "rotation": "rotations",
    "manual_reconcile": "manual_reconciles",
}
"""For each fault kind, the effect counter in ``ScheduleResult.effects`` that shows it really happened."""


@dataclass(frozen=True, slots=True)
class ScheduleResult:
    seed: int
    converged: bool
    """The book equalled ``/_sim/state`` once the schedule settled."""
    violations: tuple[str, ...]
    """Every invariant that did not hold, in words (non-convergence included)."""
    duration_s: float
    kinds: dict[str, int]
    effects: dict[str, int]

    @property
    def ok(self) -> bool:
        return self.converged and not self.violations


# -- the run ------------------------------------------------------------------------------------------------------
def chaos_config(sim: Simulator, schedule: Schedule) -> BridgeConfig:
    """Timings scaled so a schedule takes about a second: 10-100 ms backoff, no ccxt exit delay, fast clock if asked."""
    scale = FAST_CLOCK_SPEED if schedule.fast_clock else 1.0
    settings: dict[str, Any] = {
        "base_url": sim.base_url,
        "backoff_initial": 0.01,
        "backoff_max": 0.1,
        "heartbeat": 5.0,
        "rest_timeout": 2.0,
        "time_scale": scale,
        "reconcile_interval": (schedule.reconcile_s or 86_400.0) * scale,
        # ccxt sleeps 250 ms in close() for TLS transports to wind down; loopback HTTP has none.
        "ccxt_options": {"timeout_on_exit": 0},
    }
    if schedule.fast_clock:
        settings["rotate_after"] = ROTATE_AFTER_FAST_S
    return BridgeConfig.from_mapping(settings, api_key=sim.api_key, api_secret=sim.api_secret)


def _own_threads() -> set[int]:
    """Live threads, leaving out the loop's default executor (it keeps a few idle workers by design)."""
    return {t.ident or 0 for t in threading.enumerate() if not t.name.startswith("asyncio_")}


def _pmbridge_tasks(before: set[asyncio.Task[Any]], *, simulator: bool) -> list[asyncio.Task[Any]]:
    """Pending ``pmbridge-*`` tasks started since ``before`` was taken (the simulator's own too if ``simulator``)."""
    return [
        t
        for t in asyncio.all_tasks()
        if t not in before
        and not t.done()
        and (name := t.get_name()).startswith("pmbridge")
        and (simulator or not name.startswith("pmbridge-sim"))
    ]


class ChaosRunner:
    """Runs schedules one after another on the caller's loop; each gets its own simulator and bridge."""

    def __init__(self, settle_timeout: float = SETTLE_TIMEOUT_S) -> None:
        self.settle_timeout = settle_timeout

    async def run(self, schedule: Schedule) -> ScheduleResult:
        started = time.perf_counter()
        threads_before = _own_threads()
        tasks_before = asyncio.all_tasks()
        violations: list[str] = []
        effects: Counter[str] = Counter()
        converged = False
        speed = FAST_CLOCK_SPEED if schedule.fast_clock else 1.0
        async with Simulator(symbols=SIM_SYMBOLS, seed=schedule.seed % 2**31 + 1, clock_speed=speed) as sim:
            converged = await self._run_bridge(schedule, sim, violations, effects, tasks_before)
        violations += await _leftovers(tasks_before, threads_before)
        if not converged:
            violations.insert(
                0, f"did not converge: the book never equalled /_sim/state within {self.settle_timeout} s"
            )
        return ScheduleResult(
            schedule.seed,
            converged,
            tuple(violations),
            time.perf_counter() - started,
            dict(schedule.kinds()),
            dict(effects),
        )

    async def _run_bridge(
        self,
        schedule: Schedule,
        sim: Simulator,
        violations: list[str],
        effects: Counter[str],
        tasks_before: set[asyncio.Task[Any]],
    ) -> bool:
        recorder = ChaosRecorder()
        raising = RaisingPlugin() if schedule.raising_plugin else None
        slow = SlowPlugin(schedule.block_every) if schedule.slow_plugin else None
        plugins = tuple(p for p in (recorder, raising, slow) if p is not None)
        frames = FrameLog()
        bridge = Bridge(
            chaos_config(sim, schedule),
            pm=create_plugin_manager(load_entrypoints=False),
            plugins=plugins,
            frame_observer=frames,
        )
        try:
            await bridge.start(ready_timeout=10.0)
        except PMBridgeError as exc:
            violations.append(f"the bridge did not start: {exc}")
            return False
        run = Actions(schedule, sim, bridge, frames, random.Random(schedule.seed))
        stats_before, positions_before = bridge.book.stats(), dict(bridge.positions.stats())
        converged = False
        try:
            for step in schedule.steps:
                await run.do(step)
            converged = await run.settle(self.settle_timeout)
        except Exception as exc:  # a bug in the run itself (or the simulator): report it with the schedule
            violations.append(f"the chaos run failed at a step: {exc!r}")
        try:
            # Changes on a symbol with a position are announced once read back: let the reads in flight finish.
            if bridge.coordinator is not None:
                try:
                    await asyncio.wait_for(bridge.coordinator.readback.settled(), READBACK_WAIT_S)
                except TimeoutError:
                    violations.append(f"position read-backs were still in flight {READBACK_WAIT_S} s after settling")
            # On a worker thread: the flush waits for the hook thread, and the loop must keep serving meanwhile.
            if not await asyncio.to_thread(bridge.pm.flush, 5.0):
                violations.append("hook notifications were still queued 5 s after the schedule settled")
            violations += run.violations
            violations += run.differences() if not converged else []
            violations += check_hooks(run, recorder)
            violations += check_counters(run, stats_before, positions_before)
            violations += check_plugins(bridge, recorder, raising)
            violations += await check_health(bridge)
            violations += check_isolation(bridge, run)
        finally:
            for task in run.reconciles:
                task.cancel()
            violations += await _stop(bridge, recorder, tasks_before)
        effects.update(run.effects)
        effects.update(effects_of(bridge, run, recorder, slow))
        return converged


async def _stop(bridge: Bridge, recorder: ChaosRecorder, tasks_before: set[asyncio.Task[Any]]) -> list[str]:
    try:
        await asyncio.wait_for(bridge.stop("chaos schedule done"), STOP_TIMEOUT_S)
    except TimeoutError:
        return [f"the bridge did not stop within {STOP_TIMEOUT_S} s"]
    problems = []  # stop() delivered every queued notification before it returned
    shutdowns, states = recorder.shutdowns, recorder.states
    if len(shutdowns) != 1:
        problems.append(f"pmbridge_shutdown fired {len(shutdowns)}x on stop")
    if not states or states[-1].new is not StreamState.STOPPED:
        problems.append("the last stream state announced is not 'stopped'")
    leftover = _pmbridge_tasks(tasks_before, simulator=False)
    if leftover:
        problems.append(f"tasks still running after the bridge stopped: {sorted(t.get_name() for t in leftover)}")
    return problems


async def _leftovers(tasks_before: set[asyncio.Task[Any]], threads_before: set[int], grace_s: float = 1.0) -> list[str]:
    """Tasks and threads started during the run that outlive it (after a grace for threads winding down). Leftover
    tasks are reported, then cancelled, so that one leak does not spill into the next schedule's checks."""
    problems = []
    tasks = _pmbridge_tasks(tasks_before, simulator=True)
    if tasks:
        problems.append(f"tasks still running after the simulator stopped: {sorted(t.get_name() for t in tasks)}")
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=grace_s)
    for _ in range(int(grace_s / 0.02)):
        if not (extra := _own_threads() - threads_before):
            break
        await asyncio.sleep(0.02)
    names = sorted(t.name for t in threading.enumerate() if (t.ident or 0) in extra)
    if names:
        problems.append(f"threads left running after the run: {names}")
    return problems


async def run_schedule(schedule: Schedule, settle_timeout: float = SETTLE_TIMEOUT_S) -> ScheduleResult:
    """Run one schedule on a fresh simulator and bridge (see ``ChaosRunner``)."""
    return await ChaosRunner(settle_timeout).run(schedule)
