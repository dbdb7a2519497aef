"""What the operating system shows of pmbridge: its threads by name, so ``top -H`` and ``ps -L`` tell an operator
what pmbridge costs inside a bot (Python 3.11 does not pass ``threading.Thread`` names on to the OS).

Only pmbridge's own threads are named, never the host's: naming the main thread would rename the process.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Final

_PR_SET_NAME: Final = 15
_MAX_NAME: Final = 15  # bytes; Linux keeps 16 with the terminating NUL
_prctl: Callable[..., int] | None = None
_loaded = False


def name_this_thread(name: str) -> None:
    """Name the calling thread ``name`` (cut to 15 bytes) where the OS allows it (Linux); elsewhere do nothing."""
    global _prctl, _loaded  # noqa: PLW0603 - loaded once, on first use: ctypes is not needed to import pmbridge
    if not _loaded:
        _loaded = True
        if sys.platform.startswith("linux"):
            try:
                import ctypes  # noqa: PLC0415

                _prctl = ctypes.CDLL(None, use_errno=True).prctl
            except (OSError, AttributeError):
                _prctl = None
    if _prctl is not None:
        _prctl(_PR_SET_NAME, name.encode("ascii", "replace")[:_MAX_NAME], 0, 0, 0)
