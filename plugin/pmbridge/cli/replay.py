"""``pmbridge replay FILE``: a recording played back through decode -> the books -> the plugins, printed like
``watch``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ..errors import DecodeError
from ..manager import create_plugin_manager
from ..recording import BadLine, Header, RecordingError, read_recording
from ..replayer import Replayer
from .exits import EXIT_FAILURE, EXIT_OK
from .output import Printer
from .signals import StopSignals

EPILOG = """\
Plays a file made by `pmbridge record` through the same decode -> book -> plugin hooks path as a live bridge (the
installed plugins are loaded too), and prints every change, positions included, as `pmbridge watch` does. Snapshot
lines are applied where they were recorded. A replay makes no REST call: a position change goes out with what the
stream carried (no liquidation price until the next snapshot line), not after a read-back as live. A line that is
not a record is reported with its number and skipped.

examples:
  pmbridge replay account.jsonl --json
  pmbridge replay account.jsonl --speed 10          # ten times faster than it happened
  pmbridge replay account.jsonl --speed 0           # as fast as possible

exit codes: 0 replayed; 1 FILE is not a recording (empty, or another command's output: the message says what it
is), or some lines were skipped (each is named on stderr); 2 bad command line; 130 (Ctrl-C) or 143 (SIGTERM)
interrupted."""


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 (as fast as possible) or a positive factor, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("file", metavar="FILE", type=Path, help="a recording made by `pmbridge record`")
    parser.add_argument("--json", action="store_true", help="one JSON object per line per change")
    parser.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        metavar="X",
        help="X times the recorded pace (default: 1, as recorded; 0: as fast as possible)",
    )


async def replay(path: Path, printer: Printer, speed: float) -> int:
    """Replay ``path`` at ``speed``; the exit code."""
    replayer = Replayer(create_plugin_manager(plugins=(printer,)))
    loop = asyncio.get_running_loop()
    anchor: tuple[float, float] | None = None  # (recorded ms, loop time) of the first timed line
    bad = undecodable = 0
    try:
        for number, item in read_recording(path):
            if isinstance(item, BadLine):
                bad += 1
                print(f"pmbridge replay: {path}: {item.message}", file=sys.stderr, flush=True)
                continue
            if speed > 0 and not isinstance(item, Header):
                if anchor is None:
                    anchor = (item.t, loop.time())
                delay = anchor[1] + (item.t - anchor[0]) / 1000.0 / speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            if number % 512 == 0:
                await asyncio.sleep(0)  # at --speed 0 too, Ctrl-C and SIGTERM get their turn
            try:
                replayer.apply(item)
            except DecodeError as exc:
                undecodable += 1
                print(
                    f"pmbridge replay: {path}: line {number}: the recorded frame does not decode ({exc}); "
                    "the live bridge dropped it too",
                    file=sys.stderr,
                    flush=True,
                )
    except RecordingError as exc:
        print(f"pmbridge replay: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        replayer.finish()
    summary = f"pmbridge replay: {replayer.frames} frames and {replayer.snapshots} snapshots replayed from {path}"
    if undecodable:
        summary += f"; {undecodable} frames did not decode"
    if bad:
        summary += f"; {bad} bad lines skipped (named above)"
    print(summary, file=sys.stderr)
    return EXIT_FAILURE if bad else EXIT_OK


def run(args: argparse.Namespace) -> int:
    return StopSignals("replay").run(lambda: replay(args.file, Printer(json_lines=args.json), args.speed))


COMMANDS = {
    "replay": ("play a recording back through the book and the plugins, printed like watch", add_arguments, run),
}
