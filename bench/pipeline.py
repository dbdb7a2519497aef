"""Hot-path benchmark: decode + book.apply + hook dispatch per ACCOUNT_CONFIG_UPDATE frame.

Prints one JSON object. Every figure is a median over repeated runs in this process, taken in turn (baseline, decode,
each pipeline, again...) so that a slow spell of a shared machine falls on all of them, and decode and the pipeline
are reported as ratios to ``orjson.loads`` of the same frames (targets: decode <= 2, pipeline <= 10), so the numbers
compare across machines. Also: ns per book read, and bytes per tracked symbol at 10,000 symbols (target
< 1 KB). Run: ``python bench/pipeline.py [--frames N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable

import orjson

from pmbridge import LeverageBook, Snapshot, SymbolMap, create_plugin_manager, decode
from pmbridge.manager import DEFAULT_PLUGINS
from pmbridge.models import LeverageChange


def make_frames(count: int, symbols: int = 100) -> list[bytes]:
    """Frames over ``symbols`` symbols whose leverage alternates, so every frame is a real change."""
    frames = []
    for i in range(count):
        symbol = f"S{i % symbols:04d}USDT"
        leverage = 10 + (i // symbols) % 2 * 10
        frames.append(
            orjson.dumps(
                {
                    "e": "ACCOUNT_CONFIG_UPDATE",
                    "fs": "UM",
                    "E": 1_700_000_000_000 + i,
                    "T": 1_700_000_000_000 + i - 2,
                    "ac": {"s": symbol, "l": leverage},
                }
            )
        )
    return frames


class CountingPlugin:
    def __init__(self) -> None:
        self.seen = 0

    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
        self.seen += 1


def median_ns_per_item(run: Callable[[], int], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter_ns()
        items = run()
        samples.append((time.perf_counter_ns() - started) / items)
    return statistics.median(samples)


def interleaved_medians(runs: dict[str, Callable[[], int]], repeat: int) -> dict[str, float]:
    """Median ns per item of each run, the runs taken in turn ``repeat`` times: a shared machine's slow spells then
    fall on every figure alike instead of on one of them (the ratios are what is compared)."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            started = time.perf_counter_ns()
            items = run()
            samples[name].append((time.perf_counter_ns() - started) / items)
    return {name: statistics.median(values) for name, values in samples.items()}


class Pipeline:
    """decode + apply + notify over ``frames`` with ``plugins`` counting plugins; ``dispatched``: called on the hook
    thread, as in a running bridge (timed until the last delivery); otherwise on the calling thread, as in a replay."""

    def __init__(self, frames: list[bytes], plugins: int, dispatched: bool) -> None:
        self.frames = frames
        self.counters = [CountingPlugin() for _ in range(plugins)]
        self.pm = create_plugin_manager(plugins=self.counters, block=DEFAULT_PLUGINS, load_entrypoints=False)
        if dispatched:
            self.pm.start_dispatch(0.1)
        self.runs = 0

    def __call__(self) -> int:
        notify = self.pm.notify
        book = LeverageBook()
        apply = book.apply
        for raw in self.frames:
            for change in apply(decode(raw)):  # type: ignore[arg-type]
                notify("pmbridge_leverage_changed", change)
        if not self.pm.flush(60):
            raise RuntimeError("the hook thread did not deliver within 60 s")
        self.runs += 1
        return len(self.frames)

    def close(self) -> None:
        self.pm.stop_dispatch()
        seen = len(self.frames) * self.runs
        assert all(counter.seen == seen for counter in self.counters), "every frame must be a change"


def bench_reads(repeat: int) -> dict[str, float]:
    symbols = [f"S{i:04d}USDT" for i in range(1000)]
    book = LeverageBook(SymbolMap(("UM", s, f"S{i:04d}/USDT:USDT") for i, s in enumerate(symbols)))
    book.apply_snapshot(Snapshot({"UM": dict.fromkeys(symbols, 20)}), requested_at=book.mark())
    unified = [f"S{i:04d}/USDT:USDT" for i in range(1000)]

    def by_id() -> int:
        leverage = book.leverage
        for symbol in symbols:
            leverage(symbol, "UM")
        return len(symbols)

    def by_unified() -> int:
        leverage = book.leverage
        for symbol in unified:
            leverage(symbol)
        return len(unified)

    return {
        "book_read_ns": round(median_ns_per_item(by_id, repeat * 20), 1),
        "book_read_unified_ns": round(median_ns_per_item(by_unified, repeat * 20), 1),
    }


def bytes_per_symbol(count: int = 10_000) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    book = LeverageBook()
    frames = make_frames(count, symbols=count)
    for raw in frames:
        book.apply(decode(raw))  # type: ignore[arg-type]
    del frames
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    allocated = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert len(book) == count
    return round(allocated / count, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    frames = make_frames(args.frames)
    gc.freeze()

    def baseline() -> int:
        loads = orjson.loads
        for raw in frames:
            loads(raw)
        return len(frames)

    def decode_only() -> int:
        for raw in frames:
            decode(raw)
        return len(frames)

    pipelines = {
        f"plugins_{plugins}" + ("" if dispatched else "_inline"): Pipeline(frames, plugins, dispatched)
        for plugins in (1, 5)
        for dispatched in (True, False)
    }
    medians = interleaved_medians({"orjson": baseline, "decode": decode_only, **pipelines}, args.repeat)
    for pipeline in pipelines.values():
        pipeline.close()
    orjson_ns, decode_ns = medians["orjson"], medians["decode"]
    rows = {
        name: {"median_ns": round(medians[name], 1), "ratio_vs_orjson": round(medians[name] / orjson_ns, 2)}
        for name in pipelines
    }
    report = {
        "benchmark": "pipeline",
        "frames": args.frames,
        "repeat": args.repeat,
        "orjson_loads_ns": round(orjson_ns, 1),
        "decode_ns": round(decode_ns, 1),
        "decode_ratio_vs_orjson": round(decode_ns / orjson_ns, 2),
        "pipeline": rows,
        "ratio_vs_orjson": max(row["ratio_vs_orjson"] for row in rows.values()),  # the dispatched rows
        **bench_reads(args.repeat),
        "bytes_per_symbol_10k": bytes_per_symbol(),
        "targets": {"ratio_vs_orjson": 10, "decode_ratio_vs_orjson": 2, "bytes_per_symbol_10k": 1024},
        "python": platform.python_version(),
    }
    report["within_targets"] = (
        report["ratio_vs_orjson"] <= 10  # type: ignore[operator]
        and report["decode_ratio_vs_orjson"] <= 2  # type: ignore[operator]
        and report["bytes_per_symbol_10k"] < 1024  # type: ignore[operator]
    )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
