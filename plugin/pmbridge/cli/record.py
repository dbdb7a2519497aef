"""``pmbridge record FILE``: an account's raw user stream and reconciled books, written to a file for replays and
backtests (the format: ``pmbridge.recording``)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ..bridge import Bridge
from ..config import BridgeConfig
from ..errors import ConfigError
from ..recorder import Recorder
from .common import CREDENTIALS_HELP, add_connection_arguments, config_from_args, start_until_signal, stop_soon
from .exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from .output import Printer
from .signals import StopSignals

EPILOG = f"""\
{CREDENTIALS_HELP}

FILE gets JSON lines: a header, the markets, every raw user-stream frame with its receive time, and the books
(leverage, account mode, open positions) after every REST reconcile (docs/recording.md). No secret is written: not
the API key or secret, and every listenKey-like run in a frame is masked. Changes print as `pmbridge watch` prints
them (--quiet: not at all).
Replay a recording with `pmbridge replay FILE`.

examples:
  pmbridge record account.jsonl
  pmbridge record account.jsonl --duration 3600 --quiet
  pmbridge record sim.jsonl --base-url http://127.0.0.1:8765 --json     # against `python -m pmbridge.sim`

exit codes: 0 stopped by Ctrl-C, SIGTERM (its normal end, also during start-up) or --duration; 1 could not start,
could not write FILE, or a fatal error (the message says why); 2 bad command line or configuration, or FILE exists
without --force."""


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("file", metavar="FILE", type=Path, help="where to write the recording (JSON lines)")
    add_connection_arguments(parser)
    parser.add_argument(
        "--duration", type=_seconds, metavar="SECONDS", help="stop after this long once connected (default: Ctrl-C)"
    )
    parser.add_argument("--json", action="store_true", help="print changes as JSON lines, like `watch --json`")
    parser.add_argument("--quiet", action="store_true", help="print no changes, only errors and the summary")
    parser.add_argument("--force", action="store_true", help="overwrite FILE if it exists")


async def record(
    config: BridgeConfig, path: Path, printer: Printer | None, duration: float | None, signals: StopSignals
) -> int:
    """Record until a signal, ``duration`` seconds after the first snapshot, or a fatal error; the exit code."""
    bridge = Bridge(config, plugins=() if printer is None else (printer,))
    with path.open("wb") as out:
        recorder = Recorder(out, bridge, on_failure=lambda why: stop_soon(bridge, f"fatal: {why}"))
        failed = await start_until_signal(bridge, signals)
        if failed is not None:
            return failed
        loop = asyncio.get_running_loop()
        if duration is not None:
            loop.call_later(duration, stop_soon, bridge, f"recorded for {duration:g} s")
        reason = await bridge.wait_stopped()
    print(
        f"pmbridge record: {recorder.frames} frames and {recorder.snapshots} snapshots written to {path} ({reason})",
        file=sys.stderr,
    )
    if reason.startswith("fatal"):
        print(f"pmbridge record: {reason}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print(f"pmbridge record: {exc}", file=sys.stderr)
        return EXIT_USAGE
    path: Path = args.file
    if path.exists() and not args.force:
        print(f"pmbridge record: {path} exists; pass --force to overwrite it, or choose another FILE", file=sys.stderr)
        return EXIT_USAGE
    printer = None if args.quiet else Printer(json_lines=args.json)
    signals = StopSignals("record")
    try:
        return signals.run(lambda: record(config, path, printer, args.duration, signals))
    except OSError as exc:
        print(f"pmbridge record: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE


COMMANDS = {
    "record": ("record an account's user stream and snapshots to a file, for replay", add_arguments, run),
}
