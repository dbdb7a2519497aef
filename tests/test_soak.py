"""A day and more of traffic on the compressed clock: nothing the bridge holds grows with it.

Structural checks, not memory figures (RSS on a shared machine is too noisy to pass or fail on; ``bench/soak.py``
measures it over weeks of simulated time): the book is bounded by the symbols, counters by their fixed kinds, and
tasks, sockets and HTTP sessions do not pile up across rotations, reconnects and resyncs.
"""

from __future__ import annotations

import asyncio
import gc
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pmbridge.bridge import Bridge
from pmbridge.sim import SimulatorThread
from pmbridge.testing import HookRecorder, running_bridge

SPEED = 14_400.0
"""Simulated seconds per real second: a simulated day in 6 real seconds."""
HOUR_S = 3600.0
MAX_CONCURRENT_REST = 6
"""A snapshot's five calls (leverage and flags, UM and CM positions) plus a keepalive: the most REST connections the
bridge ever needs at once."""


class KindCounter:
    """Counts hook calls by kind (never by value), so the recorder itself stays small over a long run."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def pmbridge_leverage_changed(self, change: Any) -> None:
        self.calls[f"leverage:{change.source}"] += 1

    def pmbridge_reconciled(self, report: Any) -> None:
        self.calls[f"reconciled:{report.trigger}"] += 1


async def traffic(sim: SimulatorThread, rng: random.Random, hours: float, per_hour: float) -> int:
    """Leverage changes "in the app" at a steady simulated rate on random symbols of both units; returns the count."""
    truth = sim.state()["leverage"]
    symbols = sorted(truth["UM"]) + sorted(truth["CM"])
    started = time.monotonic()
    sent = 0
    while (elapsed := (time.monotonic() - started) * SPEED / HOUR_S) < hours:
        for _ in range(int(elapsed * per_hour) - sent):
            sim.set_leverage(rng.choice(symbols), rng.randint(1, 25))
            sent += 1
        await asyncio.sleep(0.01)
    return sent


def exchange_connections(sim: SimulatorThread) -> int:
    """Established TCP connections from any client to the simulator's port: here only the bridge connects."""
    port = int(sim.base_url.rsplit(":", 1)[1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            remote_port, state = int(fields[2].rsplit(":", 1)[1], 16), fields[3]
            count += remote_port == port and state == "01"
    return count


def bridge_tasks() -> Counter[str]:
    """Every task on this loop but the test's own, by coroutine. The simulator runs on its own loop (in a thread), so
    these are all the bridge's. ccxt's rate limiter starts a task per burst of calls that ends when its queue is
    empty: not counted."""
    current = asyncio.current_task()
    names = (getattr(task.get_coro(), "__qualname__", "?") for task in asyncio.all_tasks() if task is not current)
    return Counter(name for name in names if name != "Throttler.looper")


async def quiescent(bridge: Bridge, sim: SimulatorThread) -> None:
    """Until one socket is up, no resync is running and no rotation overlap is open: a comparable moment."""
    coordinator = bridge.coordinator
    assert coordinator is not None

    def settled() -> bool:
        resync = coordinator._resync_task
        return (
            bridge.available
            and (resync is None or resync.done())
            and not coordinator.stream._retiring
            and sim.state()["sockets"]["pm"] == 1
        )

    await HookRecorder().wait_for(settled, timeout=10.0, what="one socket, no resync, no rotation overlap")


def bridge_objects() -> Counter[str]:
    """Live objects of pmbridge's own types (events, changes, entries, reports...), the simulator's left out."""
    gc.collect()
    return Counter(
        kind.__qualname__
        for kind in map(type, gc.get_objects())
        if kind.__module__.startswith("pmbridge.") and not kind.__module__.startswith("pmbridge.sim")
    )


def footprint(bridge: Bridge, sim: SimulatorThread) -> dict[str, Any]:
    coordinator = bridge.coordinator
    assert coordinator is not None
    return {
        "objects": bridge_objects(),
        "tasks": bridge_tasks(),
        "threads": sorted(thread.name for thread in threading.enumerate()),
        "connections": exchange_connections(sim),
        "book": len(bridge.book),
        "unknown_event_types": dict(coordinator.unknown_event_types),
        "plugin_errors": dict(bridge.pm.errors),
        "stream_session": coordinator.stream._session,
        "ccxt_session": bridge.rest.exchange.session,
    }


async def a_day_on(bridge: Bridge, sim: SimulatorThread, rng: random.Random) -> dict[str, Any]:
    """Warm up, take a footprint, run a simulated day of traffic and faults, take another; returns both and what
    happened in between."""
    coordinator = bridge.coordinator
    assert coordinator is not None
    stream = coordinator.stream
    # Warm-up: every path once (drop, key expiry, 5xx on a snapshot, a rotation), so lazily built state exists.
    sim.drop()
    await traffic(sim, rng, 2, 240)
    sim.expire_key()
    sim.fail(503, 2, paths=["/papi/v1/um/symbolConfig"])
    await traffic(sim, rng, 9, 240)
    await quiescent(bridge, sim)
    before = footprint(bridge, sim)
    rotations, connections = stream.rotations, stream.connections
    keepalives, resyncs, events = stream.keepalives, coordinator.resyncs, bridge.book.stats().events

    sent = 0
    for fault in (sim.drop, sim.expire_key, sim.drop):
        fault()
        sim.set_multi_assets(rng.random() < 0.5)
        sent += await traffic(sim, rng, 2, 240)
    sent += await traffic(sim, rng, 20, 240)
    await quiescent(bridge, sim)
    rotations = stream.rotations - rotations
    return {
        "before": before,
        "after": footprint(bridge, sim),
        "sent": sent,
        "events": bridge.book.stats().events - events,
        "rotations": rotations,
        "reconnects": stream.connections - connections - rotations,
        "keepalives": stream.keepalives - keepalives,
        "resyncs": coordinator.resyncs - resyncs,
    }


@pytest.mark.slow
async def test_a_day_of_traffic_with_rotations_and_reconnects_grows_nothing() -> None:
    counter = KindCounter()
    with SimulatorThread(symbols=40, clock_speed=SPEED) as sim:
        truth = sim.state()["leverage"]
        symbols = len(truth["UM"]) + len(truth["CM"])
        # A rotation every 8 simulated hours (2 real seconds, the 1 s overlap included) puts several in a day.
        async with running_bridge(
            sim,  # type: ignore[arg-type]  # Simulator's surface, synchronous
            counter,
            time_scale=SPEED,
            rotate_after=8 * HOUR_S,
            reconcile_interval=HOUR_S,
        ) as bridge:
            day = await a_day_on(bridge, sim, random.Random(6))
    before, after = day["before"], day["after"]

    assert day["rotations"] >= 2, f"only {day['rotations']} rotations in a simulated day; the scenario did not run"
    assert day["reconnects"] >= 3
    assert day["keepalives"] > 40
    assert day["resyncs"] > 20
    assert day["events"] >= day["sent"] > 1000

    assert after["book"] == before["book"] == symbols, "the book holds one entry per symbol, however many events"
    assert after["tasks"] == before["tasks"], "tasks left behind by rotations, reconnects or resyncs"
    assert after["threads"] == before["threads"]
    # A couple of objects may sit in a log record or a last-value slot; events kept would be thousands.
    grown = {kind: count for kind, count in (after["objects"] - before["objects"]).items() if count > 2}
    assert grown == {}, "pmbridge objects kept as the events went by"
    assert after["connections"] <= 1 + MAX_CONCURRENT_REST, "REST or websocket connections pile up"
    assert after["unknown_event_types"] == {} and after["plugin_errors"] == {}
    # One HTTP session per job for the bridge's whole life: reconnects reuse them, never open more.
    assert after["stream_session"] is before["stream_session"]
    assert after["ccxt_session"] is before["ccxt_session"]
    assert set(counter.calls) <= {"leverage:snapshot", "leverage:stream", "leverage:reconcile"} | {
        f"reconciled:{trigger}" for trigger in ("connect", "interval")
    }

    assert bridge_tasks() == Counter(), "tasks outlived Bridge.stop()"
    await HookRecorder().wait_for(
        lambda: not [t for t in threading.enumerate() if t.name.startswith("pmbridge-hooks")],
        timeout=2.0,
        what="the hook threads to end",
    )
    assert before["stream_session"].closed
    gc.collect()
    unclosed = [o for o in gc.get_objects() if isinstance(o, aiohttp.ClientSession) and not o.closed]
    assert unclosed == []


async def test_stop_during_a_rotation_overlap_leaves_no_task_or_socket_behind() -> None:
    speed = 3600.0  # the rotation below comes after 2 real seconds
    with SimulatorThread(symbols=8, clock_speed=speed) as sim:
        async with running_bridge(sim, time_scale=speed, rotate_after=2 * HOUR_S) as bridge:  # type: ignore[arg-type]
            assert bridge.coordinator is not None
            stream = bridge.coordinator.stream
            await HookRecorder().wait_for(lambda: stream._retiring, timeout=10.0, what="a rotation overlap")
        assert bridge_tasks() == Counter(), "a task outlived Bridge.stop()"
        await HookRecorder().wait_for(
            lambda: exchange_connections(sim) == 0, timeout=2.0, what="every connection to the exchange to close"
        )


async def test_stop_during_a_resync_leaves_no_task_behind() -> None:
    with SimulatorThread(symbols=8) as sim:
        async with running_bridge(sim) as bridge:  # type: ignore[arg-type]
            assert bridge.coordinator is not None
            sim.set_latency(300)  # the snapshot below is still in flight when stop() comes
            bridge.coordinator.request_resync("interval")
            await asyncio.sleep(0.05)
        sim.set_latency(0)
        await asyncio.sleep(0.5)
        assert bridge_tasks() == Counter(), "a task outlived Bridge.stop()"
