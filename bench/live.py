"""Live benchmark on loopback: pmbridge against its simulator, beside a bare websockets client, in separate processes.

Prints one JSON object (figures, sample counts, targets and whether each was met; never pass/fail). Four parts:

1. latency: process A runs the simulator and a paced sender (``--rate`` ACCOUNT_CONFIG_UPDATE frames/s, one
   ``push_frames`` each, ``time.monotonic_ns()`` taken just before each push, keyed by the frame's unique ``E``);
   process B runs a started ``Bridge`` whose only extra plugin stores ``monotonic_ns()`` in
   ``pmbridge_leverage_changed`` by ``change.event_time`` (on the hook thread, as every plugin is called), and a
   second one, registered ``inline``, does the same on the bridge's loop right after the book took the event (the
   latency to the book, which a strategy's ``leverage()`` reads: no hand-off); process C is the bare client
   (``websockets`` asyncio client, no compression, ``orjson.loads`` per message, ``monotonic_ns()`` after it). Both
   receive the SAME frames in the SAME run; CLOCK_MONOTONIC is shared across processes, so per-frame latency =
   receive_ns - send_ns. Warm-up frames are discarded; ``--rounds`` rounds are pooled (per-round figures are listed
   too). Targets: bridge/bare p50 ratio <= 1.5, p99 ratio <= 2.0; book/bare p50 ratio <= 1.1.
2. throughput over one socket: ``--tp-frames`` frames pushed as fast as the simulator can (``push_frames`` batches)
   with only the bridge connected, then with only the bare client connected (what the simulator can deliver to a
   consumer that does almost nothing). Events/s = (received - 1) / (last receive - first receive); median of
   ``--tp-repeat`` runs. Target >= 20,000 events/s for the bridge.
3. full resync at 10 / 1,000 / 5,000 symbols: simulator in its own process, started bridge in this one,
   ``reconcile_now()`` repeated; REST calls per resync (the report's and the simulator's count) and wall time.
   Targets: <= 5 calls (PM: leverage and modes in 3, positions in 2, one per unit), median < 100 ms at 1,000
   symbols.
4. socket drop to resynced book: ``sim.drop()`` then a ``sim.set_leverage`` while the socket is down; time until the
   bridge's book shows it and the bridge is ``available`` again. Target: < 1 s (max over the repeats).

Run: ``python bench/live.py [--rate 2000] [--seconds 2] [--rounds 3] [--tp-frames 100000] [--skip-resync] ...``.
Child processes are this file run with ``--role``; they exit when their stdin closes, so nothing outlives the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import statistics
import sys
import time
import urllib.request
from typing import Any

import childproc
import orjson
from childproc import (
    BenchError,
    loadavg,
    machine,
    percentile,
    reply,
    run_report,
    run_role,
    serve_commands,
    serve_commands_from,
    stdin_lines,
    summary_ms,
    timed_resyncs,
    wait_until,
)

LATENCY_TARGETS = {"ratio_p50": 1.5, "ratio_p99": 2.0, "book_ratio_p50": 1.1}
THROUGHPUT_TARGET = 20_000
RESYNC_TARGETS = {"rest_calls_max": 5, "median_ms_at_1000": 100.0}
"""3 calls when a resync read leverage and modes only; positions are reconciled too since (um and cm positionRisk)."""
DROP_TARGET_MS = 1000.0
E_BASE = 1_700_000_000_000
LEVERAGES = (11, 12)  # the simulator starts every symbol at 20x, so the first frame is a change too


# ---------------------------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------------------------
def summary_us(values_ns: list[int]) -> dict[str, Any]:
    ordered = sorted(v / 1000 for v in values_ns)
    if not ordered:
        return {"samples": 0}
    return {
        "samples": len(ordered),
        "p50_us": round(percentile(ordered, 50), 1),
        "p90_us": round(percentile(ordered, 90), 1),
        "p99_us": round(percentile(ordered, 99), 1),
        "mean_us": round(statistics.fmean(ordered), 1),
        "max_us": round(ordered[-1], 1),
    }


def frame_text(index: int, symbols: list[str]) -> str:
    """Frame ``index`` (global across the run): E unique and increasing, each symbol's leverage alternating."""
    count = len(symbols)
    event = E_BASE + index
    return orjson.dumps(
        {
            "e": "ACCOUNT_CONFIG_UPDATE",
            "fs": "UM",
            "E": event,
            "T": event - 2,
            "ac": {"s": symbols[index % count], "l": LEVERAGES[(index // count) % 2]},
        }
    ).decode()


class Receipts:
    """E -> monotonic_ns pairs, appended on the hot path; queried by the parent between phases."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.times: list[int] = []

    def clear(self) -> None:
        self.ids.clear()
        self.times.clear()

    def pairs(self, first: int, last: int) -> list[list[int]]:
        return [[e, t] for e, t in zip(self.ids, self.times, strict=True) if e is not None and first <= e <= last]

    def span(self, first: int, last: int) -> dict[str, Any]:
        times = [t for e, t in zip(self.ids, self.times, strict=True) if e is not None and first <= e <= last]
        if not times:
            return {"count": 0}
        return {"count": len(times), "first_ns": min(times), "last_ns": max(times)}

    async def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        what = command["what"]
        if what == "clear":
            self.clear()
            return {}
        if what == "pairs":
            return {"pairs": self.pairs(command["first"], command["last"])}
        return self.span(command["first"], command["last"])


# ---------------------------------------------------------------------------------------------------------------
# process A: simulator + sender
# ---------------------------------------------------------------------------------------------------------------
async def role_sim(symbols: int) -> None:
    from pmbridge.sim import Simulator

    async with Simulator(symbols=symbols) as sim:
        um_symbols = sorted(sim.state()["leverage"]["UM"])
        sent_total = 0  # global frame index: E values never repeat within a run
        reply({"base_url": sim.base_url, "api_key": sim.api_key, "api_secret": sim.api_secret, "symbols": um_symbols})

        async def wait_sockets(cmd: dict[str, Any]) -> dict[str, Any]:
            deadline = time.monotonic() + cmd.get("timeout", 10.0)
            while True:
                count = sim.state()["sockets"]["pm"]
                if count == cmd["n"]:
                    return {"sockets": count}
                if time.monotonic() > deadline:
                    raise TimeoutError(f"simulator has {count} open pm sockets, expected {cmd['n']}")
                await asyncio.sleep(0.01)

        async def latency(cmd: dict[str, Any]) -> dict[str, Any]:
            """Paced sender: one frame per push, monotonic_ns just before; sleeps between (no spinning: the
            receivers need the other core)."""
            nonlocal sent_total
            # push_frames writes each frame to the sockets one after the other, in the hub's set order: say which
            # receiver is written first (the bare client always connected last, so it has the newest socket).
            sockets = [s for s in sim.engine.hub._sockets if not s.ws.closed]
            newest = max(s.connected_ms for s in sockets)
            order = ["bare" if s.connected_ms == newest else "bridge" for s in sockets]
            rate, warmup, measured = cmd["rate"], cmd["warmup_frames"], cmd["frames"]
            total = warmup + measured
            texts = [frame_text(sent_total + i, um_symbols) for i in range(total)]
            interval = 1_000_000_000 // rate
            send_ns = [0] * total
            push_ns = [0] * total
            push = sim.push_frames
            clock = time.monotonic_ns
            gc.collect()
            gc.disable()
            try:
                start = clock() + 20_000_000
                for i in range(total):
                    wait = start + i * interval - clock()
                    if wait > 0:
                        time.sleep(wait / 1e9)  # noqa: ASYNC251 - precise pacing; asyncio timers are 1 ms coarse
                    before = clock()
                    reached = await push([texts[i]])
                    after = clock()
                    send_ns[i], push_ns[i] = before, after - before
                    if reached != cmd["sockets"]:
                        raise RuntimeError(f"frame {i} reached {reached} sockets, expected {cmd['sockets']}")
                    await asyncio.sleep(0)  # let the loop flush and read
            finally:
                gc.enable()
            first = E_BASE + sent_total
            sent_total += total
            late = sum(1 for i in range(1, total) if send_ns[i] - (start + i * interval) > interval)
            return {
                "warmup_first_e": first,
                "first_e": first + warmup,
                "last_e": first + total - 1,
                "sends": [[first + i, send_ns[i]] for i in range(warmup, total)],
                "push_us": summary_us(push_ns[warmup:]),
                "late_sends": late,
                "achieved_rate": round((total - 1) * 1e9 / (send_ns[-1] - send_ns[0]), 1),
                "write_order": order,
            }

        async def throughput(cmd: dict[str, Any]) -> dict[str, Any]:
            nonlocal sent_total
            frames, batch = cmd["frames"], cmd["batch"]
            texts = [frame_text(sent_total + i, um_symbols) for i in range(frames)]
            batches = [texts[i : i + batch] for i in range(0, frames, batch)]
            push = sim.push_frames
            reached = set()
            started = time.monotonic_ns()
            for chunk in batches:
                reached.add(await push(chunk))
            ended = time.monotonic_ns()
            first = E_BASE + sent_total
            sent_total += frames
            return {
                "first_e": first,
                "last_e": first + frames - 1,
                "start_ns": started,
                "end_ns": ended,
                "sockets_reached": sorted(reached),
                "push_rate": round(frames * 1e9 / (ended - started), 1),
            }

        async def drop_and_set(cmd: dict[str, Any]) -> dict[str, Any]:
            started = time.monotonic_ns()
            dropped = await sim.drop()
            sockets_after_drop = sim.state()["sockets"]["pm"]
            await sim.set_leverage(cmd["symbol"], cmd["leverage"])  # same loop turn: no socket is back yet
            return {"t0_ns": started, "dropped": dropped, "sockets_when_set": sockets_after_drop}

        async def stats(cmd: dict[str, Any]) -> dict[str, Any]:
            return {"stats": sim.stats(), "sockets": sim.state()["sockets"]}

        await serve_commands(
            {
                "wait_sockets": wait_sockets,
                "latency": latency,
                "throughput": throughput,
                "drop_and_set": drop_and_set,
                "stats": stats,
            }
        )


# ---------------------------------------------------------------------------------------------------------------
# process B: the bridge
# ---------------------------------------------------------------------------------------------------------------
class TimingPlugin:
    """Stores monotonic_ns() at every leverage change, by the change's event time (E)."""

    def __init__(self, receipts: Receipts) -> None:
        self._ids = receipts.ids
        self._times = receipts.times

    def pmbridge_leverage_changed(self, change: Any) -> None:
        self._times.append(time.monotonic_ns())
        self._ids.append(change.event_time)


async def role_bridge(profile: str | None) -> None:
    from pmbridge.bridge import Bridge
    from pmbridge.config import BridgeConfig

    reader = await stdin_lines()
    start = orjson.loads(await reader.readline())
    receipts = Receipts()
    book_receipts = Receipts()
    config = BridgeConfig.for_simulator(start["base_url"], start["api_key"], start["api_secret"])
    bridge = Bridge(config, plugins=(TimingPlugin(receipts),))
    # Called on the loop right after the book took the event (what a strategy's leverage() reads): no hand-off.
    bridge.pm.register(TimingPlugin(book_receipts), name="book-timing", inline=True)
    await bridge.start(ready_timeout=30.0)
    reply({"ready": True, "available": bridge.available, "symbols": len(bridge.book)})
    profiler: Any = None

    async def receipts_cmd(cmd: dict[str, Any]) -> dict[str, Any]:
        if cmd.get("which") == "book":
            return await book_receipts.handle(cmd)
        if cmd["what"] == "clear":
            await book_receipts.handle(cmd)
        return await receipts.handle(cmd)

    async def profile_cmd(cmd: dict[str, Any]) -> dict[str, Any]:
        nonlocal profiler
        if profile is None:
            return {}
        import cProfile
        import pstats

        if cmd["on"]:
            profiler = cProfile.Profile()
            profiler.enable()
            return {}
        profiler.disable()
        profiler.dump_stats(profile)
        with open(profile + ".txt", "w") as out:  # noqa: ASYNC230 - once, after the measurement
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(40)
        return {"profile": profile}

    async def info(cmd: dict[str, Any]) -> dict[str, Any]:
        diag = bridge.diagnostics()
        return {"available": bridge.available, "book": diag["book"], "stream": diag.get("stream")}

    async def stop(cmd: dict[str, Any]) -> dict[str, Any]:
        await bridge.stop("benchmark phase done")
        return {}

    try:
        await serve_commands_from(
            reader, {"receipts": receipts_cmd, "info": info, "stop": stop, "profile": profile_cmd}
        )
    finally:
        await bridge.stop()


# ---------------------------------------------------------------------------------------------------------------
# process C: the bare client
# ---------------------------------------------------------------------------------------------------------------
def listen_key(base_url: str, api_key: str) -> str:
    request = urllib.request.Request(f"{base_url}/papi/v1/listenKey", method="POST", headers={"X-MBX-APIKEY": api_key})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return str(json.load(answer)["listenKey"])


async def role_bare() -> None:
    from websockets.asyncio.client import connect

    reader = await stdin_lines()
    start = orjson.loads(await reader.readline())
    receipts = Receipts()
    base_url = start["base_url"]
    if not base_url.startswith("http://127.0.0.1:"):
        raise SystemExit(f"refusing to connect anywhere but 127.0.0.1: {base_url}")
    key = listen_key(base_url, start["api_key"])
    url = "ws" + base_url[4:] + f"/pm/ws/{key}"
    task: asyncio.Task[None] | None = None
    connected = asyncio.Event()

    async def consume() -> None:
        loads, clock = orjson.loads, time.monotonic_ns
        ids, times = receipts.ids, receipts.times
        # No compression (aiohttp, under the bridge, offers none either) and no pings: nothing but the frames.
        async with connect(url, compression=None, ping_interval=None, max_size=None) as ws:
            connected.set()
            async for message in ws:
                event = loads(message)
                times.append(clock())
                ids.append(event.get("E"))

    async def connect_cmd(cmd: dict[str, Any]) -> dict[str, Any]:
        nonlocal task
        connected.clear()
        task = asyncio.create_task(consume())
        waiter = asyncio.create_task(connected.wait())
        await asyncio.wait({task, waiter}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # raises the connection error
        if not connected.is_set():
            raise TimeoutError("bare client: no connection within 10 s")
        return {}

    async def disconnect(cmd: dict[str, Any]) -> dict[str, Any]:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        return {}

    async def receipts_cmd(cmd: dict[str, Any]) -> dict[str, Any]:
        return await receipts.handle(cmd)

    await connect_cmd({})
    reply({"ready": True})
    try:
        await serve_commands_from(reader, {"receipts": receipts_cmd, "connect": connect_cmd, "disconnect": disconnect})
    finally:
        await disconnect({})


# ---------------------------------------------------------------------------------------------------------------
# the parent: orchestration
# ---------------------------------------------------------------------------------------------------------------
class Child(childproc.Child):
    """One role process of this bench (this file run with ``--role``)."""

    def __init__(self, name: str) -> None:
        super().__init__(name, os.path.abspath(__file__))


async def run_latency(args: argparse.Namespace, sim: Child, bridge: Child, bare: Child) -> dict[str, Any]:
    pooled: dict[str, list[int]] = {"bridge": [], "book": [], "bare": []}
    rounds = []
    missing = {"bridge": 0, "book": 0, "bare": 0}
    warmup_frames = int(args.rate * args.warmup)
    frames = int(args.rate * args.seconds)
    for round_no in range(args.rounds + 1):  # round 0 is a warm-up round, discarded
        if round_no > 1:
            # A fresh socket for the bare client: the hub's write order is a set order, so this reshuffles which
            # receiver is written first (reported per round as write_order).
            await bare.ask("disconnect")
            await sim.ask("wait_sockets", n=1, timeout=15)
            await asyncio.sleep(0.01)  # the bare socket must be the newest by the simulator's ms clock
            await bare.ask("connect")
            await sim.ask("wait_sockets", n=2, timeout=15)
            await asyncio.sleep(0.2)
        for receiver in (bridge, bare):
            await receiver.ask("receipts", what="clear")
        sent = await sim.ask(
            "latency",
            timeout=(warmup_frames + frames) / args.rate + 30,
            rate=args.rate,
            warmup_frames=warmup_frames,
            frames=frames,
            sockets=2,
        )
        await asyncio.sleep(0.3)  # stragglers
        sends = {e: t for e, t in sent["sends"]}
        per_round: dict[str, Any] = {
            "write_order": sent["write_order"],
            "sender_rate": sent["achieved_rate"],
            "late_sends": sent["late_sends"],
            "sender_push_call_us": sent["push_us"],
        }
        for name, receiver, which in (("bridge", bridge, "hook"), ("book", bridge, "book"), ("bare", bare, "hook")):
            got = await receiver.ask("receipts", what="pairs", which=which, first=sent["first_e"], last=sent["last_e"])
            lat = [t - sends[e] for e, t in got["pairs"]]
            per_round[name] = summary_us(lat)
            if round_no:
                pooled[name] += lat
                missing[name] += len(sends) - len(lat)
        if round_no:
            per_round["ratio_p50"] = round(per_round["bridge"]["p50_us"] / per_round["bare"]["p50_us"], 3)
            per_round["ratio_p99"] = round(per_round["bridge"]["p99_us"] / per_round["bare"]["p99_us"], 3)
            per_round["book_ratio_p50"] = round(per_round["book"]["p50_us"] / per_round["bare"]["p50_us"], 3)
            rounds.append(per_round)
    bridge_s, book_s, bare_s = summary_us(pooled["bridge"]), summary_us(pooled["book"]), summary_us(pooled["bare"])
    ratio_p50 = round(bridge_s["p50_us"] / bare_s["p50_us"], 3)
    ratio_p99 = round(bridge_s["p99_us"] / bare_s["p99_us"], 3)
    book_ratio_p50 = round(book_s["p50_us"] / bare_s["p50_us"], 3)
    return {
        "rate_per_s": args.rate,
        "rounds": args.rounds,
        "frames_per_round": frames,
        "warmup_frames_per_round": warmup_frames,
        "bridge": bridge_s,
        "book": book_s,
        "bare": bare_s,
        "missing": missing,
        "ratio_p50": ratio_p50,
        "ratio_p99": ratio_p99,
        "book_ratio_p50": book_ratio_p50,
        "book_ratio_p99": round(book_s["p99_us"] / bare_s["p99_us"], 3),
        "ratio_p50_per_round": [r["ratio_p50"] for r in rounds],
        "book_ratio_p50_per_round": [r["book_ratio_p50"] for r in rounds],
        "ratio_p99_per_round": [r["ratio_p99"] for r in rounds],
        "per_round": rounds,
        "write_order_per_round": [r["write_order"] for r in rounds],
        "note": "send_ns is taken before push_frames, which writes to the two sockets one after the other "
        "(write_order); the receiver written second starts up to sender_push_call_us later",
        "targets": LATENCY_TARGETS,
        "ratio_p50_met": ratio_p50 <= LATENCY_TARGETS["ratio_p50"],
        "ratio_p99_met": ratio_p99 <= LATENCY_TARGETS["ratio_p99"],
        "book_ratio_p50_met": book_ratio_p50 <= LATENCY_TARGETS["book_ratio_p50"],
    }


async def wait_received(receiver: Child, first: int, last: int, timeout: float) -> dict[str, Any]:
    """Poll until every frame arrived, or nothing new arrived for 2 s, or ``timeout``."""
    expected = last - first + 1
    deadline = time.monotonic() + timeout
    seen, stalled_since = -1, time.monotonic()
    while True:
        span = await receiver.ask("receipts", what="span", first=first, last=last)
        if span["count"] >= expected or time.monotonic() > deadline:
            return span
        if span["count"] != seen:
            seen, stalled_since = span["count"], time.monotonic()
        elif time.monotonic() - stalled_since > 2.0:
            return span
        await asyncio.sleep(0.1)


async def throughput_runs(args: argparse.Namespace, sim: Child, receiver: Child) -> dict[str, Any]:
    runs = []
    for run in range(args.tp_repeat + 1):  # run 0 warms up, discarded
        await receiver.ask("receipts", what="clear")
        pushed = await sim.ask("throughput", timeout=120, frames=args.tp_frames, batch=args.tp_batch)
        if pushed["sockets_reached"] != [1]:
            raise BenchError(f"throughput frames reached {pushed['sockets_reached']} sockets, expected exactly 1")
        span = await wait_received(receiver, pushed["first_e"], pushed["last_e"], timeout=120)
        if not run:
            continue
        count = span["count"]
        rate = (count - 1) * 1e9 / (span["last_ns"] - span["first_ns"]) if count > 1 else 0.0
        runs.append(
            {
                "received": count,
                "events_per_s": round(rate, 1),
                "end_to_end_events_per_s": round(count * 1e9 / (span["last_ns"] - pushed["start_ns"]), 1)
                if count
                else 0.0,
                "sim_push_rate": pushed["push_rate"],
                "drain_after_push_ms": round((span["last_ns"] - pushed["end_ns"]) / 1e6, 1) if count else None,
            }
        )
    return {
        "frames": args.tp_frames,
        "samples": len(runs),
        "events_per_s_median": statistics.median(r["events_per_s"] for r in runs),
        "sim_push_rate_median": statistics.median(r["sim_push_rate"] for r in runs),
        "lost": sum(args.tp_frames - r["received"] for r in runs),
        "runs": runs,
    }


async def run_stream_parts(args: argparse.Namespace, report: dict[str, Any]) -> None:
    sim, bridge, bare = Child("simulator process (A)"), Child("bridge process (B)"), Child("bare client process (C)")
    try:
        await sim.start("sim", "--symbols", str(args.symbols))
        info = await sim.read(60)
        if not info["base_url"].startswith("http://127.0.0.1:"):
            raise BenchError(f"simulator is not on 127.0.0.1: {info['base_url']}")
        creds = {k: info[k] for k in ("base_url", "api_key", "api_secret")}
        profile_args = ("--profile", args.profile) if args.profile else ()
        await bridge.start("bridge", *profile_args)
        bridge.send(creds)
        ready = await bridge.read(90)
        if not ready.get("available"):
            raise BenchError(f"the bridge started but is not available: {ready}")
        await bare.start("bare")
        bare.send(creds)
        await bare.read(30)
        await sim.ask("wait_sockets", n=2, timeout=15)
        report["stream_setup"] = {"sim_symbols": len(info["symbols"]), "bridge_book_symbols": ready["symbols"]}

        if not args.skip_latency:
            report["latency"] = await run_latency(args, sim, bridge, bare)
        if not args.skip_throughput:
            await bare.ask("disconnect")
            await sim.ask("wait_sockets", n=1, timeout=15)
            if args.profile:
                await bridge.ask("profile", on=True)
            bridge_tp = await throughput_runs(args, sim, bridge)
            if args.profile:
                await bridge.ask("profile", on=False)
            bridge_tp["book"] = (await bridge.ask("info"))["book"]
            await bridge.ask("stop", timeout=30)
            await bare.ask("connect")
            await sim.ask("wait_sockets", n=1, timeout=15)
            bare_tp = await throughput_runs(args, sim, bare)
            ratio = bridge_tp["events_per_s_median"] / bare_tp["events_per_s_median"]
            report["throughput"] = {
                "bridge": bridge_tp,
                "bare": bare_tp,
                "bridge_vs_bare": round(ratio, 3),
                # The simulator limits the rate only if it could not push faster than the receiver took frames in
                # (otherwise frames queue in the socket buffers and the receiver is what sets the pace).
                "simulator_bound": bridge_tp["sim_push_rate_median"] < 1.1 * bridge_tp["events_per_s_median"],
                "target_events_per_s": THROUGHPUT_TARGET,
                "target_met": bridge_tp["events_per_s_median"] >= THROUGHPUT_TARGET,
            }
    finally:
        for child in (bare, bridge, sim):
            await child.close()


class StateWatch:
    """Main-process plugin for part 4: when the leverage under test arrived, and when the stream came back."""

    def __init__(self) -> None:
        self.leverage_at: dict[tuple[str, int], int] = {}
        self.connected_at: list[int] = []

    def pmbridge_leverage_changed(self, change: Any) -> None:
        self.leverage_at[(change.exchange_symbol, change.new)] = time.monotonic_ns()

    def pmbridge_stream_state_changed(self, change: Any) -> None:
        if change.new == "connected":
            self.connected_at.append(time.monotonic_ns())


async def run_resync_and_drop(args: argparse.Namespace, report: dict[str, Any]) -> None:
    from pmbridge.bridge import Bridge
    from pmbridge.config import BridgeConfig
    from pmbridge.models import StreamState

    logging.getLogger("pmbridge").setLevel(logging.ERROR)
    resync: dict[str, Any] = {}
    sizes = [] if args.skip_resync else args.resync_symbols
    drop_size = None if args.skip_drop else args.drop_symbols
    for size in sorted(set(sizes) | ({drop_size} if drop_size else set())):
        sim = Child(f"simulator process ({size} symbols)")
        bridge: Any = None
        try:
            await sim.start("sim", "--symbols", str(size))
            info = await sim.read(120)
            watch = StateWatch()
            bridge = Bridge(
                BridgeConfig.for_simulator(info["base_url"], info["api_key"], info["api_secret"]), plugins=(watch,)
            )
            started = time.perf_counter()
            await asyncio.wait_for(bridge.start(ready_timeout=60.0), 90)
            start_s = time.perf_counter() - started
            if size in sizes:
                resync[str(size)] = await measure_resync(args, bridge, sim, start_s)
            if size == drop_size:
                report["drop_to_resync"] = await measure_drop(args, bridge, sim, watch, info["symbols"], StreamState)
        finally:
            if bridge is not None:
                await bridge.stop()
            await sim.close()
    if resync:
        at_1000 = resync.get("1000", {}).get("wall", {}).get("median_ms")
        report["resync"] = {
            "by_symbols": resync,
            "targets": RESYNC_TARGETS,
            "rest_calls_met": all(r["rest_calls_max"] <= RESYNC_TARGETS["rest_calls_max"] for r in resync.values()),
            "median_ms_at_1000_met": None if at_1000 is None else at_1000 < RESYNC_TARGETS["median_ms_at_1000"],
        }


async def measure_resync(args: argparse.Namespace, bridge: Any, sim: Child, start_s: float) -> dict[str, Any]:
    walls, reports, before, after = await timed_resyncs(bridge, sim, args.resync_warmup, args.resync_samples, 30)
    durations = [report.duration_s for report in reports]
    calls = [report.rest_calls for report in reports]
    result = reports[-1]
    sim_calls = sum(after["stats"]["rest_calls"].values()) - sum(before["stats"]["rest_calls"].values())
    return {
        "book_symbols": len(bridge.book),
        "report_symbols": result.symbols,
        "bridge_start_s": round(start_s, 3),
        "rest_calls_per_resync": statistics.median(calls),
        "rest_calls_max": max(calls),
        "sim_rest_calls_per_resync": round(sim_calls / len(calls), 2),
        "wall": summary_ms(walls),
        "report_duration": summary_ms(durations),
    }


async def measure_drop(
    args: argparse.Namespace, bridge: Any, sim: Child, watch: StateWatch, symbols: list[str], stream_state: Any
) -> dict[str, Any]:
    symbol = "BTCUSDT" if "BTCUSDT" in symbols else symbols[0]
    totals, to_available, to_book, dropped = [], [], [], []
    for i in range(args.drop_repeat + 1):  # the first drop warms up, discarded
        await wait_until(lambda: bridge.available, 10, "the bridge to be available before a drop")
        leverage = 7 + i % 2 * 2  # 7, 9, 7...: a real change every time (the simulator starts at 20x)
        watch.leverage_at.pop((symbol, leverage), None)
        watch.connected_at.clear()
        answer = await sim.ask("drop_and_set", symbol=symbol, leverage=leverage)
        if answer["sockets_when_set"] != 0:
            raise BenchError(f"the leverage was set with {answer['sockets_when_set']} sockets open; not a gap")
        await wait_until(
            lambda want=leverage: (
                bridge.book.leverage(symbol, "UM") == want and bridge.available and (symbol, want) in watch.leverage_at
            ),
            10,
            f"{symbol} {leverage}x in the book and the bridge available after a drop",
        )
        t0 = answer["t0_ns"]
        book_ns = watch.leverage_at[(symbol, leverage)]
        back_ns = max((t for t in watch.connected_at if t > t0), default=time.monotonic_ns())
        if i:
            dropped.append(answer["dropped"])
            to_book.append((book_ns - t0) / 1e9)
            to_available.append((back_ns - t0) / 1e9)
            totals.append((max(book_ns, back_ns) - t0) / 1e9)
        await asyncio.sleep(0.05)
    summary = summary_ms(totals)
    return {
        "symbols": len(bridge.book),
        "sockets_dropped": sorted(set(dropped)),
        "until_book_and_available": summary,
        "until_book": summary_ms(to_book),
        "until_available": summary_ms(to_available),
        "target_ms": DROP_TARGET_MS,
        "target_met": summary["max_ms"] < DROP_TARGET_MS,
    }


async def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {
        "benchmark": "live",
        "args": {k: v for k, v in vars(args).items() if k != "role"},
        **machine(),
    }
    started = time.perf_counter()
    if not (args.skip_latency and args.skip_throughput):
        await run_stream_parts(args, report)
    if not (args.skip_resync and args.skip_drop):
        await run_resync_and_drop(args, report)
    report["loadavg_after"] = loadavg()
    report["runtime_s"] = round(time.perf_counter() - started, 1)
    return report


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--role":
        role = argparse.ArgumentParser()
        role.add_argument("--role", choices=("sim", "bridge", "bare"))
        role.add_argument("--symbols", type=int, default=100)
        role.add_argument("--profile")
        ns = role.parse_args()
        runner = {"sim": lambda: role_sim(ns.symbols), "bridge": lambda: role_bridge(ns.profile), "bare": role_bare}
        run_role(runner[ns.role]())
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=100, help="simulator symbols for parts 1-2 (frames cycle them)")
    parser.add_argument("--rate", type=int, default=2000, help="paced frames per second for the latency part")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds of discarded frames at the start of a round")
    parser.add_argument("--seconds", type=float, default=2.0, help="measured seconds per latency round")
    parser.add_argument("--rounds", type=int, default=3, help="measured latency rounds (after one warm-up round)")
    parser.add_argument("--tp-frames", type=int, default=100_000, help="frames per throughput run")
    parser.add_argument("--tp-batch", type=int, default=1000, help="frames per push_frames call")
    parser.add_argument("--tp-repeat", type=int, default=3, help="measured throughput runs (after one warm-up)")
    parser.add_argument("--resync-symbols", type=int, nargs="+", default=[10, 1000, 5000])
    parser.add_argument("--resync-warmup", type=int, default=3)
    parser.add_argument("--resync-samples", type=int, default=15)
    parser.add_argument("--drop-symbols", type=int, default=1000, help="simulator symbols for the drop part")
    parser.add_argument("--drop-repeat", type=int, default=10)
    parser.add_argument("--profile", help="cProfile the bridge process during throughput into this file (+ .txt)")
    for part in ("latency", "throughput", "resync", "drop"):
        parser.add_argument(f"--skip-{part}", action="store_true")
    run_report("bench/live.py", orchestrate(parser.parse_args()))


if __name__ == "__main__":
    main()
