"""pmbridge for Freqtrade: ``class MyStrategy(PMBridgeMixin, IStrategy)`` and a ``pmbridge`` config section.

Supported Freqtrade: 2025.6 to 2026.x (tested with the version the test suite installs).

``PMBridgeMixin`` is imported on first use: the settings parser (``pmbridge.freqtrade.settings``), which the command
line uses to read a Freqtrade config file, must work without Freqtrade installed (and without its 4 s import).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .settings import FreqtradeSettings, parse_settings

if TYPE_CHECKING:
    from .mixin import PMBridgeMixin

__all__ = ["FreqtradeSettings", "PMBridgeMixin", "parse_settings"]


def __getattr__(name: str) -> Any:
    if name == "PMBridgeMixin":
        from .mixin import PMBridgeMixin  # noqa: PLC0415 - imports Freqtrade

        return PMBridgeMixin
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
