"""What the installed ccxt and Freqtrade must be for Portfolio Margin, and one ccxt mapping put right per instance."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

MIN_CCXT: Final = (4, 5, 87)
"""ccxt routes PM USDⓈ-M conditional (stoploss) orders to Binance's algo service (``papi/v1/um/algo/*``) from 4.5.87
on; older releases use ``papi/v1/um/conditional/*``, which Binance retired on 2026-04-28."""
TESTED_FREQTRADE: Final = ("2026.9",)
"""Freqtrade releases the launcher and ``PMBinance`` are tested with (the test suite installs one of them)."""
MIN_FREQTRADE: Final = (2026, 1)
"""Older than this, ``PMBinance`` is refused: the overrides follow 2026.x's exchange code."""
BEYOND_FREQTRADE: Final = (2027, 1)
"""From this release on, refused unless ``UNTESTED_ENV`` is set: Freqtrade's exchange code may have moved under the
overrides (they rely on ``Binance``'s start-up checks, margin-mode and stoploss methods as 2026.x has them)."""
UNTESTED_ENV: Final = "PMBRIDGE_FREQTRADE_UNTESTED"


def version_tuple(text: str) -> tuple[int, ...]:
    out: list[int] = []
    for part in text.split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


def installed_version(distribution: str) -> str:
    """The installed distribution's version, without importing it ("unknown" when absent)."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


def align_pm_error_map(api: Any) -> int:
    """Make this ccxt object raise, for a papi error code, the exception class it raises for the code on fapi.

    ccxt picks its code map by URL: fapi answers use ``exceptions['linear']``, papi answers
    ``exceptions['portfolioMargin']``, and the two disagree for 93 codes in ccxt 4.5.90. Freqtrade's handling is
    written against the fapi classes, and some papi ones make it act wrongly: -2011 (cancel of an unknown order)
    becomes a retried TemporaryError instead of "order not found"; -1021 (timestamp) or -1015 (too many orders)
    while placing a stoploss become InvalidOrder, on which Freqtrade *emergency-exits the trade*. Binance's codes are
    shared by its futures APIs and PM UM orders go to the same matching engine, so the fapi class per code is the
    right reading. Only this ccxt instance's own copy of the map changes. Returns the number of codes changed.
    """
    exceptions = api.exceptions
    pm_exact = exceptions.setdefault("portfolioMargin", {}).setdefault("exact", {})
    linear_exact = exceptions.get("linear", {}).get("exact", {})
    common_exact = exceptions.get("exact", {})
    changed = 0
    for code in set(pm_exact) | set(linear_exact):
        fapi_class = linear_exact.get(code) or common_exact.get(code)
        if fapi_class is not None and pm_exact.get(code) is not fapi_class:
            pm_exact[code] = fapi_class
            changed += 1
    return changed
