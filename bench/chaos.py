"""Chaos run: N seeded fault schedules against the simulator, each on a fresh simulator and bridge, invariants checked.

Prints one JSON object: schedules run, how many converged with every invariant intact, the failures (seed, reasons and
the schedule itself), per fault kind the schedules containing it and those where it visibly took effect (a frame
pushed while no socket was up, or REST trouble armed after the last call, takes none), the summed effect counters,
wall time and per-schedule mean/p50/p90/max.
Exits 1 if any schedule failed; reproduce one with ``--schedules 1 --seed <its seed>``.

Run: ``python bench/chaos.py --schedules 1000 --seed 1`` (schedule i uses seed S+i).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import platform
import statistics
import sys
import threading
import time
from collections import Counter
from typing import Any

from pmbridge.sim.chaos import EXERCISED_BY, FAULT_KINDS, ChaosRunner, ScheduleResult, generate


def own_threads() -> list[str]:
    """Live threads but the loop's default executor (idle workers it keeps by design)."""
    return sorted(t.name for t in threading.enumerate() if not t.name.startswith("asyncio_"))


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (the smallest value with at least q% at or below it)."""
    if not sorted_values:
        return 0.0
    return sorted_values[max(1, math.ceil(q / 100 * len(sorted_values))) - 1]


async def run(count: int, seed: int, settle_timeout: float, progress: bool) -> dict[str, Any]:
    runner = ChaosRunner(settle_timeout)
    results: list[ScheduleResult] = []
    threads_at_start = own_threads()
    started = time.perf_counter()
    for index in range(count):
        result = await runner.run(generate(seed + index))
        results.append(result)
        if progress:
            state = "ok" if result.ok else "FAILED " + "; ".join(result.violations)[:300]
            print(f"[{index + 1}/{count}] seed {result.seed}: {result.duration_s:.2f} s {state}", file=sys.stderr)
    wall = time.perf_counter() - started
    durations = sorted(r.duration_s for r in results)
    steps: Counter[str] = Counter()
    scheduled: Counter[str] = Counter()
    exercised: Counter[str] = Counter()
    effects: Counter[str] = Counter()
    for r in results:
        steps.update(r.kinds)
        scheduled.update(r.kinds.keys())
        effects.update(r.effects)
        exercised.update(kind for kind in r.kinds if r.effects.get(EXERCISED_BY[kind], 0) > 0)
    failures = [
        {"seed": r.seed, "reasons": list(r.violations), "schedule": generate(r.seed).describe().splitlines()}
        for r in results
        if not r.ok
    ]
    return {
        "benchmark": "chaos",
        "seed": seed,
        "schedules": len(results),
        "converged": sum(r.ok for r in results),
        "failed": len(failures),
        "failures": failures,
        # Per kind: schedules that contain it, schedules where its effect was seen, and steps (or switches) in all.
        "fault_kinds": {
            k: {"schedules": scheduled[k], "exercised": exercised[k], "steps": steps[k]} for k in FAULT_KINDS
        },
        "effects": dict(sorted(effects.items())),
        "wall_s": round(wall, 1),
        "per_schedule_s": {
            "mean": round(statistics.fmean(durations), 3) if durations else 0.0,
            "p50": round(percentile(durations, 50), 3),
            "p90": round(percentile(durations, 90), 3),
            "max": round(durations[-1], 3) if durations else 0.0,
        },
        "threads": {"start": threads_at_start, "end": own_threads()},
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=50, help="how many schedules (default 50)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first schedule; schedule i uses seed+i")
    parser.add_argument("--settle-timeout", type=float, default=8.0, help="seconds a schedule may take to converge")
    parser.add_argument("--progress", action="store_true", help="one line per schedule on stderr")
    args = parser.parse_args(argv)
    # Every gap is logged as a warning and the raising plugin's every call as an error: thousands of lines.
    logging.basicConfig(level=logging.CRITICAL)
    report = asyncio.run(run(args.schedules, args.seed, args.settle_timeout, args.progress))
    print(json.dumps(report, indent=2))
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
