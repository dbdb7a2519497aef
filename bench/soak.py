"""Soak benchmark: days of simulated account traffic on a compressed clock; does the bridge's memory stay flat?

Three processes on 127.0.0.1: the simulator (``python -m pmbridge.sim --clock-speed S``), the bridge (this file run
with ``--role bridge``: a started ``Bridge`` with ``time_scale=S`` and one counting plugin, nothing else), and this
process, which drives the traffic through the simulator's control API and samples the bridge. The bridge is alone in
its process, so its RSS is what a user running it for weeks would see.

Traffic, in simulated time from the moment the bridge is ready:

- ``--changes-per-hour`` leverage changes "made in the Binance app" (``/_sim/leverage``), each a real change, on
  random symbols (``--cm-share`` of them COIN-M), so every one is an ``ACCOUNT_CONFIG_UPDATE`` and a hook call;
- a multi-assets flip every ``--flip-hours``;
- the production cadences: a reconcile every 15 min, a listenKey keepalive every 25 min, a rotation 23 h after each
  connection (make-before-break);
- per ``--cycle-hours`` cycle (48 by default, so the two rotations of an uninterrupted connection happen first):
  at 1/4 of the cycle two HTTP 503 on the next UM snapshot call, at 3/4 one HTTP 429 (``Retry-After: 1``), then in the
  cycle's last 1.5 h a -1125 on the next keepalive (new key), a ``listenKeyExpired`` (``/_sim/expire_key``) and two
  socket drops (``/_sim/drop``), 30 min apart. Each of those four is a reconnect followed by a resync.

Samples every ``--sample-hours``: the bridge's VmRSS (read here from ``/proc/<pid>/status``) and, from inside it,
``sys.getallocatedblocks()``, the gc-tracked objects created since ``Bridge.start`` froze the start-up heap, asyncio
tasks, threads, open sockets and file descriptors, and the bridge's own containers (book, rotation
overlaps, notifications waiting for the hook thread, unknown event types, plugin errors, ccxt's pooled connections
and rate-limit window). Figures count from the first sample after ``--warmup-days`` (4: two fault cycles, so every
path has run twice, and more than the real minute that ccxt's rolling rate-limit window needs to fill). Reported:
start, end, min, max, growth and the least-squares slope per simulated day; the counts of what really happened (the
bridge's diagnostics and ``/_sim/stats``); whether the book equals the simulator's state at the end; the live object
types (after a full collection) that grew most since the warm-up; with ``--tracemalloc N``, the source lines whose
allocations grew most (it slows the bridge and adds RSS).

Pass (exit 0, else 1) when, after warm-up: RSS grew by at most ``--max-growth-mib`` (5) with a slope of at most
``--max-slope-kib`` (128 KiB per simulated day); python's heap blocks trend up by at most ``--max-blocks-per-day``
(2,000); the typical number of tasks and of sockets (median of the last quarter of the samples against the first
quarter) rose by at most 1, of threads not at all; the book stayed at one entry per symbol and equals the exchange
at the end; the bridge logged no traceback. Why these numbers: keeping one small object per leverage event costs >=
56 bytes x 5,760 events/day (the default traffic) = 315 KiB/day and >= 5,760 blocks/day; a socket leaked per
reconnect or rotation (about 3 a day) keeps its read buffer and protocol objects, tens of KiB each, and a leaked
task only a few KiB, which is why tasks and sockets are counted as well: over a month either rises by dozens. RSS
also moves by a few hundred KiB for reasons that are not leaks (pymalloc arenas, allocator free lists), so one
before/after pair would not do: growth and slope together.

Run: ``python bench/soak.py [--days 30] [--clock-speed 2880] [--changes-per-hour 240] [--symbols 200] [--seed 1]``.
The clock speed is capped so the bridge's REST calls stay well inside ccxt's rate limit, which counts real seconds
(2880 with the 15-minute reconcile: about 10 weight/s of 20). Prints one JSON object. The children exit when their
stdin closes (bridge) or on SIGTERM (simulator).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
from childproc import BenchError, Child, loadavg, machine, proc_status_kib, reply, run_report, run_role, stdin_lines

HOUR_S = 3600.0
DAY_H = 24.0
MIB = 1024.0
REST_WEIGHT_PER_S_MAX = 12.0
LEVERAGE_RANGE = (1, 25)  # valid on every simulated contract (the smallest maximum is 50x)


# ---------------------------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------------------------
def slope_per_day(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of ``value`` over ``hour``, per simulated day."""
    if len(points) < 3:
        return None
    hours = [h for h, _ in points]
    values = [v for _, v in points]
    mean_h, mean_v = statistics.fmean(hours), statistics.fmean(values)
    spread = sum((h - mean_h) ** 2 for h in hours)
    if spread == 0:
        return None
    return sum((h - mean_h) * (v - mean_v) for h, v in points) / spread * DAY_H


# ---------------------------------------------------------------------------------------------------------------
# the bridge process
# ---------------------------------------------------------------------------------------------------------------
class HookCounter:
    """Counts hook calls by kind; keys are from small fixed sets (hook, source, trigger, state), never from data."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def pmbridge_leverage_changed(self, change: Any) -> None:
        self.calls[f"leverage_changed:{change.source}"] += 1

    def pmbridge_account_mode_changed(self, change: Any) -> None:
        self.calls[f"account_mode_changed:{change.source}"] += 1

    def pmbridge_stream_state_changed(self, change: Any) -> None:
        self.calls[f"stream_state_changed:{change.new}"] += 1

    def pmbridge_reconciled(self, report: Any) -> None:
        self.calls[f"reconciled:{report.trigger}"] += 1


def socket_count() -> tuple[int, int]:
    """(open file descriptors, of which sockets) of this process."""
    fds = sockets = 0
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            fds += 1
            if os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                sockets += 1
    return fds, sockets


def type_histogram() -> Counter[str]:
    """Live gc-tracked objects by type (cyclic garbage collected first); under ``gc.freeze()`` only those created
    since the bridge started."""
    gc.collect()
    objects = gc.get_objects()
    counts = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in objects)
    del objects
    return counts


def bridge_footprint(bridge: Any) -> dict[str, Any]:
    coordinator = bridge.coordinator
    stream = coordinator.stream
    exchange = bridge.rest.exchange
    fds, sockets = socket_count()
    connector = getattr(getattr(exchange, "session", None), "connector", None)
    pooled = sum(len(conns) for conns in getattr(connector, "_conns", {}).values()) if connector else 0
    throttler = getattr(exchange, "throttler", None)
    dispatcher = getattr(bridge.pm, "dispatcher", None)
    return {
        "allocated_blocks": sys.getallocatedblocks(),
        "gc_tracked": len(gc.get_objects()),
        "tasks": len(asyncio.all_tasks()),
        "threads": threading.active_count(),
        "hook_queue": None if dispatcher is None else dispatcher.stats()["waiting"],
        "fds": fds,
        "sockets": sockets,
        "book_symbols": len(bridge.book),
        "retiring_sockets": len(stream._retiring),
        "unknown_event_types": len(coordinator.unknown_event_types),
        "plugin_error_keys": len(bridge.pm.errors),
        "ccxt_pooled_connections": pooled,
        "ccxt_throttle_window": len(getattr(throttler, "timestamps", ())),
        "available": bridge.available,
    }


async def role_bridge() -> None:
    from pmbridge.bridge import Bridge
    from pmbridge.config import BridgeConfig
    from pmbridge.manager import create_plugin_manager

    reader = await stdin_lines()
    start = orjson.loads(await reader.readline())
    counter = HookCounter()
    config = BridgeConfig.for_simulator(
        start["base_url"],
        start["api_key"],
        start["api_secret"],
        time_scale=start["time_scale"],
        reconcile_interval=start["reconcile_interval"],
    )
    bridge = Bridge(config, pm=create_plugin_manager(load_entrypoints=False), plugins=(counter,))
    await bridge.start(ready_timeout=60.0)
    reply({"ok": True, "pid": os.getpid(), "symbols": len(bridge.book)})
    baseline_types: Counter[str] = Counter()
    trace_baseline: Any = None

    def footprint(cmd: dict[str, Any]) -> dict[str, Any]:
        return bridge_footprint(bridge)

    def mark(cmd: dict[str, Any]) -> dict[str, Any]:
        """The end of the warm-up: remember the type histogram (and start tracemalloc if asked)."""
        nonlocal baseline_types, trace_baseline
        baseline_types = type_histogram()
        if cmd.get("tracemalloc"):
            import tracemalloc

            tracemalloc.start(cmd["tracemalloc"])
            trace_baseline = tracemalloc.take_snapshot()
        return {}

    def growth(cmd: dict[str, Any]) -> dict[str, Any]:
        now = type_histogram()
        grown = {name: now[name] - baseline_types[name] for name in now if now[name] > baseline_types[name]}
        top = sorted(grown.items(), key=lambda item: -item[1])[:12]
        out: dict[str, Any] = {
            "live_objects": [sum(baseline_types.values()), sum(now.values())],
            "growing_types": [[name, delta, now[name]] for name, delta in top],
        }
        if trace_baseline is not None:
            import tracemalloc

            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen *>")]
            )
            stats = snapshot.compare_to(trace_baseline, "lineno")
            out["tracemalloc_top"] = [
                [str(s.traceback[0]), round(s.size_diff / 1024, 1), s.count_diff] for s in stats[:15]
            ]
            tracemalloc.stop()
        return out

    def book(cmd: dict[str, Any]) -> dict[str, Any]:
        entries: dict[str, dict[str, int]] = {"UM": {}, "CM": {}}
        for (unit, symbol), entry in bridge.book.entries().items():
            entries[unit][symbol] = entry.leverage
        return {"leverage": entries, "multi_assets": bridge.book.multi_assets}

    def report(cmd: dict[str, Any]) -> dict[str, Any]:
        bridge.pm.flush()  # hooks may be delivered on a dispatcher thread: wait until the counter saw them all
        diag = bridge.diagnostics("soak")
        return {"diagnostics": diag, "hooks": dict(sorted(counter.calls.items()))}

    handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "footprint": footprint,
        "mark": mark,
        "growth": growth,
        "book": book,
        "report": report,
    }
    try:
        while line := await reader.readline():
            command = orjson.loads(line)
            name = command.get("cmd")
            if name == "stop":
                started = time.perf_counter()
                await bridge.stop("soak done")
                reply({"ok": True, "stop_s": round(time.perf_counter() - started, 3)})
                continue
            try:
                reply({"ok": True, **handlers[name](command)})
            except Exception as exc:  # the parent turns this into a clear error
                reply({"ok": False, "error": f"{name}: {type(exc).__name__}: {exc}"})
    finally:
        await bridge.stop()


# ---------------------------------------------------------------------------------------------------------------
# the parent: children, traffic, samples
# ---------------------------------------------------------------------------------------------------------------
class BridgeChild(Child):
    """The bridge process (this file run with ``--role bridge``); its log is its stderr."""

    def __init__(self) -> None:
        super().__init__("bridge", os.path.abspath(__file__))

    async def start_bridge(self, start_line: dict[str, Any]) -> dict[str, Any]:
        await self.start("bridge")
        self.send(start_line)
        return await self.read(90.0)

    async def ask(self, cmd: str, timeout: float = 60.0, **fields: Any) -> dict[str, Any]:
        return await super().ask(cmd, timeout, **fields)

    async def close(self, timeout: float = 10.0) -> None:
        await super().close(timeout)


async def start_simulator(args: argparse.Namespace, log: Any) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pmbridge.sim",
        "--port",
        "0",
        "--symbols",
        str(args.symbols),
        "--clock-speed",
        str(args.clock_speed),
        "--seed",
        str(args.seed),
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    if not line:
        raise BenchError("the simulator exited before printing its start-up line")
    return proc, orjson.loads(line)


def fault_schedule(args: argparse.Namespace) -> list[tuple[float, str]]:
    """(simulated hour, action), sorted. See the module docstring."""
    total_h = args.days * DAY_H
    cycle = args.cycle_hours
    plan: list[tuple[float, str]] = []
    for index in range(math.ceil(total_h / cycle)):
        base = index * cycle
        plan += [
            (base + cycle / 4, "rest_503"),
            (base + cycle * 3 / 4, "rest_429"),
            (base + cycle - 1.5, "keepalive_1125"),
            (base + cycle - 1.0, "expire_key"),
            (base + cycle - 0.5, "drop"),
            (base + cycle, "drop"),
        ]
    flips = int(total_h / args.flip_hours)
    plan += [((i + 1) * args.flip_hours, "flip_multi_assets") for i in range(flips)]
    return sorted(p for p in plan if p[0] < total_h)


class Driver:
    """This process's side: the simulator's control API over one keep-alive HTTP session."""

    def __init__(self, session: Any, base_url: str, rng: random.Random) -> None:
        self.session = session
        self.base = base_url
        self.rng = rng
        self.sent = 0
        self.rejected = 0
        self.faults: Counter[str] = Counter()
        self.leverage: dict[str, int] = {}
        self.um: list[str] = []
        self.cm: list[str] = []
        self.multi_assets = False

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        async with self.session.request(method, self.base + path, json=body) as response:
            answer: dict[str, Any] = await response.json()
            if response.status != 200:
                raise BenchError(f"{method} {path}: HTTP {response.status}: {answer}")
            return answer

    async def load(self) -> dict[str, Any]:
        state = await self.call("GET", "/_sim/state")
        self.leverage = {**state["leverage"]["UM"], **state["leverage"]["CM"]}
        self.um, self.cm = sorted(state["leverage"]["UM"]), sorted(state["leverage"]["CM"])
        self.multi_assets = state["multi_assets"]
        return state

    async def change_leverage(self, cm_share: float) -> None:
        symbol = self.rng.choice(self.cm if self.rng.random() < cm_share else self.um)
        current = self.leverage[symbol]
        new = self.rng.randint(LEVERAGE_RANGE[0], LEVERAGE_RANGE[1] - 1)
        new += new >= current  # a real change every time: never the current value
        answer = await self.session.post(self.base + "/_sim/leverage", json={"symbol": symbol, "leverage": new})
        async with answer:
            if answer.status == 200:
                self.leverage[symbol] = new
                self.sent += 1
            else:
                self.rejected += 1

    async def fault(self, action: str) -> None:
        self.faults[action] += 1
        if action == "rest_503":
            await self.call("POST", "/_sim/fail", {"status": 503, "count": 2, "paths": ["/papi/v1/um/symbolConfig"]})
        elif action == "rest_429":
            body = {"status": 429, "count": 1, "retry_after": 1, "paths": ["/papi/v1/um/symbolConfig"]}
            await self.call("POST", "/_sim/fail", body)
        elif action == "keepalive_1125":
            await self.call("POST", "/_sim/fail", {"status": 400, "count": 1, "code": -1125, "paths": [KEY_PATH]})
        elif action == "expire_key":
            await self.call("POST", "/_sim/expire_key", {"account": "pm"})
        elif action == "drop":
            await self.call("POST", "/_sim/drop", {})
        elif action == "flip_multi_assets":
            self.multi_assets = not self.multi_assets
            await self.call("POST", "/_sim/multi_assets", {"enabled": self.multi_assets})


KEY_PATH = "/papi/v1/listenKey"


def book_differences(book: dict[str, Any], truth: dict[str, Any]) -> list[str]:
    wrong = [
        f"{unit} {symbol}: book {book['leverage'][unit].get(symbol)} != exchange {leverage}"
        for unit in ("UM", "CM")
        for symbol, leverage in truth["leverage"][unit].items()
        if book["leverage"][unit].get(symbol) != leverage
    ]
    if book["multi_assets"] != truth["multi_assets"]:
        wrong.append(f"multi_assets: book {book['multi_assets']} != exchange {truth['multi_assets']}")
    return wrong


def quarter_medians(samples: list[dict[str, Any]], key: str, warmup_h: float) -> list[float]:
    """Median of the first and of the last quarter of the measured samples: what a count settles at, early and
    late, without the moments a sample lands in a rotation overlap or a resync."""
    values = [s[key] for s in samples if s["hour"] >= warmup_h]
    quarter = max(1, len(values) // 4)
    return [statistics.median(values[:quarter]), statistics.median(values[-quarter:])]


def series(samples: list[dict[str, Any]], key: str, warmup_h: float) -> dict[str, Any]:
    measured = [s for s in samples if s["hour"] >= warmup_h]
    values = [s[key] for s in measured]
    if not values:
        return {}
    slope = slope_per_day([(s["hour"], s[key]) for s in measured])
    return {
        "start": values[0],
        "end": values[-1],
        "min": min(values),
        "max": max(values),
        "growth": values[-1] - values[0],
        "slope_per_day": None if slope is None else round(slope, 1),
    }


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    report: dict[str, Any] = {
        "benchmark": "soak",
        "command": " ".join(["python", "bench/soak.py", *sys.argv[1:]]),
        "args": vars(args),
        **machine(),
    }
    wall_started = time.perf_counter()
    sim_log = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115
    sim_proc, sim = await start_simulator(args, sim_log)
    bridge = BridgeChild()
    try:
        ready = await bridge.start_bridge(
            {
                "base_url": sim["base_url"],
                "api_key": sim["api_key"],
                "api_secret": sim["api_secret"],
                "time_scale": args.clock_speed,
                "reconcile_interval": args.reconcile_minutes * 60.0,
            }
        )
        pid = ready["pid"]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            driver = Driver(session, sim["base_url"], random.Random(args.seed))
            state = await driver.load()
            origin = time.monotonic()
            sim_origin_ms = state["time_ms"]
            report["symbols"] = {"UM": len(driver.um), "CM": len(driver.cm), "book": ready["symbols"]}
            report["rss_kib_after_start"] = proc_status_kib(pid, "VmRSS")

            def hour() -> float:
                return float((time.monotonic() - origin) * args.clock_speed / HOUR_S)

            total_h = args.days * DAY_H
            warmup_h = args.warmup_days * DAY_H
            plan = fault_schedule(args)
            samples: list[dict[str, Any]] = []
            next_sample = 0.0
            marked = False
            while True:
                now = hour()
                while plan and plan[0][0] <= now:
                    await driver.fault(plan.pop(0)[1])
                due = min(int(min(now, total_h) * args.changes_per_hour) - driver.sent - driver.rejected, 500)
                for _ in range(due):
                    await driver.change_leverage(args.cm_share)
                if now >= next_sample:
                    rss_now = proc_status_kib(pid, "VmRSS")
                    inside = await bridge.ask("footprint")
                    sim_ms = (await driver.call("GET", "/_sim/state"))["time_ms"] - sim_origin_ms
                    sim_hour = round(sim_ms / 3_600_000, 2)
                    samples.append({"hour": round(now, 2), "sim_hour": sim_hour, "rss_kib": rss_now, **inside})
                    next_sample += args.sample_hours
                    if not marked and now >= warmup_h:
                        await bridge.ask("mark", tracemalloc=args.tracemalloc)
                        marked = True
                    if now >= total_h:
                        break
                await asyncio.sleep(0.005)
            report["wall_s_traffic"] = round(time.monotonic() - origin, 1)
            report["simulated_days"] = round(hour() / DAY_H, 2)
            report["simulated_days_by_simulator_clock"] = round(samples[-1]["sim_hour"] / DAY_H, 2)

            # Convergence: the last changes and any resync in flight settle within a moment.
            truth = await driver.call("GET", "/_sim/state")
            deadline = time.monotonic() + 15.0
            while wrong := book_differences(await bridge.ask("book"), truth):
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
                truth = await driver.call("GET", "/_sim/state")
            # Object growth first: diagnostics() itself warms caches (abc's weak caches) that would show up as growth.
            growth = await bridge.ask("growth")
            inside = await bridge.ask("report")
            sim_stats = await driver.call("GET", "/_sim/stats")
            stop = await bridge.ask("stop")
            report["rss_kib_final"] = proc_status_kib(pid, "VmRSS")
            report["vm_hwm_kib"] = proc_status_kib(pid, "VmHWM")
    finally:
        await bridge.close()
        if sim_proc.returncode is None:
            sim_proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(sim_proc.wait(), 10)
            except TimeoutError:
                sim_proc.kill()
    diag = inside["diagnostics"]
    stream = diag["stream"]
    book = diag["book"]
    rss = series(samples, "rss_kib", warmup_h)
    blocks = series(samples, "allocated_blocks", warmup_h)
    tracked = series(samples, "gc_tracked", warmup_h)
    tasks = series(samples, "tasks", warmup_h)
    sockets = series(samples, "sockets", warmup_h)
    measured_days = (samples[-1]["hour"] - next(s["hour"] for s in samples if s["hour"] >= warmup_h)) / DAY_H
    report["measured_days"] = round(measured_days, 2)
    report["rss_kib"] = rss
    report["python_heap"] = {"allocated_blocks": blocks, "gc_tracked_objects_since_start": tracked}
    report["structure"] = {
        "tasks": {**tasks, "median_first_last_quarter": quarter_medians(samples, "tasks", warmup_h)},
        "sockets": {**sockets, "median_first_last_quarter": quarter_medians(samples, "sockets", warmup_h)},
        "fds": series(samples, "fds", warmup_h),
        "threads": {
            **series(samples, "threads", warmup_h),
            "median_first_last_quarter": quarter_medians(samples, "threads", warmup_h),
        },
        "hook_queue_max": max(s["hook_queue"] or 0 for s in samples),
        "book_symbols": sorted({s["book_symbols"] for s in samples}),
        "retiring_sockets_max": max(s["retiring_sockets"] for s in samples),
        "unknown_event_types_max": max(s["unknown_event_types"] for s in samples),
        "plugin_error_keys_max": max(s["plugin_error_keys"] for s in samples),
        "ccxt_pooled_connections_max": max(s["ccxt_pooled_connections"] for s in samples),
        "ccxt_throttle_window_max": max(s["ccxt_throttle_window"] for s in samples),
    }
    reconnects = stream["connections"] - 1 - stream["rotations"]
    report["counts"] = {
        "leverage_changes_sent": driver.sent,
        "leverage_changes_rejected": driver.rejected,
        "faults_injected": dict(sorted(driver.faults.items())),
        "bridge": {
            "events_applied": book["events"],
            "stale": book["stale"],
            "duplicates": book["duplicates"],
            "snapshots": book["snapshots"],
            "connections": stream["connections"],
            "rotations": stream["rotations"],
            "reconnects": reconnects,
            "key_renewals": stream["key_renewals"],
            "keepalives": stream["keepalives"],
            "resyncs": stream["resyncs"],
            "decode_errors": stream["decode_errors"],
            "rest_calls": diag["rest"]["calls"],
            "plugin_errors": diag["plugin_errors"],
        },
        "hooks": inside["hooks"],
        "simulator": {
            "ws_connections_total": sim_stats["ws_connections_total"],
            "frames_pushed": sim_stats["frames_pushed"],
            "rest_calls_total": sum(sim_stats["rest_calls"].values()),
            "rest_calls": sim_stats["rest_calls"],
        },
    }
    report["converged"] = not wrong
    if wrong:
        report["book_differences"] = wrong[:10]
    report["live_objects_since_start"] = dict(zip(("start", "end"), growth["live_objects"], strict=True))
    report["growing_types"] = growth["growing_types"]
    if "tracemalloc_top" in growth:
        report["tracemalloc_top"] = growth["tracemalloc_top"]
    report["bridge_stop_s"] = stop["stop_s"]
    log = bridge.stderr_text()
    report["bridge_log"] = {
        "lines": log.count("\n"),
        "errors": log.count("ERROR"),
        "tracebacks": log.count("Traceback"),
        "unclosed": log.count("Unclosed"),
        "never_retrieved": log.count("never retrieved"),
        "destroyed_pending": log.count("destroyed but it is pending"),
    }
    thresholds = {
        "max_growth_kib": args.max_growth_mib * MIB,
        "max_slope_kib_per_day": args.max_slope_kib,
        "max_blocks_per_day": args.max_blocks_per_day,
        "max_extra_tasks": 1,
        "max_extra_sockets": 1,
    }
    verdict = {
        "rss_growth_ok": rss["growth"] <= thresholds["max_growth_kib"],
        "rss_slope_ok": (rss["slope_per_day"] or 0.0) <= thresholds["max_slope_kib_per_day"],
        "blocks_slope_ok": (blocks["slope_per_day"] or 0.0) <= thresholds["max_blocks_per_day"],
        "tasks_ok": _settled(report["structure"]["tasks"], thresholds["max_extra_tasks"]),
        "sockets_ok": _settled(report["structure"]["sockets"], thresholds["max_extra_sockets"]),
        "threads_ok": _settled(report["structure"]["threads"], 0),
        "book_bounded": len(report["structure"]["book_symbols"]) == 1,
        "converged": not wrong,
        "log_clean": report["bridge_log"]["tracebacks"] == 0 and report["bridge_log"]["unclosed"] == 0,
        # Events sent while a socket was down never arrive (Binance does not replay); most must have.
        "traffic_happened": stream["rotations"] >= 1 and reconnects >= 1 and book["events"] >= 0.9 * driver.sent,
    }
    verdict["pass"] = all(verdict.values())
    report["thresholds"] = thresholds
    report["verdict"] = verdict
    report["samples_columns"] = ["hour", "rss_kib", "allocated_blocks", "gc_tracked", "tasks", "sockets"]
    report["samples"] = [
        [s["hour"], s["rss_kib"], s["allocated_blocks"], s["gc_tracked"], s["tasks"], s["sockets"]] for s in samples
    ]
    report["loadavg_after"] = loadavg()
    report["wall_s"] = round(time.perf_counter() - wall_started, 1)
    return report


def _settled(figures: dict[str, Any], slack: float) -> bool:
    first, last = figures["median_first_last_quarter"]
    return bool(last <= first + slack)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--role":
        run_role(role_bridge())
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=30.0, help="simulated days of traffic")
    parser.add_argument("--clock-speed", type=float, default=2880.0, help="simulated seconds per real second")
    parser.add_argument("--changes-per-hour", type=float, default=240.0, help="leverage changes per simulated hour")
    parser.add_argument("--symbols", type=int, default=200, help="USDⓈ-M symbols in the simulator (plus 3 COIN-M)")
    parser.add_argument("--cm-share", type=float, default=0.25, help="share of the changes on COIN-M symbols")
    parser.add_argument("--seed", type=int, default=1, help="traffic and simulator seed")
    parser.add_argument("--reconcile-minutes", type=float, default=15.0, help="simulated minutes between reconciles")
    parser.add_argument("--flip-hours", type=float, default=3.0, help="simulated hours between multi-assets flips")
    parser.add_argument("--cycle-hours", type=float, default=48.0, help="simulated hours per fault cycle (>= 26)")
    parser.add_argument("--sample-hours", type=float, default=6.0, help="simulated hours between samples")
    parser.add_argument("--warmup-days", type=float, default=4.0, help="simulated days before the figures start")
    parser.add_argument("--tracemalloc", type=int, default=0, help="frames per trace (0: off; it costs CPU and RSS)")
    parser.add_argument("--max-growth-mib", type=float, default=5.0)
    parser.add_argument("--max-slope-kib", type=float, default=128.0, help="KiB per simulated day")
    parser.add_argument("--max-blocks-per-day", type=float, default=2000.0, help="python heap blocks per day")
    args = parser.parse_args()
    if args.cycle_hours < 26:
        parser.error("--cycle-hours must be at least 26: a connection needs 23 h undisturbed to rotate")
    if args.days <= args.warmup_days:
        parser.error("--days must exceed --warmup-days")
    # ccxt's limiter allows binance 1,200 weight per REAL minute; a compressed clock multiplies the bridge's calls.
    weight_per_s = args.clock_speed * (3 / (args.reconcile_minutes * 60) + 0.2 / (25 * 60))
    if weight_per_s > REST_WEIGHT_PER_S_MAX:
        parser.error(
            f"at --clock-speed {args.clock_speed:g} the bridge would spend {weight_per_s:.1f} REST weight per real "
            f"second, past the {REST_WEIGHT_PER_S_MAX} that leaves room under ccxt's limit (20/s): its calls would "
            "queue, keepalives come late and keys die for reasons no real account has. Lower --clock-speed or "
            "raise --reconcile-minutes"
        )
    report = run_report("bench/soak.py", soak(args))
    sys.exit(0 if report["verdict"]["pass"] else 1)


if __name__ == "__main__":
    main()
