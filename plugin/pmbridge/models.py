"""The frozen objects hooks receive: one per hook, so a spec can gain fields without breaking plugins."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from attrs import field, frozen

from .const import AccountSetting, AccountType, Origin, PositionChangeKind, PositionSide, Source, Unit

if TYPE_CHECKING:
    from .book import LeverageBook


@frozen(slots=True)
class Position:
    """One position (a symbol and side) as the exchange reported it; a flat one has ``amount`` 0.

    Numbers are exact decimals as Binance wrote them. A field is None when the source of this reading does not carry
    it: the user stream has no liquidation price, mark price or leverage, and fapi's positionRisk v3 has no leverage
    (pmbridge then fills ``leverage`` from the symbol's configuration).
    """

    unit: Unit
    exchange_symbol: str
    side: PositionSide
    amount: Decimal
    """Signed in one-way mode (``BOTH``): positive long, negative short. ``LONG`` rows >= 0, ``SHORT`` rows <= 0."""
    entry_price: Decimal
    symbol: str | None = None
    """ccxt unified symbol once markets are loaded."""
    leverage: int | None = None
    margin_type: str | None = None
    """``cross`` or ``isolated`` (Portfolio Margin UM positions are cross)."""
    isolated_margin: Decimal | None = None
    """Margin held by an isolated position (its isolated wallet); None for cross."""
    liquidation_price: Decimal | None = None
    """As the exchange computes it; None when the reading did not carry one, 0 when the exchange reports none."""
    unrealized_pnl: Decimal | None = None
    mark_price: Decimal | None = None
    break_even_price: Decimal | None = None
    update_time: int | None = None
    """The exchange's time of this reading (event time or ``updateTime``), ms."""
    source: Source = "stream"
    initial_margin: Decimal | None = None
    """Margin the position uses, when the reading carries it (USDⓈ-M's positionRisk; Portfolio Margin's does not)."""

    @property
    def is_open(self) -> bool:
        return self.amount != 0

    @property
    def direction(self) -> str | None:
        """``long``, ``short`` or None when flat."""
        if self.side != "BOTH":
            return self.side.lower() if self.amount else None
        return "long" if self.amount > 0 else "short" if self.amount < 0 else None

    @property
    def notional(self) -> Decimal | None:
        """|amount| x mark price (USDⓈ-M: in USDT) when the mark price is known."""
        return None if self.mark_price is None else abs(self.amount) * self.mark_price


@frozen(slots=True)
class PositionChange:
    """A position opened, changed (amount, entry price, margin type or isolated margin), closed, or was liquidated."""

    kind: PositionChangeKind
    position: Position
    """The position after the change (``amount`` 0 once closed or liquidated)."""
    old: Position | None
    source: Source
    event_time: int | None
    transaction_time: int | None = None
    reason: str | None = None
    """What the exchange said caused it (ACCOUNT_UPDATE's ``m``: ORDER, FUNDING_FEE, MARGIN_TRANSFER, ...)."""
    open_trades: tuple[int, ...] = ()
    """Set by a host that holds trades: ids of its open trades on this symbol."""
    note: str = ""
    """What the change means for the host's trades, in words, when the host says."""

    @property
    def symbol(self) -> str | None:
        return self.position.symbol

    @property
    def exchange_symbol(self) -> str:
        return self.position.exchange_symbol


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
    origin: Origin = "external"
    """``self`` when this process (its enforcer, or its host bot's own ``set_leverage``) asked for this value shortly
    before; ``external`` otherwise (the app, another tool). See docs/hooks.md for how it is known."""
    positions: tuple[Position, ...] = ()
    """The symbol's open positions as the exchange reports them after the change, read back over REST (margin in use,
    liquidation price); empty when the symbol has none."""


_new = object.__new__


def stream_leverage_change(
    unit: Unit,
    exchange_symbol: str,
    old: int | None,
    new: int,
    event_time: int,
    transaction_time: int | None,
    symbol: str | None,
) -> LeverageChange:
    """``LeverageChange(unit, exchange_symbol, old, new, "stream", event_time, transaction_time, symbol)`` without
    attrs' ``__init__`` (a third of the cost; the class has no validators, converters or post-init): the book builds
    one per live event. tests/test_book.py checks it against the constructor, field by field."""
    change = _new(LeverageChange)
    fields = change.__dict__
    fields["unit"] = unit
    fields["exchange_symbol"] = exchange_symbol
    fields["old"] = old
    fields["new"] = new
    fields["source"] = "stream"
    fields["event_time"] = event_time
    fields["transaction_time"] = transaction_time
    fields["symbol"] = symbol
    fields["open_trades"] = ()
    fields["note"] = ""
    fields["origin"] = "external"
    fields["positions"] = ()
    return change


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

    ``changes`` is what the snapshot set in the book: on the first one (``source`` ``snapshot``, ``first``) every
    entry it loaded, which is no drift, since nothing was known before; afterwards (``reconcile``) the drift found.
    ``kept_newer`` counts entries where an event received after the snapshot was requested was kept over the
    snapshot's value.
    """

    source: Source
    trigger: str
    """Why it ran: ``"connect"``, ``"interval"``, ``"config_event"``, ``"manual"``."""
    rest_calls: int
    symbols: int
    duration_s: float
    changes: tuple[Change, ...]
    kept_newer: int = 0
    position_changes: tuple[PositionChange, ...] = ()
    """Positions the snapshot found opened, changed or closed differently from what the stream said."""
    positions: int = 0
    """Open positions after the snapshot."""

    @property
    def first(self) -> bool:
        """The first snapshot after start: it fills an empty book (``changes`` are the entries loaded)."""
        return self.source == "snapshot"

    @property
    def drifted(self) -> int:
        """Values and positions this snapshot had to correct; 0 on the first, which had nothing to correct."""
        if self.first:
            return 0
        return len(self.changes) + sum(c.source == "reconcile" for c in self.position_changes)

    @property
    def drift(self) -> bool:
        return self.drifted > 0


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
    followed: int | None = None
    """The last leverage set outside this process (the app, another tool): what ``follow`` adopts. It differs from
    ``exchange`` when this process's own writes changed the exchange since (Freqtrade re-sends a trade's entry
    leverage before its DCA and stoploss orders); None if unknown."""


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
