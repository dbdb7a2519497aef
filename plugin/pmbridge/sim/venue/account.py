"""One simulated account: its type and credentials, configuration, wallets, positions, orders, fills and income."""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Final, Literal

from ..errors import BinanceError
from ..market.catalogue import Catalogue, Contract, Unit
from .model import ZERO, AlgoOrder, Fill, Income, Order, Position, PositionSide

AccountType = Literal["pm", "usdm", "coinm"]
ACCOUNT_TYPES: Final[tuple[AccountType, ...]] = ("pm", "usdm", "coinm")
UNITS: Final[dict[AccountType, tuple[Unit, ...]]] = {"pm": ("UM", "CM"), "usdm": ("UM",), "coinm": ("CM",)}
DEFAULT_LEVERAGE: Final = 20
DEFAULT_BALANCE: Final = Decimal(10_000)
CLOSED_ORDERS_KEPT: Final = 10_000
"""Filled, canceled and expired orders kept queryable per account; past it the oldest are forgotten."""
RECORDS_KEPT: Final = 50_000


class Account:
    """State only; every rule that changes it lives in the venue.

    ``wallet`` is the futures wallet (USDⓈ-M: the account's; Portfolio Margin: the UM wallet, which holds realized
    profit, fees and funding). ``collateral`` is a Portfolio Margin account's margin (cross-margin) balance, where
    deposits sit; futures accounts have none.
    """

    def __init__(self, kind: AccountType, api_key: str, api_secret: str, catalogue: Catalogue) -> None:
        self.kind: AccountType = kind
        self.api_key = api_key
        self.api_secret = api_secret
        self.units = UNITS[kind]
        self.contracts: dict[str, Contract] = {s: c for s, c in catalogue.contracts.items() if c.unit in self.units}
        self.leverage: dict[str, int] = dict.fromkeys(self.contracts, DEFAULT_LEVERAGE)
        self.margin_type: dict[str, str] = dict.fromkeys(self.contracts, "CROSSED")
        self.multi_assets = False
        self.dual_side = False
        margin_asset = "BTC" if kind == "coinm" else "USDT"
        funded = Decimal(1) if kind == "coinm" else DEFAULT_BALANCE
        self.wallet: dict[str, Decimal] = {margin_asset: ZERO if kind == "pm" else funded}
        self.collateral: dict[str, Decimal] = {"USDT": funded} if kind == "pm" else {}
        self.balance_updated_ms: dict[str, int] = {}
        self.positions: dict[tuple[str, PositionSide], Position] = {}
        self.orders: dict[int, Order] = {}
        self.open_orders: dict[int, Order] = {}
        self.closed_order_ids: deque[int] = deque()
        self.algos: dict[int, AlgoOrder] = {}
        self.trades: deque[Fill] = deque(maxlen=RECORDS_KEPT)
        self.income: deque[Income] = deque(maxlen=RECORDS_KEPT)
        self.liquidating = False
        self.margin_calls: set[object] = set()
        """What has had its MARGIN_CALL and not yet recovered: "cross", or an isolated (symbol, side)."""
        self.risk_level = "NORMAL"

    # -- look-ups ------------------------------------------------------------------------------------------------
    def contract(self, symbol: str | None, unit: Unit | None = None) -> Contract:
        found = self.contracts.get(symbol or "")
        if found is None or (unit is not None and found.unit != unit):
            raise BinanceError(-1121)
        return found

    def isolated(self, symbol: str) -> bool:
        return self.margin_type.get(symbol) == "ISOLATED"

    def position_sides(self) -> tuple[PositionSide, ...]:
        return ("LONG", "SHORT") if self.dual_side else ("BOTH",)

    def position(self, symbol: str, side: PositionSide) -> Position:
        found = self.positions.get((symbol, side))
        if found is None:
            contract = self.contracts[symbol]
            found = self.positions[(symbol, side)] = Position(symbol, side, contract.margin_asset)
        return found

    def position_or_empty(self, symbol: str, side: PositionSide) -> Position:
        """The stored row, or an empty one left unstored: what a read shows without adding to ``positions``."""
        found = self.positions.get((symbol, side))
        return found if found is not None else Position(symbol, side, self.contracts[symbol].margin_asset)

    def position_amount(self, symbol: str, side: PositionSide) -> Decimal:
        found = self.positions.get((symbol, side))
        return found.amount if found is not None else ZERO

    def open_positions(self) -> list[Position]:
        return [p for p in self.positions.values() if p.amount != 0]

    def symbol_positions(self, symbol: str) -> list[Position]:
        """Every row of ``symbol`` in the current position mode (created empty if need be)."""
        return [self.position(symbol, side) for side in self.position_sides()]

    def open_orders_of(self, symbol: str) -> list[Order]:
        return [o for o in self.open_orders.values() if o.symbol == symbol]

    def open_algos_of(self, symbol: str | None = None) -> list[AlgoOrder]:
        return [a for a in self.algos.values() if a.is_open and (symbol is None or a.symbol == symbol)]

    def order(self, symbol: str | None, order_id: int | None, client_id: str | None) -> Order:
        """An order by id or client id, as ``GET /order`` finds it; -2013 when unknown."""
        if order_id is not None:
            found = self.orders.get(order_id)
        else:
            found = next(
                (o for o in reversed(self.orders.values()) if o.client_order_id == client_id and client_id), None
            )
        if found is None or (symbol and found.symbol != symbol):
            raise BinanceError(-2013)
        return found

    def algo(self, algo_id: int | None, client_id: str | None) -> AlgoOrder:
        if algo_id is not None:
            found = self.algos.get(algo_id)
        else:
            found = next(
                (a for a in reversed(self.algos.values()) if a.client_algo_id == client_id and client_id), None
            )
        if found is None:
            raise BinanceError(-2013)
        return found

    # -- money ---------------------------------------------------------------------------------------------------
    @property
    def margin_asset(self) -> str:
        return next(iter(self.wallet))

    def wallet_balance(self) -> Decimal:
        return self.wallet[self.margin_asset]

    def collateral_balance(self) -> Decimal:
        return sum(self.collateral.values(), ZERO)

    def cross_wallet(self) -> Decimal:
        """The wallet less the isolated positions' wallets: what backs the cross positions."""
        isolated = sum((p.isolated_wallet for p in self.open_positions() if self.isolated(p.symbol)), ZERO)
        return self.wallet_balance() - isolated

    def credit(self, amount: Decimal, now_ms: int, asset: str | None = None) -> None:
        asset = asset or self.margin_asset
        self.wallet[asset] = self.wallet.get(asset, ZERO) + amount
        self.balance_updated_ms[asset] = now_ms

    # -- bookkeeping ---------------------------------------------------------------------------------------------
    def add_order(self, order: Order) -> None:
        self.orders[order.order_id] = order
        if order.is_open:
            self.open_orders[order.order_id] = order

    def order_closed(self, order: Order) -> None:
        """``order`` reached a final status: it leaves the open set and stays queryable for a while."""
        self.open_orders.pop(order.order_id, None)
        self.closed_order_ids.append(order.order_id)
        while len(self.closed_order_ids) > CLOSED_ORDERS_KEPT:
            self.orders.pop(self.closed_order_ids.popleft(), None)
