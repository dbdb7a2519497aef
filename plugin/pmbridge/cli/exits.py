"""The exit codes of every command, and the one rule for a command stopped by a signal (docs/cli.md)."""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
"""A failure the message on stderr explains."""
EXIT_USAGE: Final = 2
"""A bad command line or configuration."""

RUN_UNTIL_STOPPED: Final = frozenset({"watch", "record"})
"""Commands whose normal end is Ctrl-C or SIGTERM (or ``--duration``)."""


def signal_exit_code(command: str, signum: int) -> int:
    """The exit code of ``command`` stopped by signal ``signum``.

    ``watch`` and ``record`` exit 0: the stop is their normal end, and systemd, Docker and Kubernetes count the stop
    they asked for as a clean one. Every other command runs to an end of its own, so a signal interrupts it before its
    result exists: 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM, what a shell reports for a command that
    signal killed), and a cron job or script never reads an interrupted check as a passed one.
    """
    return EXIT_OK if command in RUN_UNTIL_STOPPED else 128 + signum
