"""pmbridge for Freqtrade: ``class MyStrategy(PMBridgeMixin, IStrategy)`` and a ``pmbridge`` config section.

Supported Freqtrade: 2025.6 to 2026.x (tested with the version the test suite installs).
"""

from __future__ import annotations

from .mixin import PMBridgeMixin
from .settings import FreqtradeSettings, parse_settings

__all__ = ["FreqtradeSettings", "PMBridgeMixin", "parse_settings"]
