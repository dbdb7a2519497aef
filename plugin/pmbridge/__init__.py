"""pmbridge: keep trading bots in step with a Binance Portfolio Margin account's configuration.

Public API::

    from pmbridge import decode, DecodeError, AccountConfigUpdate, ListenKeyExpired, OtherEvent
    from pmbridge import LeverageBook, create_plugin_manager, hookimpl

Importing pmbridge starts nothing: no thread, no network, no global plugin manager.
"""

from __future__ import annotations

from .book import BookEntry, LeverageBook, Snapshot
from .errors import ConfigError, DecodeError, PluginError, PMBridgeError, UnknownEventError
from .events import AccountConfigUpdate, ListenKeyExpired, OtherEvent, decode, unit_of
from .manager import PluginManager, create_plugin_manager, hookimpl
from .models import (
    AccountModeChange,
    LeverageChange,
    LeverageRequest,
    ReconcileReport,
    Shutdown,
    StreamState,
    StreamStateChange,
)
from .symbols import SymbolMap

__version__ = "0.1.0"

__all__ = [
    "AccountConfigUpdate",
    "AccountModeChange",
    "BookEntry",
    "ConfigError",
    "DecodeError",
    "LeverageBook",
    "LeverageChange",
    "LeverageRequest",
    "ListenKeyExpired",
    "OtherEvent",
    "PMBridgeError",
    "PluginError",
    "PluginManager",
    "ReconcileReport",
    "Shutdown",
    "Snapshot",
    "StreamState",
    "StreamStateChange",
    "SymbolMap",
    "UnknownEventError",
    "__version__",
    "create_plugin_manager",
    "decode",
    "hookimpl",
    "unit_of",
]
