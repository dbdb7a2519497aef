"""Run one chaos schedule against a fresh in-process simulator and bridge, let it settle, and check the invariants.

After the last step the injected REST trouble is lifted and the bridge is left alone (no forced reconcile: convergence
must come from its own reconnects and resyncs) until the book equals ``/_sim/state``. Then: the announcements against
the simulator's true history (``check``), the book's stale/duplicate counters against the injected frames the
bridge received, the plugin errors (only the deliberately raising plugin's, one per change), a clean stop, and no
thread or task left behind.
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
from ...models import LeverageChange, StreamState
from ..server import Simulator
from .actions import Actions
from .check import TrueValue, announcements_by_setting, book_differences, check_history, truth_from_history
from .plugins import ChaosRecorder, FrameLog, RaisingPlugin, SlowPlugin
from .schedule import Schedule
from .steps import FAST_CLOCK_SPEED, ROTATE_AFTER_FAST_S, SIM_SYMBOLS

SETTLE_TIMEOUT_S: Final = 8.0
STOP_TIMEOUT_S: Final = 10.0
HEALTH_GRACE_S: Final = 2.0
"""How long the stream may take to come back if it is cycling when the checks run (see ``_check_health``)."""
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
        stats_before = bridge.book.stats()
        converged = False
        try:
            for step in schedule.steps:
                await run.do(step)
            converged = await run.settle(self.settle_timeout)
        except Exception as exc:  # a bug in the run itself (or the simulator): report it with the schedule
            violations.append(f"the chaos run failed at a step: {exc!r}")
        try:
            # On a worker thread: the flush waits for the hook thread, and the loop must keep serving meanwhile.
            if not await asyncio.to_thread(bridge.pm.flush, 5.0):
                violations.append("hook notifications were still queued 5 s after the schedule settled")
            violations += run.violations
            violations += book_differences(bridge.book, sim.state()) if not converged else []
            violations += _check_hooks(run, recorder, sim)
            violations += _check_counters(run, stats_before)
            violations += _check_plugins(bridge, recorder, raising)
            violations += await _check_health(bridge)
            violations += _check_isolation(bridge, run)
        finally:
            for task in run.reconciles:
                task.cancel()
            violations += await _stop(bridge, recorder, tasks_before)
        effects.update(run.effects)
        effects.update(_effects(bridge, run, recorder, slow))
        return converged


def _check_hooks(run: Actions, recorder: ChaosRecorder, sim: Simulator) -> list[str]:
    truth = truth_from_history(sim.history())
    truth["dual_side_position"] = [TrueValue(None, None, sim.state()["dual_side_position"])]
    return check_history(announcements_by_setting(recorder.changes), truth)


def _check_counters(run: Actions, before: Any) -> list[str]:
    """Every injected stale or duplicate frame the bridge received was counted as such; malformed ones as errors."""
    received = Counter(run.injected[m] for m in run.frames.marks if m in run.injected)
    run.effects.update({f"{kind}_received": n for kind, n in received.items()})
    stats = run.bridge.book.stats()
    coordinator = run.bridge.coordinator
    assert coordinator is not None
    problems = []
    if stats.stale - before.stale < received["stale"]:
        problems.append(
            f"{received['stale']} out-of-order frames reached the bridge, the book counted {stats.stale - before.stale}"
        )
    if stats.duplicates - before.duplicates < received["duplicate"]:
        problems.append(
            f"{received['duplicate']} duplicate frames reached the bridge, "
            f"the book counted {stats.duplicates - before.duplicates}"
        )
    refused = coordinator.decode_errors + sum(coordinator.unknown_event_types.values())
    if refused != received["malformed"]:
        problems.append(f"{received['malformed']} malformed frames reached the bridge, it refused {refused}")
    return problems


def _check_plugins(bridge: Bridge, recorder: ChaosRecorder, raising: RaisingPlugin | None) -> list[str]:
    errors = dict(bridge.pm.errors)
    problems = [
        f"plugin {plugin!r} raised {n}x in {hook}" for (plugin, hook), n in errors.items() if plugin != "chaos-raising"
    ]
    if raising is not None:
        changes = recorder.changes
        leverage = sum(isinstance(c, LeverageChange) for c in changes)
        modes = len(changes) - leverage
        for hook, expected in (("pmbridge_leverage_changed", leverage), ("pmbridge_account_mode_changed", modes)):
            raised = errors.get(("chaos-raising", hook), 0)
            if raised != expected:
                problems.append(f"the raising plugin raised {raised}x in {hook}, but {expected} changes were announced")
    return problems


def _check_isolation(bridge: Bridge, run: Actions) -> list[str]:
    """Detaching a plugin (the slow one, or any on a loaded machine) is the dispatcher doing its job; a notification
    dropped for the recorder or the raising plugin would make the hook checks meaningless."""
    lanes: dict[str, Any] = bridge.pm.isolation().get("detached", {})
    run.effects["plugins_detached"] += len(lanes)
    run.effects.update(f"detached_{name.removeprefix('chaos-')}" for name in lanes)
    return [
        f"the dispatcher dropped {lane['dropped']} notifications for {name!r} ({lane['reason']})"
        for name, lane in lanes.items()
        if lane["dropped"] and name != "chaos-slow"
    ]


async def _check_health(bridge: Bridge) -> list[str]:
    # A key that died silently is only found by the next keepalive, possibly after the book already converged
    # through a reconcile: the stream may be cycling right now, and must be back within the grace.
    for _ in range(int(HEALTH_GRACE_S / 0.01)):
        if bridge.available:
            break
        await asyncio.sleep(0.01)
    problems = []
    if bridge.stop_reason is not None:
        problems.append(f"the bridge stopped by itself: {bridge.stop_reason}")
    coordinator = bridge.coordinator
    if coordinator is None or coordinator.state is not StreamState.CONNECTED:
        problems.append(f"the stream is not connected at the end ({coordinator and coordinator.state})")
    if coordinator is not None:
        if coordinator.frame_failures:
            problems.append(f"{coordinator.frame_failures} decoded frames failed to apply (an internal error)")
        if coordinator.future_events:
            problems.append(f"{coordinator.future_events} real events were dropped as dated in the future")
    return problems


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


def _effects(bridge: Bridge, run: Actions, recorder: ChaosRecorder, slow: SlowPlugin | None) -> Counter[str]:
    effects: Counter[str] = Counter()
    faults = run.sim.engine.faults
    for status, n in faults.failures_answered.items():
        effects["rest_answered_5xx" if status >= 500 else f"rest_answered_{status}"] += n
    effects["rest_answered_1021"] = effects.pop("rest_answered_400", 0)  # the only 400 a schedule injects
    effects["rest_delayed"] = faults.delays_applied
    coordinator = bridge.coordinator
    if coordinator is not None:
        stream = coordinator.stream
        effects.update(
            connections=stream.connections,
            rotations=stream.rotations,
            key_renewals=stream.key_renewals,
            keepalives=stream.keepalives,
            resyncs=coordinator.resyncs,
            future_events=coordinator.future_events,
        )
    stats = bridge.book.stats()
    effects.update(
        book_stale=stats.stale,
        book_duplicates=stats.duplicates,
        kept_newer=stats.kept_newer,
        superseded_snapshots=stats.superseded,  # an older snapshot that finished after a newer one: skipped
    )
    effects["plugin_raised"] = sum(n for (plugin, _), n in bridge.pm.errors.items() if plugin == "chaos-raising")
    effects["changes_announced"] = len(recorder.changes)
    if slow is not None:
        effects.update(slow_plugin_calls=slow.calls, slow_plugin_blocks=slow.blocks)
    return +effects


async def run_schedule(schedule: Schedule, settle_timeout: float = SETTLE_TIMEOUT_S) -> ScheduleResult:
    """Run one schedule on a fresh simulator and bridge (see ``ChaosRunner``)."""
    return await ChaosRunner(settle_timeout).run(schedule)
