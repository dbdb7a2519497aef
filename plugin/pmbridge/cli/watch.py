"""``pmbridge watch``: the live view of an account, read-only."""

from __future__ import annotations

import argparse
import sys

from ..bridge import Bridge
from ..config import BridgeConfig
from ..errors import ConfigError
from .common import CREDENTIALS_HELP, add_connection_arguments, config_from_args, start_until_signal
from .exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE
from .output import Printer
from .signals import StopSignals

EPILOG = f"""\
{CREDENTIALS_HELP}
Without --base-url (or ccxt urls in --config) pmbridge talks to Binance itself.

examples:
  pmbridge watch --json
  pmbridge watch --base-url http://127.0.0.1:8765 --json     # against `python -m pmbridge.sim`
  pmbridge watch --account usdm --reconcile-interval 300
  pmbridge watch --config user_data/config.json              # the bot's own keys and pmbridge section

exit codes: 0 stopped by Ctrl-C or SIGTERM (its normal end, also during start-up); 1 could not start or stopped on a
fatal error (the message says why); 2 bad command line or configuration."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    add_connection_arguments(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per line per change")
    parser.add_argument(
        "--reconcile-interval",
        type=float,
        metavar="SECONDS",
        help="fixed REST reconcile cadence (default: 900)",
    )


async def watch(config: BridgeConfig, printer: Printer, signals: StopSignals) -> int:
    bridge = Bridge(config, plugins=(printer,))
    failed = await start_until_signal(bridge, signals)
    if failed is not None:
        return failed
    reason = await bridge.wait_stopped()
    if reason.startswith("fatal"):
        print(f"pmbridge watch: {reason}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args, reconcile_interval=args.reconcile_interval)
    except ConfigError as exc:
        print(f"pmbridge watch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    signals = StopSignals("watch")
    return signals.run(lambda: watch(config, Printer(json_lines=args.json), signals))


COMMANDS = {"watch": ("watch an account's leverage, account mode and positions live (read-only)", add_arguments, run)}
