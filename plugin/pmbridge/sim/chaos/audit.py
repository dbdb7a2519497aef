"""What a settled chaos run is judged on, beyond the books equalling the exchange: the hooks against the true history,
the books' stale/duplicate counters against the injected frames the bridge received, the plugins' errors, the
dispatcher's isolation and the stream's health; and the effect counters that show which faults really happened."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING, Any, Final

from ...models import AccountModeChange, LeverageChange, StreamState
from .check import (
    TrueValue,
    announcements_by_setting,
    check_history,
    check_positions,
    position_announcements,
    positions_from_history,
    truth_from_history,
)

if TYPE_CHECKING:
    from ...book import BookStats
    from ...bridge import Bridge
    from .actions import Actions
    from .plugins import ChaosRecorder, RaisingPlugin, SlowPlugin

HEALTH_GRACE_S: Final = 2.0
"""How long the stream may take to come back if it is cycling when the checks run (see ``check_health``)."""
_RAISING_HOOKS: Final = (
    ("pmbridge_leverage_changed", LeverageChange),
    ("pmbridge_account_mode_changed", AccountModeChange),
)


def check_hooks(run: Actions, recorder: ChaosRecorder) -> list[str]:
    """Every setting's and every position's announcements against the simulator's true history."""
    history, state = run.sim.history(), run.sim.state()
    truth = truth_from_history(history)
    truth["dual_side_position"] = [TrueValue(None, None, state["dual_side_position"])]
    problems = check_history(announcements_by_setting(recorder.changes), truth)
    position_changes = recorder.position_changes
    run.effects["position_changes_announced"] += len(position_changes)
    run.effects.update(f"position_changes_from_{change.source}" for change in position_changes)
    return problems + check_positions(position_announcements(position_changes), positions_from_history(history))


def check_counters(run: Actions, before: BookStats, positions_before: dict[str, int]) -> list[str]:
    """Every injected stale or duplicate frame the bridge received was counted as such by its book; malformed ones
    as errors."""
    received = Counter(run.injected[m] for m in run.frames.marks if m in run.injected)
    run.effects.update({f"{kind}_received": n for kind, n in received.items()})
    stats, positions = run.bridge.book.stats(), run.bridge.positions.stats()
    coordinator = run.bridge.coordinator
    assert coordinator is not None
    counted = {
        ("out-of-order", "stale"): stats.stale - before.stale,
        ("duplicate", "duplicate"): stats.duplicates - before.duplicates,
        ("out-of-order position", "position_stale"): positions["stale"] - positions_before["stale"],
        ("duplicate position", "position_duplicate"): positions["duplicates"] - positions_before["duplicates"],
    }
    problems = [
        f"{received[kind]} {words} frames reached the bridge, the book counted {n}"
        for (words, kind), n in counted.items()
        if n < received[kind]
    ]
    refused = coordinator.decode_errors + sum(coordinator.unknown_event_types.values())
    if refused != received["malformed"]:
        problems.append(f"{received['malformed']} malformed frames reached the bridge, it refused {refused}")
    return problems


def check_plugins(bridge: Bridge, recorder: ChaosRecorder, raising: RaisingPlugin | None) -> list[str]:
    """Only the raising plugin raised, and exactly once per change announced to it."""
    errors = dict(bridge.pm.errors)
    problems = [
        f"plugin {plugin!r} raised {n}x in {hook}" for (plugin, hook), n in errors.items() if plugin != "chaos-raising"
    ]
    if raising is not None:
        changes = recorder.changes
        expected = {hook: sum(isinstance(c, kind) for c in changes) for hook, kind in _RAISING_HOOKS}
        expected["pmbridge_position_changed"] = len(recorder.position_changes)
        for hook, n in expected.items():
            raised = errors.get(("chaos-raising", hook), 0)
            if raised != n:
                problems.append(f"the raising plugin raised {raised}x in {hook}, but {n} changes were announced")
    return problems


def check_isolation(bridge: Bridge, run: Actions) -> list[str]:
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


async def check_health(bridge: Bridge) -> list[str]:
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


def effects_of(bridge: Bridge, run: Actions, recorder: ChaosRecorder, slow: SlowPlugin | None) -> Counter[str]:
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
            position_readbacks=coordinator.readback.reads,
            position_readback_failures=coordinator.readback.failures,
        )
    stats = bridge.book.stats()
    effects.update(
        book_stale=stats.stale,
        book_duplicates=stats.duplicates,
        kept_newer=stats.kept_newer,
        superseded_snapshots=stats.superseded,  # an older snapshot that finished after a newer one: skipped
    )
    positions = bridge.positions.stats()
    effects.update(
        position_events=positions["events"],
        position_stale=positions["stale"],
        position_duplicates=positions["duplicates"],
        position_kept_newer=positions["kept_newer"],
        position_superseded=positions["superseded"],  # positions an older reading, landing late, left alone
    )
    effects["plugin_raised"] = sum(n for (plugin, _), n in bridge.pm.errors.items() if plugin == "chaos-raising")
    effects["changes_announced"] = len(recorder.changes)
    if slow is not None:
        effects.update(slow_plugin_calls=slow.calls, slow_plugin_blocks=slow.blocks)
    return +effects
