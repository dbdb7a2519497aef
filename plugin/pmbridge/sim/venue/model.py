"""The trading records of one account: orders, algo (conditional) orders, fills, positions and income.

Plain mutable dataclasses owned by the venue; every event carries a copy taken at the moment it describes. Amounts and
prices are exact decimals, in Binance's units: base asset (UM) or contracts (CM) for quantities, the quote asset for
prices and money.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal

ZERO: Final = Decimal(0)

Side = Literal["BUY", "SELL"]
PositionSide = Literal["BOTH", "LONG", "SHORT"]

OPEN_STATUSES: Final = frozenset({"NEW", "PARTIALLY_FILLED"})
CONDITIONAL_TYPES: Final = frozenset(
    {"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}
)
OPEN_ALGO_STATUSES: Final = frozenset({"NEW", "TRIGGERING"})


@dataclass(slots=True)
class Order:
    order_id: int
    client_order_id: str
    symbol: str
    side: Side
    position_side: PositionSide
    type: str
    """LIMIT or MARKET (LIQUIDATION for a forced close)."""
    time_in_force: str
    quantity: Decimal
    price: Decimal
    reduce_only: bool
    time_ms: int
    orig_type: str = ""
    """The type the user asked for: the conditional type for an order a triggered algo order placed."""
    close_position: bool = False
    stop_price: Decimal = ZERO
    working_type: str = "CONTRACT_PRICE"
    price_protect: bool = False
    self_trade_prevention: str = "EXPIRE_MAKER"
    price_match: str = "NONE"
    good_till_date: int = 0
    status: str = "NEW"
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    update_ms: int = 0
    expiry_reason: int = 0
    realized: Decimal = ZERO
    """Realized profit of this order's fills (``rp``), before commission."""
    source: str = "api"
    """Who placed it: ``api``, ``app`` (the control API), ``algo`` (a triggered conditional order), ``liquidation``."""

    def __post_init__(self) -> None:
        self.orig_type = self.orig_type or self.type
        self.update_ms = self.update_ms or self.time_ms

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.executed_qty

    @property
    def avg_price(self) -> Decimal:
        return self.cum_quote / self.executed_qty if self.executed_qty else ZERO

    def snapshot(self) -> Order:
        return copy.copy(self)


@dataclass(slots=True)
class AlgoOrder:
    algo_id: int
    client_algo_id: str
    order_type: str
    """STOP_MARKET, STOP, TAKE_PROFIT_MARKET, TAKE_PROFIT or TRAILING_STOP_MARKET."""
    symbol: str
    side: Side
    position_side: PositionSide
    quantity: Decimal
    price: Decimal
    trigger_price: Decimal
    time_in_force: str
    working_type: str
    close_position: bool
    price_protect: bool
    reduce_only: bool
    create_ms: int
    activate_price: Decimal = ZERO
    callback_rate: Decimal = ZERO
    self_trade_prevention: str = "EXPIRE_MAKER"
    price_match: str = "NONE"
    good_till_date: int = 0
    status: str = "NEW"
    update_ms: int = 0
    trigger_ms: int = 0
    actual_order_id: int | None = None
    fail_reason: str = ""
    activated: bool = False
    """Trailing stops: whether the activation price has been reached."""
    extreme: Decimal = ZERO
    """Trailing stops: the best price seen since activation (highest for a SELL, lowest for a BUY)."""
    algo_type: str = "CONDITIONAL"

    def __post_init__(self) -> None:
        self.update_ms = self.update_ms or self.create_ms

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_ALGO_STATUSES

    def snapshot(self) -> AlgoOrder:
        return copy.copy(self)


@dataclass(frozen=True, slots=True)
class Fill:
    """One trade of one order (``userTrades`` row)."""

    trade_id: int
    order_id: int
    symbol: str
    side: Side
    position_side: PositionSide
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    realized_pnl: Decimal
    maker: bool
    time_ms: int


@dataclass(slots=True)
class Position:
    symbol: str
    side: PositionSide
    margin_asset: str
    amount: Decimal = ZERO
    """Signed in one-way mode (BOTH); LONG rows are >= 0, SHORT rows <= 0."""
    entry_price: Decimal = ZERO
    break_even: Decimal = ZERO
    realized: Decimal = ZERO
    """Accumulated realized profit (``cr``), before commission."""
    isolated_wallet: Decimal = ZERO
    update_ms: int = 0
    fees_paid: Decimal = ZERO
    """Commission paid on the entries of the open amount (for the break-even price)."""

    @property
    def is_open(self) -> bool:
        return self.amount != 0

    def snapshot(self) -> Position:
        return copy.copy(self)


@dataclass(frozen=True, slots=True)
class Income:
    tran_id: int
    symbol: str
    income_type: str
    """REALIZED_PNL, COMMISSION, FUNDING_FEE, INSURANCE_CLEAR, TRANSFER."""
    income: Decimal
    asset: str
    time_ms: int
    info: str = ""
    trade_id: str = ""


@dataclass(slots=True)
class Counters:
    """Ids shared by every account of the venue, as Binance's are exchange-wide (never reused)."""

    order: int = 4_000_000_000
    algo: int = 3_000_000_000
    trade: int = 500_000_000
    income: int = 9_000_000_000
    client: int = 0
    forced: int = 0

    def next_order(self) -> int:
        self.order += 1
        return self.order

    def next_algo(self) -> int:
        self.algo += 1
        return self.algo

    def next_trade(self) -> int:
        self.trade += 1
        return self.trade

    def next_income(self) -> int:
        self.income += 1
        return self.income

    def next_forced(self) -> int:
        """The sequence in a liquidation order's ``autoclose-<ms><6 digits>`` client id."""
        self.forced += 1
        return self.forced % 1_000_000

    def client_id(self, prefix: str) -> str:
        self.client += 1
        return f"{prefix}{self.client:010d}"
