"""Ctrl-C and SIGTERM: every command stops within a couple of seconds, at any moment of its run.

The exit code follows one rule (``exits.signal_exit_code``): 0 for ``watch`` and ``record``, whose normal end a stop
is; 130 (Ctrl-C) or 143 (SIGTERM) for the commands that run to an end of their own. The first signal asks the command
to stop cleanly (a bridge unloads, a recording is flushed; without such a step the command is cancelled); a second
cancels whatever is still running; a third exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Final

from .exits import EXIT_OK, RUN_UNTIL_STOPPED, signal_exit_code

SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A stop signal arrived outside a command's event loop (loading, parsing, printing the result).

    Raised from the signal handler ``main`` installs first, it unwinds like KeyboardInterrupt (no ``except
    Exception`` catches it) to ``main``, which exits with ``signal_exit_code``.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def interrupted(command: str, signum: int) -> int:
    """The exit code of ``command`` stopped by ``signum``; one that runs to an end says on stderr that it has no
    result (``watch`` and ``record`` stopped as asked: nothing to say)."""
    if command not in RUN_UNTIL_STOPPED:
        name = signal.Signals(signum).name
        who = f"pmbridge {command}".rstrip()  # no command yet: the signal came while pmbridge was loading
        print(f"{who}: interrupted by {name} before it finished; no result", file=sys.stderr, flush=True)
    return signal_exit_code(command, signum)


def raise_interrupted(signum: int, _frame: object) -> None:
    raise Interrupted(signum)


def install_early_handlers() -> None:
    """From the first line of ``main``: a signal before any command runs ends the process cleanly too."""
    for sig in SIGNALS:
        signal.signal(sig, raise_interrupted)


class StopSignals:
    """Runs one command's coroutine with SIGINT and SIGTERM wired to stop it.

    The handler only records the signal and wakes the loop; what a signal does runs on the loop, between steps, so
    it can never land inside a half-finished step. ``on_stop`` is the clean stop the first signal takes (``watch``
    and ``record`` set it to stop their bridge); without one, the first signal cancels the command.
    """

    def __init__(self, command: str) -> None:
        self.command = command
        self.on_stop: Callable[[], object] | None = None
        self.signum: int | None = None
        """The first signal received, if any."""
        self._count = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None

    def run(self, main: Callable[[], Coroutine[Any, Any, int]]) -> int:
        """``asyncio.run(main())`` with the signals wired; the command's exit code, or the rule's if a signal ended
        it (one that runs to an end says on stderr that it was interrupted)."""
        in_main_thread = threading.current_thread() is threading.main_thread()
        previous = {sig: signal.signal(sig, self._handle) for sig in SIGNALS} if in_main_thread else {}
        try:
            code = asyncio.run(self._run(main))
        except asyncio.CancelledError:
            if self.signum is None:
                raise
            code = EXIT_OK
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        if self.signum is None or self.command in RUN_UNTIL_STOPPED:
            return code  # stopped as asked: 0, unless the stop itself went wrong and said so
        return interrupted(self.command, self.signum)

    async def _run(self, main: Callable[[], Coroutine[Any, Any, int]]) -> int:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        if self.signum is not None:  # it came while the loop was being made
            return EXIT_OK
        return await main()

    def _handle(self, signum: int, _frame: object) -> None:
        self._count += 1
        if self.signum is None:
            self.signum = signum
        if self._count >= 3:  # the clean stop and the cancel both hung: the user still gets the process back
            # os.write: print() could be the very call this handler interrupted (a reentrant write raises)
            os.write(2, f"pmbridge {self.command}: stopping takes too long; exiting at once\n".encode())
            os._exit(signal_exit_code(self.command, self.signum))
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: run() is returning anyway
                loop.call_soon_threadsafe(self._on_loop)

    def _on_loop(self) -> None:
        if self._count == 1 and self.on_stop is not None:
            self.on_stop()
        elif self._task is not None:
            self._task.cancel()
