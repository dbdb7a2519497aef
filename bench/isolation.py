"""Plugin isolation benchmark: how long a well-behaved plugin waits behind one that raises, blocks or is slow.

Notifications are sent at a steady rate through a dispatching plugin manager (as in a running bridge) with a
well-behaved plugin that stamps the time it is called, next to one misbehaving plugin per scenario:

* ``baseline``: none (the reference measured in this run);
* ``raising``: raises on every call;
* ``stuck``: blocks in its first call for the whole run (a dead network peer);
* ``slow``: sleeps ``--slow-ms`` on every call (under the budget each time, far too slow in sum).

Prints one JSON object: per scenario the delivery delay of the well-behaved plugin (p50, p99, max, in ms), what
was detached and why, and whether the max stayed within the documented bound (``1.4 x budget`` behind a stuck call,
``3 x budget`` behind a slow plugin, plus the baseline max). Run: ``python bench/isolation.py [--budget 0.1]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import threading
import time
from typing import Any

from pmbridge import create_plugin_manager
from pmbridge.manager import DEFAULT_PLUGINS
from pmbridge.models import LeverageChange


class Stamped:
    def __init__(self) -> None:
        self.seen: list[tuple[int, float]] = []

    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
        self.seen.append((change.new, time.perf_counter()))


class Raising:
    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
        raise RuntimeError("broken on purpose")


class Stuck:
    def __init__(self) -> None:
        self.release = threading.Event()

    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
        self.release.wait(120)


class Slow:
    def __init__(self, delay: float) -> None:
        self.delay = delay

    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
        time.sleep(self.delay)


def run(scenario: str, budget: float, rate: float, seconds: float, slow_ms: float) -> dict[str, Any]:
    good = Stamped()
    misbehaving: dict[str, Any] = {
        "baseline": None,
        "raising": Raising(),
        "stuck": Stuck(),
        "slow": Slow(slow_ms / 1000),
    }
    bad = misbehaving[scenario]
    plugins = (good,) if bad is None else (bad, good)  # the bad one is called first: the worst case for the good
    pm = create_plugin_manager(plugins=plugins, block=DEFAULT_PLUGINS, load_entrypoints=False)
    pm.start_dispatch(budget)
    count = int(rate * seconds)
    sent: list[float] = []
    started = time.perf_counter()
    for value in range(count):
        target = started + value / rate
        while (now := time.perf_counter()) < target:
            time.sleep(min(0.001, target - now))
        sent.append(time.perf_counter())
        pm.notify(
            "pmbridge_leverage_changed",
            LeverageChange(unit="UM", exchange_symbol="BTCUSDT", old=None, new=value, source="stream", event_time=1),
        )
    delivered = pm.flush(30, include_detached=False)
    isolation = pm.isolation()
    if isinstance(bad, Stuck):
        bad.release.set()
    pm.stop_dispatch(timeout=30)
    delays = sorted((at - sent[value]) * 1000 for value, at in good.seen)
    in_order = [value for value, _ in good.seen] == list(range(count))
    return {
        "notifications": count,
        "delivered_all_in_order": delivered and in_order,
        "delay_ms": {
            "p50": round(statistics.median(delays), 3),
            "p99": round(delays[int(len(delays) * 0.99) - 1], 3),
            "max": round(delays[-1], 3),
        },
        "detached": {name: lane["reason"] for name, lane in isolation["detached"].items()},
        "errors": sum(pm.errors.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=float, default=0.1, help="plugin_budget in seconds (0.1)")
    parser.add_argument("--rate", type=float, default=500.0, help="notifications per second (500)")
    parser.add_argument("--seconds", type=float, default=4.0, help="per scenario (4)")
    parser.add_argument("--slow-ms", type=float, default=20.0, help="the slow plugin's time per call (20)")
    args = parser.parse_args()
    scenarios = {
        name: run(name, args.budget, args.rate, args.seconds, args.slow_ms)
        for name in ("baseline", "raising", "stuck", "slow")
    }
    baseline_max = scenarios["baseline"]["delay_ms"]["max"]
    bounds_ms = {
        "baseline": baseline_max,
        "raising": baseline_max,
        "stuck": 1.4 * args.budget * 1000 + baseline_max,
        "slow": 3 * args.budget * 1000 + baseline_max,
    }
    for name, row in scenarios.items():
        row["bound_ms"] = round(bounds_ms[name], 3)
        row["max_vs_baseline_max"] = round(row["delay_ms"]["max"] / baseline_max, 2) if baseline_max else None
    report = {
        "benchmark": "isolation",
        "budget_s": args.budget,
        "rate_per_s": args.rate,
        "seconds_per_scenario": args.seconds,
        "scenarios": scenarios,
        "within_bounds": all(
            row["delivered_all_in_order"] and row["delay_ms"]["max"] <= row["bound_ms"] * 1.0001
            for name, row in scenarios.items()
            if name in ("stuck", "slow")
        ),
        "python": platform.python_version(),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
