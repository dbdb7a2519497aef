"""The ``pmbridge`` command line. Each sub-command lives in its own module and registers itself in ``COMMANDS``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from .. import __version__
from ..errors import PMBridgeError
from . import demo, doctor, freqtrade_cmd, inspect_cmds, reconcile, record, replay, watch

# name -> (help, add_arguments, run); run returns the exit code.
Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
COMMANDS: dict[str, Command] = {
    **demo.COMMANDS,
    **watch.COMMANDS,
    **reconcile.COMMANDS,
    **doctor.COMMANDS,
    **record.COMMANDS,
    **replay.COMMANDS,
    **inspect_cmds.COMMANDS,
    **freqtrade_cmd.COMMANDS,
}

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pmbridge",
        description="Keep trading bots in step with a Binance Portfolio Margin account's leverage and account mode.",
        epilog="Run 'pmbridge COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"pmbridge {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_arguments, _run) in COMMANDS.items():
        command = sub.add_parser(
            name, help=help_text, description=help_text, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        add_arguments(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["freqtrade"]:
        # Freqtrade's options are not pmbridge's: hand them over untouched, before any parsing or logging set-up
        # (Freqtrade configures logging itself, and only if nothing has yet).
        from ..freqtrade.launcher import run as launch  # noqa: PLC0415 - imports Freqtrade

        launch(arguments[1:])
    parser = build_parser()
    args = parser.parse_args(arguments)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    _help, _add, run = COMMANDS[args.command]
    try:
        return run(args)
    except PMBridgeError as exc:
        print(f"pmbridge {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
