"""Typed order requests and the checks Binance makes before an order reaches the matching engine.

The REST layer turns form parameters into these (rejecting malformed ones itself); the checks here are the exchange's
rules: symbol, position side and mode, filters (precision -1111, tick -4014, step -4023, quantity bounds -4004/-4005,
market lot -1013, price bounds -4013/-4002, percent price -4016/-4024, min notional -4164), client ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from ..errors import BinanceError
from ..market.catalogue import Contract
from .account import Account
from .model import CONDITIONAL_TYPES, PositionSide, Side

ORDER_TYPES: Final = frozenset({"LIMIT", "MARKET"})
TIME_IN_FORCE: Final = frozenset({"GTC", "IOC", "FOK", "GTX", "GTD"})
WORKING_TYPES: Final = frozenset({"MARK_PRICE", "CONTRACT_PRICE"})
MAX_CLIENT_ID: Final = 36
PERCENT_PRICE_UP: Final = Decimal("1.05")
PERCENT_PRICE_DOWN: Final = Decimal("0.95")


@dataclass(frozen=True, slots=True)
class OrderRequest:
    symbol: str
    side: Side
    type: str
    quantity: Decimal | None = None
    price: Decimal | None = None
    time_in_force: str | None = None
    position_side: str | None = None
    reduce_only: bool | None = None
    """None: not sent (Binance distinguishes "false" from absent in hedge mode)."""
    client_order_id: str | None = None
    good_till_date: int | None = None
    self_trade_prevention: str | None = None
    price_match: str | None = None


@dataclass(frozen=True, slots=True)
class AlgoRequest:
    symbol: str
    side: Side
    type: str
    quantity: Decimal | None = None
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    time_in_force: str | None = None
    working_type: str | None = None
    position_side: str | None = None
    reduce_only: bool | None = None
    close_position: bool = False
    price_protect: bool = False
    activate_price: Decimal | None = None
    callback_rate: Decimal | None = None
    client_algo_id: str | None = None
    good_till_date: int | None = None
    self_trade_prevention: str | None = None
    price_match: str | None = None


def position_side(account: Account, requested: str | None, reduce_only: bool | None) -> PositionSide:
    """The row an order works on: BOTH in one-way mode; LONG or SHORT (required) in hedge mode."""
    if account.dual_side:
        if requested not in ("LONG", "SHORT"):
            raise BinanceError(-4061, "Order's position side does not match user's setting.")
        if reduce_only is not None:
            raise BinanceError(-1106, "Parameter 'reduceonly' sent when not required.")
        return "LONG" if requested == "LONG" else "SHORT"
    if requested not in (None, "BOTH"):
        raise BinanceError(-4061, "Order's position side does not match user's setting.")
    return "BOTH"


def check_quantity(contract: Contract, quantity: Decimal | None, market: bool) -> Decimal:
    if quantity is None:
        raise BinanceError(-1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.")
    f = contract.filters
    if quantity <= 0:
        raise BinanceError(-4003, "Quantity less than or equal to zero.")
    if _decimals(quantity) > f.qty_decimals:
        raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
    if quantity % f.step:
        raise BinanceError(-4023, "Qty not increased by step size.")
    if quantity < f.min_qty:
        raise BinanceError(-4004, "Quantity less than min quantity.")
    if quantity > f.max_qty:
        raise BinanceError(-4005, "Quantity greater than max quantity.")
    if market and quantity > f.market_max_qty:
        raise BinanceError(-1013, "Filter failure: MARKET_LOT_SIZE")
    return quantity


def check_price(contract: Contract, price: Decimal | None, name: str = "price") -> Decimal:
    if price is None:
        raise BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
    f = contract.filters
    if price <= 0:
        raise BinanceError(-4013, "Price less than min price.")
    if _decimals(price) > f.price_decimals:
        raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
    if price % f.tick:
        raise BinanceError(-4014, "Price not increased by tick size.")
    if price < f.min_price:
        raise BinanceError(-4013, "Price less than min price.")
    if price > f.max_price:
        raise BinanceError(-4002, "Price greater than max price.")
    return price


def check_percent_price(price: Decimal, mark: Decimal, side: Side) -> None:
    """PERCENT_PRICE: a buy may not bid over 105% of the mark, a sell may not ask under 95% of it."""
    if side == "BUY" and price > mark * PERCENT_PRICE_UP:
        raise BinanceError(-4016, f"Limit price can't be higher than {mark * PERCENT_PRICE_UP:.2f}.")
    if side == "SELL" and price < mark * PERCENT_PRICE_DOWN:
        raise BinanceError(-4024, f"Limit price can't be lower than {mark * PERCENT_PRICE_DOWN:.2f}.")


def check_min_notional(contract: Contract, quantity: Decimal, price: Decimal, reduce_only: bool) -> None:
    minimum = contract.filters.min_notional
    if contract.unit == "UM" and not reduce_only and quantity * price < minimum:
        raise BinanceError(
            -4164, f"Order's notional must be no smaller than {minimum:f} (unless you choose reduce only)."
        )


def check_client_id(account: Account, client_id: str | None, algo: bool = False) -> None:
    if client_id is None:
        return
    if not 1 <= len(client_id) <= MAX_CLIENT_ID or not all(c.isalnum() or c in ".:/_-" for c in client_id):
        raise BinanceError(-4015, "Client order id is not valid.")
    taken = (
        any(a.client_algo_id == client_id for a in account.open_algos_of())
        if algo
        else any(o.client_order_id == client_id for o in account.open_orders.values())
    )
    if taken:
        raise BinanceError(-4116, "ClientOrderId is duplicated.")


def check_order_type(order_type: str, portfolio_margin: bool = False) -> None:
    """LIMIT and MARKET only. A conditional type is -4120 on fapi (moved to the algo endpoints on 2025-12-09); papi's
    ``/um/order`` never took one (its SDK enum is LIMIT, MARKET) and no source shows -4120 there: -1116
    (binance_semantics.md §3)."""
    if order_type in CONDITIONAL_TYPES and not portfolio_margin:
        raise BinanceError(
            -4120, "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead."
        )
    if order_type not in ORDER_TYPES:
        raise BinanceError(-1116, "Invalid orderType.")


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0
