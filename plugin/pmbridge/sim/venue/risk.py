"""Margin arithmetic: maintenance from the leverage brackets, initial margin, available balance, liquidation price.

Pure functions of an account and the current quotes. The liquidation price is Binance's USDⓈ-M formula (FAQ "How to
calculate liquidation price", also freqtrade/exchange/binance.py): solve margin balance = maintenance margin for the
symbol's mark, the other positions held at their marks. Portfolio Margin liquidates the whole account when
uniMMR = equity / maintenance reaches 1.05, so its price solves equity = 1.05 x maintenance the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from ..market.catalogue import Contract
from .model import ZERO, Position

if TYPE_CHECKING:
    from ..market.prices import Quote
    from .account import Account

PM_LIQUIDATION_UNIMMR: Final = Decimal("1.05")
PRICE_PLACES: Final = Decimal("0.00000001")


def maintenance(contract: Contract, notional: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """(maintenance margin, rate, amount) of a position of |``notional``| in its bracket: MM = notional x rate - cum."""
    size = abs(notional)
    bracket = contract.bracket(size)
    rate, cum = Decimal(str(bracket["maintMarginRatio"])), Decimal(str(bracket["cum"]))
    return max(size * rate - cum, ZERO), rate, cum


def unrealized(position: Position, mark: Decimal) -> Decimal:
    return position.amount * (mark - position.entry_price) if position.amount else ZERO


@dataclass(frozen=True, slots=True)
class Margins:
    """The account's margin picture (UM, in the margin asset). ``available`` is what a new order may use."""

    wallet: Decimal
    cross_wallet: Decimal
    unrealized: Decimal
    cross_unrealized: Decimal
    position_initial: Decimal
    open_order_initial: Decimal
    maintenance: Decimal
    cross_maintenance: Decimal
    equity: Decimal
    """PM: collateral + UM wallet + unrealized; futures: wallet + unrealized (the margin balance)."""
    available: Decimal

    @property
    def initial(self) -> Decimal:
        return self.position_initial + self.open_order_initial

    @property
    def uni_mmr(self) -> Decimal | None:
        return self.equity / self.maintenance if self.maintenance > 0 else None


def order_initial_margin(account: Account, quotes: Mapping[str, Quote]) -> Decimal:
    """Initial margin held by open orders: notional / leverage plus open loss, reduce-only orders excepted, and a
    one-way order that only closes part of the position needs none for that part."""
    total = ZERO
    for order in account.open_orders.values():
        if order.reduce_only or order.close_position or order.symbol not in quotes:
            continue
        qty = order.remaining
        if order.position_side == "BOTH":
            held = account.position_amount(order.symbol, "BOTH")
            closing = min(qty, abs(held)) if (held > 0) == (order.side == "SELL") and held else ZERO
            qty -= closing
        if qty <= 0:
            continue
        mark = quotes[order.symbol].mark
        price = order.price or mark
        direction = 1 if order.side == "BUY" else -1
        open_loss = qty * abs(min(ZERO, direction * (mark - price)))
        total += qty * price / account.leverage[order.symbol] + open_loss
    return total


def margins(account: Account, quotes: Mapping[str, Quote]) -> Margins:
    wallet = account.wallet_balance()
    isolated = sum((p.isolated_wallet for p in account.open_positions() if account.isolated(p.symbol)), ZERO)
    cross_wallet = wallet - isolated
    upnl = cross_upnl = position_im = mm = cross_mm = ZERO
    for p in account.open_positions():
        contract = account.contracts[p.symbol]
        if contract.unit != "UM":
            continue
        mark = quotes[p.symbol].mark
        u = unrealized(p, mark)
        m = maintenance(contract, p.amount * mark)[0]
        upnl += u
        mm += m
        if not account.isolated(p.symbol):
            cross_upnl += u
            cross_mm += m
            position_im += abs(p.amount * mark) / account.leverage[p.symbol]
    order_im = order_initial_margin(account, quotes)
    if account.kind == "pm":
        equity = account.collateral_balance() + wallet + upnl
        available = equity - position_im - order_im
    else:
        equity = wallet + upnl
        available = cross_wallet + cross_upnl - position_im - order_im
    return Margins(wallet, cross_wallet, upnl, cross_upnl, position_im, order_im, mm, cross_mm, equity, available)


def liquidation_price(account: Account, symbol: str, side: str, quotes: Mapping[str, Quote]) -> Decimal:
    """The mark at which ``symbol`` (``side``'s row when isolated) is liquidated, others unchanged; 0 when none."""
    contract = account.contracts[symbol]
    isolated = account.isolated(symbol)
    rows = [p for p in account.open_positions() if p.symbol == symbol and (not isolated or p.side == side)]
    if not rows:
        return ZERO
    k = PM_LIQUIDATION_UNIMMR if account.kind == "pm" else Decimal(1)
    if isolated:
        base, other_mm, other_upnl = rows[0].isolated_wallet, ZERO, ZERO
    else:
        figures = margins(account, quotes)
        own_mm = sum((maintenance(contract, p.amount * quotes[symbol].mark)[0] for p in rows), ZERO)
        own_upnl = sum((unrealized(p, quotes[symbol].mark) for p in rows), ZERO)
        base = figures.equity - figures.unrealized if account.kind == "pm" else figures.cross_wallet
        other_mm = (figures.maintenance if account.kind == "pm" else figures.cross_maintenance) - own_mm
        other_upnl = (figures.unrealized if account.kind == "pm" else figures.cross_unrealized) - own_upnl
    mark = quotes[symbol].mark
    # Try each bracket: the answer is the price whose notional falls in the bracket it was computed with.
    fallback: Decimal | None = None
    for bracket in contract.brackets:
        price = _solve(rows, base, other_mm, other_upnl, k, bracket)
        if price is None:
            continue
        size = sum((abs(p.amount) for p in rows), ZERO) * price
        if fallback is None:
            fallback = price
        if bracket["notionalFloor"] <= size < bracket["notionalCap"]:
            return _sane(price)
    current = contract.bracket(sum((abs(p.amount) for p in rows), ZERO) * mark)
    price = _solve(rows, base, other_mm, other_upnl, k, current)
    return _sane(price if price is not None else fallback)


def _solve(
    rows: list[Position], base: Decimal, other_mm: Decimal, other_upnl: Decimal, k: Decimal, bracket: dict[str, object]
) -> Decimal | None:
    rate, cum = Decimal(str(bracket["maintMarginRatio"])), Decimal(str(bracket["cum"]))
    numerator = base - k * other_mm + other_upnl
    denominator = ZERO
    for p in rows:
        # Binance's terms: Side1BOTH x Position1BOTH is the signed amount; LONG/SHORT rows are signed already.
        numerator += k * cum - p.amount * p.entry_price
        denominator += k * abs(p.amount) * rate - p.amount
    if denominator == 0:
        return None
    return numerator / denominator


def _sane(price: Decimal | None) -> Decimal:
    """Binance answers 0 when no positive liquidation price exists (e.g. a fully collateralised long)."""
    if price is None or price <= 0:
        return ZERO
    return price.quantize(PRICE_PLACES)
