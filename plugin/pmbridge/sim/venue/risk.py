"""Margin arithmetic: maintenance from the leverage brackets, initial margin, available balance, whether an order
fits (its cost, the bracket cap), liquidation and bankruptcy prices.

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
from .model import ZERO, Order, Position

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


def order_initial_margin(account: Account, quotes: Mapping[str, Quote], symbol: str | None = None) -> Decimal:
    """Initial margin held by open orders (only ``symbol``'s when given): notional / leverage plus open loss,
    reduce-only orders excepted, and a one-way order that only closes part of the position needs none for that part."""
    total = ZERO
    for order in account.open_orders.values():
        if order.reduce_only or order.close_position or order.symbol not in quotes:
            continue
        if symbol is not None and order.symbol != symbol:
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
    cross_wallet = account.cross_wallet()
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


def can_afford(account: Account, order: Order, quotes: Mapping[str, Quote]) -> bool:
    """Whether the available balance covers ``order``'s cost (FAQ "cost required to open a position", reference §5.3):
    initial margin plus open loss; the part of a one-way order that closes the position costs nothing."""
    quote = quotes[order.symbol]
    qty = order.remaining
    held = account.position_amount(order.symbol, order.position_side)
    if order.position_side == "BOTH" and held and (held > 0) != (order.side == "BUY"):
        qty = max(ZERO, qty - abs(held))
    if qty <= 0:
        return True
    if order.type == "LIMIT":
        price = order.price
        direction = 1 if order.side == "BUY" else -1
        open_loss = qty * abs(min(ZERO, direction * (quote.mark - price)))
    else:
        price = quote.ask if order.side == "BUY" else max(quote.last * Decimal("1.0015"), quote.mark)
        open_loss = ZERO
    cost = qty * price / account.leverage[order.symbol] + open_loss
    return margins(account, quotes).available >= cost


def over_leverage_cap(account: Account, order: Order, mark: Decimal) -> bool:
    """Whether the position ``order`` would leave, with the symbol's other open orders, passes the notional cap of the
    leverage's bracket (-2027, on placement as on a leverage change: reference §1.2, §6.5). An order that only
    shrinks the position never does."""
    held = account.position_amount(order.symbol, order.position_side)
    after = held + (order.remaining if order.side == "BUY" else -order.remaining)
    if abs(after) <= abs(held):
        return False
    others = account.open_orders_of(order.symbol)
    exposure = abs(after) * (order.price or mark)
    exposure += sum((o.remaining * (o.price or mark) for o in others if not o.reduce_only), ZERO)
    return exposure > Decimal(account.contracts[order.symbol].cap_for(account.leverage[order.symbol]))


def liquidation_price(
    account: Account, symbol: str, side: str, quotes: Mapping[str, Quote], figures: Margins | None = None
) -> Decimal:
    """The mark at which ``symbol`` (``side``'s row when isolated) is liquidated, others unchanged; 0 when none.
    ``figures``: the account's ``margins()`` now, when the caller prices many rows (else computed here)."""
    found = _margin_behind(account, symbol, side, quotes, figures)
    if found is None:
        return ZERO
    rows, base, other_mm, other_upnl, k = found
    contract = account.contracts[symbol]
    size = sum((abs(p.amount) for p in rows), ZERO)
    # Try each bracket: the answer is the price whose notional falls in the bracket it was computed with.
    fallback: Decimal | None = None
    for bracket in contract.brackets:
        rate, cum = Decimal(str(bracket["maintMarginRatio"])), Decimal(str(bracket["cum"]))
        price = _solve(rows, base - k * other_mm + other_upnl, k * rate, k * cum)
        if price is None:
            continue
        if fallback is None:
            fallback = price
        if bracket["notionalFloor"] <= size * price < bracket["notionalCap"]:
            return _sane(price)
    current = contract.bracket(size * quotes[symbol].mark)
    rate, cum = Decimal(str(current["maintMarginRatio"])), Decimal(str(current["cum"]))
    price = _solve(rows, base - k * other_mm + other_upnl, k * rate, k * cum)
    return _sane(price if price is not None else fallback)


def bankruptcy_price(
    account: Account, symbol: str, side: str, quotes: Mapping[str, Quote], figures: Margins | None = None
) -> Decimal:
    """The mark at which the margin behind ``symbol`` is used up (the liquidation formula with no maintenance): the
    price a forced close is sent at, the worst it may fill at. 0 when none."""
    found = _margin_behind(account, symbol, side, quotes, figures)
    if found is None:
        return ZERO
    rows, base, _, other_upnl, _ = found
    return _sane(_solve(rows, base + other_upnl, ZERO, ZERO))


def _margin_behind(
    account: Account, symbol: str, side: str, quotes: Mapping[str, Quote], figures: Margins | None = None
) -> tuple[list[Position], Decimal, Decimal, Decimal, Decimal] | None:
    """Binance's terms for ``symbol``'s rows: (rows, WB, TMM1, UPNL1, k). WB is the isolated wallet, the cross
    wallet, or a PM account's collateral plus UM wallet; TMM1 and UPNL1 are the other cross positions' maintenance
    and unrealized profit at their marks; k scales maintenance (PM liquidates at uniMMR 1.05, futures at 1)."""
    isolated = account.isolated(symbol)
    rows = [
        p
        for s in ("BOTH", "LONG", "SHORT")
        if (p := account.positions.get((symbol, s))) is not None and p.amount and (not isolated or s == side)
    ]
    if not rows:
        return None
    k = PM_LIQUIDATION_UNIMMR if account.kind == "pm" else Decimal(1)
    if isolated:
        return rows, rows[0].isolated_wallet, ZERO, ZERO, k
    contract = account.contracts[symbol]
    mark = quotes[symbol].mark
    figures = margins(account, quotes) if figures is None else figures
    own_mm = sum((maintenance(contract, p.amount * mark)[0] for p in rows), ZERO)
    own_upnl = sum((unrealized(p, mark) for p in rows), ZERO)
    pm = account.kind == "pm"
    base = figures.equity - figures.unrealized if pm else figures.cross_wallet
    other_mm = (figures.maintenance if pm else figures.cross_maintenance) - own_mm
    other_upnl = (figures.unrealized if pm else figures.cross_unrealized) - own_upnl
    return rows, base, other_mm, other_upnl, k


def _solve(rows: list[Position], margin: Decimal, rate: Decimal, cum: Decimal) -> Decimal | None:
    """Solve margin + sum(amount x (P - EP)) = sum(|amount| x P x rate - cum) for P (one bracket for every row)."""
    numerator = margin
    denominator = ZERO
    for p in rows:
        # Binance's terms: Side1BOTH x Position1BOTH is the signed amount; LONG/SHORT rows are signed already.
        numerator += cum - p.amount * p.entry_price
        denominator += abs(p.amount) * rate - p.amount
    if denominator == 0:
        return None
    return numerator / denominator


def _sane(price: Decimal | None) -> Decimal:
    """Binance answers 0 when no positive liquidation price exists (e.g. a fully collateralised long)."""
    if price is None or price <= 0:
        return ZERO
    return price.quantize(PRICE_PLACES)
