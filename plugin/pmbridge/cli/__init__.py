"""The ``pmbridge`` command line. Each sub-command lives in its own module and registers itself in its ``COMMANDS``.

``main`` wires Ctrl-C and SIGTERM before it imports the commands (a third of a second of ccxt, aiohttp and rich), so
a stop that arrives while pmbridge is still loading ends it cleanly too.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from .. import __version__
from ..errors import PMBridgeError
from .exits import EXIT_FAILURE, EXIT_USAGE
from .signals import Interrupted, install_early_handlers, interrupted

# name -> (help, add_arguments, run); run returns the exit code.
Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]


def commands() -> dict[str, Command]:
    """Every sub-command, by name (importing their modules: call it once the signals are wired)."""
    from . import demo, doctor, freqtrade_cmd, inspect_cmds, reconcile, record, replay, watch  # noqa: PLC0415

    return {
        **demo.COMMANDS,
        **watch.COMMANDS,
        **reconcile.COMMANDS,
        **doctor.COMMANDS,
        **record.COMMANDS,
        **replay.COMMANDS,
        **inspect_cmds.COMMANDS,
        **freqtrade_cmd.COMMANDS,
    }


def build_parser(available: dict[str, Command] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pmbridge",
        description="Keep trading bots in step with a Binance Portfolio Margin account's leverage and account mode.",
        epilog="Run 'pmbridge COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"pmbridge {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_arguments, _run) in (available or commands()).items():
        command = sub.add_parser(
            name, help=help_text, description=help_text, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        add_arguments(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["freqtrade"]:
        # Freqtrade's options are not pmbridge's: hand them over untouched, before any parsing or logging set-up
        # (Freqtrade configures logging itself, and only if nothing has yet; it handles its own signals).
        from ..freqtrade.launcher import run as launch  # noqa: PLC0415 - imports Freqtrade

        launch(arguments[1:])
    name = next((word for word in arguments if not word.startswith("-")), "")  # the command, as far as known yet
    install_early_handlers()
    try:
        available = commands()
        parser = build_parser(available)
        args = parser.parse_args(arguments)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        name = args.command
        level = logging.WARNING - 10 * min(args.verbose, 2)
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
        _help, _add, run = available[args.command]
        return run(args)
    except PMBridgeError as exc:
        print(f"pmbridge {name}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except Interrupted as exc:
        return interrupted(name, exc.signum)


if __name__ == "__main__":
    sys.exit(main())
