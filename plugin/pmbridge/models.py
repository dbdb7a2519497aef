"""The frozen objects hooks receive: one per hook, so a spec can gain fields without breaking plugins."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from attrs import field, frozen

from .const import AccountSetting, AccountType, Source, Unit

if TYPE_CHECKING:
    from .book import LeverageBook


# Changes are transient: dict-backed frozen classes build faster than slotted ones (see events.py).
@frozen(slots=False)
class LeverageChange:
    """The leverage of one symbol changed (or became known: ``old`` is None the first time)."""

    unit: Unit
    exchange_symbol: str
    old: int | None
    new: int
    source: Source
    event_time: int | None
    transaction_time: int | None = None
    symbol: str | None = None
    """ccxt unified symbol (``BTC/USDT:USDT``) once markets are loaded, else None."""
    open_trades: tuple[int, ...] = ()
    """Set by a host that holds positions: ids of its open trades on this symbol (their leverage was fixed at entry)."""
    note: str = ""
    """What the change means for the host, in words (e.g. what happens to open trades), when the host says."""


@frozen(slots=False)
class AccountModeChange:
    """An account-wide flag changed: ``multi_assets`` (union margin) or ``dual_side_position`` (hedge mode)."""

    setting: AccountSetting
    old: bool | None
    new: bool
    source: Source
    event_time: int | None
    transaction_time: int | None = None


Change = LeverageChange | AccountModeChange


class StreamState(StrEnum):
    """Where the user data stream is. ``available`` is True only while ``CONNECTED``."""

    STARTING = "starting"
    CONNECTING = "connecting"
    RESYNCING = "resyncing"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    STOPPED = "stopped"


@frozen(slots=True)
class StreamStateChange:
    """The stream moved from ``old`` to ``new``; ``reason`` says why in words a person can act on."""

    old: StreamState
    new: StreamState
    reason: str
    at: float
    """Wall-clock time (``time.time()``) of the transition."""

    @property
    def available(self) -> bool:
        return self.new is StreamState.CONNECTED


@frozen(slots=True)
class ReconcileReport:
    """One REST snapshot compared with the book.

    ``changes`` is the drift found (source ``snapshot`` on the first fill, ``reconcile`` afterwards); ``kept_newer``
    counts entries where an event received after the snapshot was requested was kept over the snapshot's value.
    """

    source: Source
    trigger: str
    """Why it ran: ``"connect"``, ``"interval"``, ``"config_event"``, ``"manual"``."""
    rest_calls: int
    symbols: int
    duration_s: float
    changes: tuple[Change, ...]
    kept_newer: int = 0

    @property
    def drift(self) -> bool:
        return bool(self.changes)


@frozen(slots=True)
class LeverageRequest:
    """The question behind ``pmbridge_decide_leverage``: which leverage should the next entry of ``symbol`` use?"""

    symbol: str
    exchange_symbol: str | None
    unit: Unit | None
    proposed: float
    """What the strategy (or the caller) would use on its own."""
    exchange: int | None
    """What the exchange has now, from the book; None if unknown."""
    max_leverage: float
    """The ceiling from the host (Freqtrade's ``max_leverage`` for the pair and side) and the caps."""
    policy: str
    side: str | None = None


@frozen(slots=True)
class BridgeInfo:
    """What ``pmbridge_configure`` receives: the validated, secret-free view of the bridge's configuration."""

    account: AccountType
    base_url: str | None
    settings: Mapping[str, Any] = field(hash=False)


@frozen(slots=True)
class DiagnosticsRequest:
    """What ``pmbridge_diagnostics`` receives: the book to read from and the dump assembled so far (redacted)."""

    book: LeverageBook = field(hash=False)
    reason: str = "requested"


@frozen(slots=True)
class Shutdown:
    """The bridge is stopping; ``reason`` says why (``"requested"``, ``"fatal: ..."``)."""

    reason: str
