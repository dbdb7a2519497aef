"""Fuzz the frame path: 10^6 mutated frames through decode() and the coordinator, a sample through a live bridge.

Prints one JSON object; exits non-zero on any failure (listed in ``failures``). The frames come from
``fuzzlib.FrameFuzzer``, seeded: the same ``--seed`` gives the same frames. What runs:

1. every frame through ``decode()`` directly: ok / DecodeError (UnknownEventError counted apart) / anything else,
   a failure whose first reproducers are printed as ``repr`` of the bytes, each with a minimised one;
2. the same frame through ``Coordinator.on_frame`` of a started ``Bridge`` (the function its websocket reader calls;
   real ``LeverageBook``; real plugin manager with the built-in plugins, a recording plugin and one that reads the
   book from its hook). Its stream is connected to the simulator, so listenKeyExpired frames really renew the key
   and "config changed" frames really resync; the loop yields every 100 frames so they make progress. An exception
   escaping ``on_frame`` is a crash. Then one more snapshot, and: the book's invariants (valid entries, leverage
   1..125, counters consistent, exactly one applied event per decoded config frame with content), plugins were
   last told what the book holds, the book equals ``/_sim/state``, the stream still delivers (a probe frame must
   reach the book), no plugin raised, no task died, nothing was logged at ERROR;
3. ``--live-frames`` of them (spread over the run) as text frames over the simulator's websocket to a fresh bridge
   (a batch ends after each listenKeyExpired, and waits for the reconnection that follows): every frame delivered,
   the same checks after ``reconcile_now()``.

``frames_per_s`` is steps 1 and 2 together, frame generation included. ``stream_follow`` (information, not pass/fail)
changes every simulated symbol's leverage "in the app" after each run and counts the symbols whose change reached the
book through the stream: a fuzzed frame that decodes with a far-future event time (a digit changed in ``E``) leaves
the book ignoring every later real event for that symbol, which from then on follows only through reconciles.

ccxt's rate limiter is off for these bridges: the flood of renewals and resyncs would otherwise be held back for up to
a minute by a budget the simulator does not have, and the coordinator's buffer would drop events meanwhile by design.

``--engine atheris`` (optional, ``pip install atheris``) runs libFuzzer's coverage-guided loop over decode() instead,
with FrameFuzzer as its custom mutator; nothing else needs atheris.

Run: ``python bench/fuzz.py [--frames 1000000] [--seed 1] [--live-frames 50000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import platform
import sys
import time
from pathlib import Path
from typing import Any

import fuzzlib  # beside this file: a script's own folder is on sys.path
import orjson

from pmbridge.bridge import Bridge
from pmbridge.config import BridgeConfig
from pmbridge.manager import create_plugin_manager
from pmbridge.sim import Simulator

FOLLOW_TIMEOUT_S = 3.0
LIVE_BATCH = 500


def bridge_for(sim: Simulator, *plugins: object, frame_observer: Any = None) -> Bridge:
    # ccxt's own limiter keeps a real account within Binance's weight budget; here a flood of listenKeyExpired and
    # "config changed" frames (hundreds a second) would make it hold every reconnect and resync for up to a minute,
    # while the coordinator's buffer overflows and drops events by design. The simulator has no budget to protect.
    config = BridgeConfig.for_simulator(
        sim.base_url, sim.api_key, sim.api_secret, ccxt_options={"enableRateLimit": False}
    )
    return Bridge(
        config, pm=create_plugin_manager(load_entrypoints=False), plugins=plugins, frame_observer=frame_observer
    )


async def stream_follow(sim: Simulator, bridge: Bridge) -> dict[str, Any]:
    """Change every simulated symbol's leverage "in the app"; which ones reach the book through the stream alone."""
    state = sim.state()
    wanted = {}
    for unit, by_symbol in state["leverage"].items():
        for symbol, leverage in by_symbol.items():
            new = 3 if leverage != 3 else 4
            await sim.set_leverage(symbol, new)
            wanted[(unit, symbol)] = new
    deadline = time.monotonic() + FOLLOW_TIMEOUT_S
    while time.monotonic() < deadline:
        if all(bridge.book.leverage(symbol, unit) == new for (unit, symbol), new in wanted.items()):
            break
        await asyncio.sleep(0.01)
    stuck = {}
    for (unit, symbol), new in wanted.items():
        entry = bridge.book.get(symbol, unit)
        if entry is None or entry.leverage != new:
            stuck[f"{unit}:{symbol}"] = {
                "book": None if entry is None else entry.leverage,
                "exchange": new,
                "book_event_time": None if entry is None else entry.event_time,
            }
    return {"symbols": len(wanted), "followed": len(wanted) - len(stuck), "stuck": stuck}


async def probe(sim: Simulator, bridge: Bridge, name: str) -> bool:
    """Whether the stream still delivers: a fresh frame for a symbol nobody else uses must reach the book.

    ``available`` alone cannot say: it is the coordinator's state, which a dead stream task would leave as it was.
    """
    now_ms = sim.state()["time_ms"]
    frame = {"e": "ACCOUNT_CONFIG_UPDATE", "fs": "UM", "E": now_ms, "T": now_ms, "ac": {"s": name, "l": 7}}
    await sim.push_frames([frame])
    deadline = time.monotonic() + FOLLOW_TIMEOUT_S
    while bridge.book.leverage(name, "UM") != 7:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


async def coordinator_run(sim: Simulator, args: argparse.Namespace, failures: list[str]) -> dict[str, Any]:
    recorder, reader = fuzzlib.LastValueRecorder(), fuzzlib.BookReader()
    bridge = bridge_for(sim, recorder, reader)
    await bridge.start()
    step = max(1, args.frames // args.live_frames) if args.live_frames else 0
    try:
        frames = fuzzlib.FrameFuzzer(args.seed).frames(args.frames)
        result = await fuzzlib.fuzz_bridge(
            bridge, frames, keep=(lambda i: i % step == 0 and i // step < args.live_frames) if step else None
        )
        problems = {
            "invariant_violations": fuzzlib.check_book(bridge.book, result["applied_expected"]),
            "hooks_disagree_with_book": fuzzlib.hooks_agree(bridge.book, recorder),
            "differs_from_simulator": fuzzlib.differences_from(bridge.book, sim.state()),
        }
        result.update({name: found[:10] for name, found in problems.items()})
        result["available"] = bridge.available
        result["stream_delivers"] = await probe(sim, bridge, "PROBE1USDT")
        result["hook_calls"] = dict(recorder.calls)
        result["book_reads_from_hooks"] = reader.reads
        result["plugin_errors"] = bridge.pm.error_counts()
        result["stream_follow"] = await stream_follow(sim, bridge)
    finally:
        await bridge.stop()
    failures += [f"coordinator: {name}: {found[0]}" for name, found in problems.items() if found]
    if result["exceptions_other_than_decode_error"]:
        failures.append(f"decode: {result['exceptions_other_than_decode_error']} exceptions other than DecodeError")
    if result["fast_path_disagrees_with_reference"]:
        failures.append(
            f"decode: the fast path answered {result['fast_path_disagrees_with_reference']} frames otherwise than the "
            f"reference decoder, e.g. {result['disagreements'][0]}"
        )
    if result["coordinator_crashes"]:
        failures.append(f"coordinator: {result['coordinator_crashes']} exceptions escaped on_frame")
    if result["loop_error_count"]:
        failures.append(f"coordinator: {result['loop_error_count']} errors reached the event loop")
    if result["plugin_errors"]:
        failures.append(f"coordinator: plugins raised {result['plugin_errors']}")
    if not (result["settled"] and result["available"] and result["stream_delivers"]):
        failures.append("coordinator: the bridge was not connected (or its stream not delivering) after the run")
    return result


class FrameCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, raw: str | bytes, received: float) -> None:
        self.count += 1


async def wait_available(bridge: Bridge, connections: int = 0, timeout: float = 15.0) -> bool:
    """Until the bridge is connected (on its ``connections``-th connection or a later one)."""
    assert bridge.coordinator is not None
    stream = bridge.coordinator.stream
    deadline = time.monotonic() + timeout
    while not (bridge.available and stream.connections >= connections):
        if time.monotonic() > deadline or bridge.stop_reason is not None:
            return False
        await asyncio.sleep(0.005)
    return True


def batches(texts: list[str]) -> list[list[str]]:
    """Up to LIVE_BATCH frames each, a batch ending after any listenKeyExpired: the bridge then drops its socket
    for a new key, so frames pushed after it on the same socket would never arrive."""
    out: list[list[str]] = [[]]
    for text in texts:
        out[-1].append(text)
        if len(out[-1]) >= LIVE_BATCH or fuzzlib.outcome(text)[0] == "listen_key_expired":
            out.append([])
    return [batch for batch in out if batch]


async def live_run(sim: Simulator, sample: list[bytes], failures: list[str]) -> dict[str, Any]:
    """The sample as text frames over the simulator's websocket to a fresh bridge."""
    counter, recorder = FrameCounter(), fuzzlib.LastValueRecorder()
    bridge = bridge_for(sim, recorder, frame_observer=counter)
    await bridge.start()
    loop = asyncio.get_running_loop()
    loop_errors: list[str] = []
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(str(context.get("message"))[:300]))
    # Binance sends text frames: bytes that are not UTF-8 go out with U+FFFD in place (still malformed JSON mostly).
    texts = [raw.decode("utf-8", "replace") for raw in sample]
    sent = delivered = unsent = 0
    started = time.perf_counter()
    try:
        stream = bridge.coordinator.stream if bridge.coordinator is not None else None
        assert stream is not None
        next_connection = 0
        for number, batch in enumerate(batches(texts)):
            # After a listenKeyExpired the bridge is still "available" until its stream task runs: wait for the
            # new connection, or the next batch would go to the socket being dropped.
            if not await wait_available(bridge, next_connection):
                failures.append(f"live: the bridge was not connected before batch {number}")
                break
            if fuzzlib.outcome(batch[-1])[0] == "listen_key_expired":
                next_connection = stream.connections + 1
            before = counter.count
            sockets = await sim.push_frames(batch)
            sent += len(batch) * sockets
            unsent += 0 if sockets else len(batch)
            last, idle_since = counter.count, time.monotonic()
            while counter.count < before + len(batch) * sockets and time.monotonic() - idle_since < 0.5:
                await asyncio.sleep(0.001)
                if counter.count != last:
                    last, idle_since = counter.count, time.monotonic()
            delivered += counter.count - before
        push_s = time.perf_counter() - started
        settled = await fuzzlib.settle(bridge, 30.0)
        bridge.pm.flush()
        coordinator = bridge.coordinator
        assert coordinator is not None
        decoded = [fuzzlib.outcome(text) for text in texts]
        applied = sum(
            name in fuzzlib.APPLIED_OUTCOMES and not fuzzlib.dated_ahead(event, bridge.config.time_scale)
            for name, event in decoded
        )
        problems = {
            "invariant_violations": fuzzlib.check_book(bridge.book, applied if delivered == sent else None),
            "hooks_disagree_with_book": fuzzlib.hooks_agree(bridge.book, recorder),
            "differs_from_simulator": fuzzlib.differences_from(bridge.book, sim.state()),
        }
        stats = bridge.book.stats()
        result: dict[str, Any] = {
            "frames": len(texts),
            "frames_sent": sent,
            "frames_delivered": delivered,
            "frames_unsent": unsent,
            "push_s": round(push_s, 3),
            "connected": settled and bridge.available,
            "stream_delivers": await probe(sim, bridge, "PROBE2USDT"),
            "key_renewals": coordinator.stream.key_renewals,
            "connections": coordinator.stream.connections,
            "resyncs": coordinator.resyncs,
            "decode_errors": coordinator.decode_errors,
            "book": {
                "symbols": stats.symbols,
                "events": stats.events,
                "stale": stats.stale,
                "duplicates": stats.duplicates,
            },
            **{name: found[:10] for name, found in problems.items()},
            "plugin_errors": bridge.pm.error_counts(),
            "loop_errors": loop_errors[:5],
            "stream_follow": await stream_follow(sim, bridge),
        }
    finally:
        loop.set_exception_handler(None)
        await bridge.stop()
    failures += [f"live: {name}: {found[0]}" for name, found in problems.items() if found]
    if not (result["connected"] and result["stream_delivers"]):
        failures.append("live: the bridge was not connected (or its stream not delivering) after the run")
    if unsent or delivered != sent:
        failures.append(f"live: {delivered} of {sent} frames delivered, {unsent} not sent (no socket)")
    if loop_errors or result["plugin_errors"]:
        failures.append(f"live: errors reached the loop or a plugin: {loop_errors[:1]} {result['plugin_errors']}")
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    failures: list[str] = []
    errors = fuzzlib.ErrorLogCounter()
    logging.basicConfig(level=logging.ERROR, handlers=[errors])  # the bridge warns per malformed frame: not here
    started = time.perf_counter()
    async with Simulator(symbols=8, seed=args.seed or 1) as sim:
        coordinator = await coordinator_run(sim, args, failures)
        sample = coordinator.pop("sample")
        live = await live_run(sim, sample, failures) if sample else None
    if errors.count:
        failures.append(f"{errors.count} records logged at ERROR: {errors.first[0]}")
    outcomes = coordinator["outcomes"]
    ok = sum(count for name, count in outcomes.items() if name in fuzzlib.OK_OUTCOMES)
    return {
        "benchmark": "fuzz",
        "engine": "mutator",
        "seed": args.seed,
        "frames": coordinator["frames"],
        "decode": {
            "ok": ok,
            "decode_error": outcomes.get("decode_error", 0),
            "unknown_event": outcomes.get("unknown_event", 0),
            "exception": outcomes.get("exception", 0),
            "outcomes": outcomes,
        },
        "exceptions_other_than_decode_error": coordinator.pop("exceptions_other_than_decode_error"),
        "fast_path_disagrees_with_reference": coordinator.pop("fast_path_disagrees_with_reference"),
        "disagreements": coordinator.pop("disagreements"),
        "reproducers": coordinator.pop("reproducers"),
        "coordinator_crashes": coordinator.pop("coordinator_crashes"),
        "crash_reproducers": coordinator.pop("crash_reproducers"),
        "frames_per_s": coordinator.pop("frames_per_s"),
        "families": coordinator.pop("families"),
        "coordinator": coordinator,
        "live": live,
        "error_logs": errors.count,
        "failures": failures,
        "ok": not failures,
        "wall_s": round(time.perf_counter() - started, 1),
        "python": platform.python_version(),
    }


def run_atheris(args: argparse.Namespace) -> None:
    """libFuzzer's coverage-guided loop over decode(), seeded with the corpus, mutating with FrameFuzzer.

    decode() only: the coordinator needs a running event loop, which libFuzzer's blocking loop cannot give it (the
    default engine covers that path). libFuzzer stops the process after ``--frames`` runs, so the JSON summary is
    printed from the last run; a non-DecodeError exception is a libFuzzer crash (traceback, crash file, exit code).
    """
    try:
        atheris = importlib.import_module("atheris")
    except ImportError:
        sys.exit("--engine atheris needs atheris: pip install atheris (the default engine needs nothing)")
    import random
    import types

    from pmbridge import events, redact

    # Coverage of the decoder only (it is imported already, so instrument_imports() would miss it); instrumenting
    # everything loaded (instrument_all) also slows the mutator and the simulator's code down for nothing.
    for module in (events, redact):
        for function in vars(module).values():
            if isinstance(function, types.FunctionType) and function.__module__ == module.__name__:
                atheris.instrument_func(function)
    fuzzer = fuzzlib.FrameFuzzer(args.seed)
    outcomes: dict[str, int] = {}
    started = time.perf_counter()

    def mutate(data: bytes, max_size: int, seed: int) -> bytes:
        fuzzer.rng = random.Random(seed)
        if fuzzer.rng.random() < 0.6:
            try:
                return fuzzer.json_mutation(orjson.loads(data), 1)[:max_size]
            except (orjson.JSONDecodeError, RecursionError):  # not JSON, or nested past what emit() recurses
                pass
        return fuzzer.byte_mutation(data, fuzzer.rng.randint(1, 4))[:max_size]

    def test_one_input(data: bytes) -> None:
        name, result = fuzzlib.outcome(data)
        outcomes[name] = outcomes.get(name, 0) + 1
        if name == "exception":
            raise result
        runs = sum(outcomes.values())
        if runs == args.frames:
            wall = time.perf_counter() - started
            summary = {
                "benchmark": "fuzz",
                "engine": "atheris",
                "seed": args.seed,
                "frames": runs,
                "outcomes": dict(sorted(outcomes.items())),
                "exceptions_other_than_decode_error": 0,
                "frames_per_s": round(runs / wall),
                "wall_s": round(wall, 1),
            }
            print(json.dumps(summary), flush=True)

    corpus_dir = Path(args.atheris_corpus)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    for index, raw in enumerate(fuzzer.corpus):
        (corpus_dir / f"seed-{index:03d}.json").write_bytes(raw)
    argv = [sys.argv[0], f"-runs={args.frames}", f"-seed={args.seed}", "-max_len=16384", str(corpus_dir)]
    atheris.Setup(argv, test_one_input, custom_mutator=mutate)
    atheris.Fuzz()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--live-frames", type=int, default=50_000, help="frames through the live websocket (0: none)")
    parser.add_argument("--engine", choices=("mutator", "atheris"), default="mutator")
    parser.add_argument("--atheris-corpus", default="/tmp/pmbridge-atheris-corpus", help="libFuzzer's corpus folder")
    args = parser.parse_args()
    if args.engine == "atheris":
        run_atheris(args)
        return
    report = asyncio.run(run(args))
    print(json.dumps(report))
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
