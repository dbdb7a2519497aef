"""What the venue tells the world: one event per user-stream frame, in the order Binance sends them.

Events carry copies of the records as they were at that moment, and the figures the stream needs (unrealized profit
at the mark, margin type). They know nothing of the wire: the stream renders each for the receiving account's type
(``fs`` on Portfolio Margin, ``mt``/``iw`` on USDⓈ-M, TRADE_LITE only on USDⓈ-M, ...). ``txn`` groups the events of
one matching-engine transaction (a fill, a trigger): they share the transaction time ``T``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..market.catalogue import Unit
from .account import AccountType
from .model import AlgoOrder, Fill, Order, Position


@dataclass(frozen=True, slots=True)
class Event:
    account: AccountType
    txn: int


@dataclass(frozen=True, slots=True)
class ConfigUpdate(Event):
    """ACCOUNT_CONFIG_UPDATE: a symbol's leverage (``ac``) or the multi-assets flag (``ai``)."""

    unit: Unit
    symbol: str | None = None
    leverage: int | None = None
    multi_assets: bool | None = None


@dataclass(frozen=True, slots=True)
class OrderUpdate(Event):
    """ORDER_TRADE_UPDATE: ``execution`` is NEW, TRADE, CANCELED, EXPIRED, CALCULATED (liquidation) or AMENDMENT."""

    order: Order
    execution: str
    unit: Unit
    fill: Fill | None = None
    bid_notional: Decimal = Decimal(0)
    ask_notional: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class TradeLite(Event):
    """TRADE_LITE, the fast fill notice USDⓈ-M sends before ORDER_TRADE_UPDATE (the stream drops it elsewhere)."""

    order: Order
    fill: Fill


@dataclass(frozen=True, slots=True)
class BalanceRow:
    asset: str
    wallet: Decimal
    cross_wallet: Decimal
    change: Decimal
    """Balance change except PnL and commission (``bc``): deposits, transfers, funding."""


@dataclass(frozen=True, slots=True)
class PositionRow:
    position: Position
    unrealized: Decimal
    margin_type: str
    """``cross`` or ``isolated``, as ACCOUNT_UPDATE spells it."""


@dataclass(frozen=True, slots=True)
class AccountUpdate(Event):
    """ACCOUNT_UPDATE: ``reason`` is ORDER, FUNDING_FEE, MARGIN_TYPE_CHANGE, MARGIN_TRANSFER, DEPOSIT, ..."""

    unit: Unit
    reason: str
    balances: tuple[BalanceRow, ...]
    positions: tuple[PositionRow, ...]
    symbol: str | None = None
    """The symbol of a funding settlement (USDⓈ-M's ``a.S``)."""


@dataclass(frozen=True, slots=True)
class AlgoUpdate(Event):
    """ALGO_UPDATE: a conditional order's new status (NEW, TRIGGERING, TRIGGERED, FINISHED, CANCELED, EXPIRED...)."""

    algo: AlgoOrder
    unit: Unit
    executed_qty: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    actual_type: str = ""


@dataclass(frozen=True, slots=True)
class MarginCallRow:
    position: Position
    margin_type: str
    isolated_wallet: Decimal
    mark: Decimal
    unrealized: Decimal
    maintenance: Decimal


@dataclass(frozen=True, slots=True)
class MarginCall(Event):
    """MARGIN_CALL (USDⓈ-M): the positions at risk; ``cross_wallet`` only when cross positions are among them."""

    cross_wallet: Decimal | None
    rows: tuple[MarginCallRow, ...]


@dataclass(frozen=True, slots=True)
class RiskLevelChange(Event):
    """riskLevelChange (Portfolio Margin): the account's uniMMR crossed a threshold."""

    uni_mmr: Decimal
    level: str
    equity: Decimal
    maintenance: Decimal
