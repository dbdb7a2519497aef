"""A bench role process: the calling script run again with ``--role``, JSON commands on stdin, answers on stdout.

Shared by bench/live.py, bench/positions.py and bench/soak.py: both ends of that protocol (``Child`` in the parent;
``stdin_lines``, ``reply``, ``serve_commands`` and ``run_role`` in the child), and what their reports have in common
(the machine's figures, timing summaries, ``run_report``). The child's stderr (its log) goes to a temporary file that
errors quote; closing its stdin tells it to leave its command loop and clean up, so nothing outlives the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import orjson


class BenchError(RuntimeError):
    """The bench cannot go on; the message says which process and what it last logged."""


# ---------------------------------------------------------------------------------------------------------------
# the child's side
# ---------------------------------------------------------------------------------------------------------------
def run_role(main: Coroutine[Any, Any, None]) -> None:
    """A role process's entry point: warnings and worse logged to stderr (the parent quotes it), Ctrl-C quiet."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main)


async def stdin_lines() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


def reply(message: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(message).decode() + "\n")
    sys.stdout.flush()


Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


async def serve_commands_from(reader: asyncio.StreamReader, handlers: dict[str, Handler]) -> None:
    """``serve_commands`` on a reader already open (for a child that reads a start line from it first)."""
    while True:
        line = await reader.readline()
        if not line:
            return
        command = orjson.loads(line)
        name = command.get("cmd")
        try:
            if name == "quit":
                reply({"ok": True})
                return
            reply({"ok": True, **(await handlers[name](command))})
        except Exception as exc:  # the parent turns this into a clear error
            reply({"ok": False, "error": f"{name}: {type(exc).__name__}: {exc}"})


async def serve_commands(handlers: dict[str, Handler]) -> None:
    """A child's main loop: one JSON command per stdin line, one JSON answer per stdout line; EOF ends it."""
    await serve_commands_from(await stdin_lines(), handlers)


# ---------------------------------------------------------------------------------------------------------------
# the parent's side
# ---------------------------------------------------------------------------------------------------------------
class Child:
    def __init__(self, name: str, script: str) -> None:
        self.name = name
        self.script = script
        self.proc: asyncio.subprocess.Process | None = None
        self.errors = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115 - lives as long as the child

    async def start(self, *args: str) -> None:
        """Run ``script --role *args``."""
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            self.script,
            "--role",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self.errors,
            limit=1 << 27,
        )

    def stderr_text(self) -> str:
        self.errors.seek(0)
        return self.errors.read().decode(errors="replace")

    def stderr_tail(self) -> str:
        return self.stderr_text()[-2000:]

    async def read(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except TimeoutError:
            raise BenchError(f"{self.name}: no answer within {timeout} s; its stderr:\n{self.stderr_tail()}") from None
        if not line:
            code = await asyncio.wait_for(self.proc.wait(), 5)
            raise BenchError(f"{self.name} exited (code {code}); its stderr:\n{self.stderr_tail()}")
        message: dict[str, Any] = orjson.loads(line)
        if message.get("ok") is False:
            raise BenchError(f"{self.name} failed: {message['error']}; its stderr:\n{self.stderr_tail()}")
        return message

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(orjson.dumps(message) + b"\n")

    async def ask(self, cmd: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        self.send({"cmd": cmd, **fields})
        return await self.read(timeout)

    async def close(self, timeout: float = 5.0) -> None:
        """EOF on stdin, then wait ``timeout`` s; terminate, then kill, if it does not leave."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(Exception):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 3)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.0005)


# ---------------------------------------------------------------------------------------------------------------
# reports
# ---------------------------------------------------------------------------------------------------------------
def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


def summary_ms(values_s: list[float]) -> dict[str, Any]:
    ordered = sorted(v * 1000 for v in values_s)
    if not ordered:
        return {"samples": 0}
    return {
        "samples": len(ordered),
        "median_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(percentile(ordered, 95), 2),
        "min_ms": round(ordered[0], 2),
        "max_ms": round(ordered[-1], 2),
    }


async def timed_resyncs(
    bridge: Any, sim: Child, warmup: int, samples: int, timeout: float
) -> tuple[list[float], list[Any], dict[str, Any], dict[str, Any]]:
    """``bridge.reconcile_now()`` ``warmup`` times, then ``samples`` times timed: (wall seconds, the reports, the
    simulator's stats before and after the timed ones)."""
    for _ in range(warmup):
        await asyncio.wait_for(bridge.reconcile_now(), timeout)
    before = await sim.ask("stats")
    walls, reports = [], []
    for _ in range(samples):
        started = time.perf_counter()
        reports.append(await asyncio.wait_for(bridge.reconcile_now(), timeout))
        walls.append(time.perf_counter() - started)
    return walls, reports, before, await sim.ask("stats")


def proc_status_kib(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` figure in KiB (``VmRSS``, ``VmHWM``...)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise BenchError(f"/proc/{pid}/status has no {field}")


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    """The report's figures about this machine before the run (``loadavg_after`` is the script's last figure)."""
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "loadavg_before": loadavg()}


def run_report(script: str, main: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """The parent's entry point: errors only logged, ``main``'s report printed as one JSON line and returned; a
    ``BenchError`` is printed to stderr and exits 2."""
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    try:
        report = asyncio.run(main)
    except BenchError as exc:
        print(f"{script}: {exc}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(report))
    return report
