"""What one fill does to an account: the position (average entry, realized profit, break-even), the isolated margin,
the wallet (realized profit minus commission), the trade and income records, and the order's own figures."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Final

from .events import AccountUpdate, BalanceRow, Event, OrderUpdate, PositionRow, TradeLite
from .model import ZERO, Fill, Income, Order, Position
from .risk import unrealized

if TYPE_CHECKING:
    from ..market.prices import Quote
    from .account import Account
    from .venue import Venue

MAKER_RATE: Final = Decimal("0.0002")
TAKER_RATE: Final = Decimal("0.0005")
"""Binance's regular-user (VIP 0) USDⓈ-M commission rates."""
MONEY: Final = Decimal("0.00000001")


def money(value: Decimal) -> Decimal:
    return value.quantize(MONEY, rounding=ROUND_HALF_UP)


def closing_capacity(account: Account, order: Order) -> Decimal:
    """How much of ``order`` can execute when it must only reduce (reduce-only or close-position)."""
    held = account.position_amount(order.symbol, order.position_side)
    direction = 1 if order.side == "BUY" else -1
    if held == 0 or (held > 0) == (direction > 0):
        return ZERO
    return min(order.remaining, abs(held))


def apply_fill(
    venue: Venue, account: Account, order: Order, qty: Decimal, price: Decimal, maker: bool, quotes: Mapping[str, Quote]
) -> list[Event]:
    """Execute ``qty`` of ``order`` at ``price``; the events of that one transaction, in Binance's order."""
    now = venue.now_ms()
    txn = venue.next_txn()
    position = account.position(order.symbol, order.position_side)
    realized, increased = _move_position(account, position, order, qty, price)
    commission = money(qty * price * (MAKER_RATE if maker else TAKER_RATE))
    _track_fees(position, increased, qty, commission)
    position.update_ms = now
    account.credit(realized - commission, now)
    order.executed_qty += qty
    order.cum_quote += qty * price
    order.realized += realized
    order.status = "FILLED" if order.executed_qty >= order.quantity else "PARTIALLY_FILLED"
    order.update_ms = now
    fill = Fill(
        venue.counters.next_trade(),
        order.order_id,
        order.symbol,
        order.side,
        order.position_side,
        price,
        qty,
        money(qty * price),
        commission,
        account.margin_asset,
        realized,
        maker,
        now,
    )
    account.trades.append(fill)
    asset = account.margin_asset
    if realized:
        account.income.append(
            Income(
                venue.counters.next_income(),
                order.symbol,
                "REALIZED_PNL",
                realized,
                asset,
                now,
                trade_id=str(fill.trade_id),
            )
        )
    account.income.append(
        Income(
            venue.counters.next_income(),
            order.symbol,
            "COMMISSION",
            -commission,
            asset,
            now,
            trade_id=str(fill.trade_id),
        )
    )
    if not order.is_open:
        account.order_closed(order)
    unit = account.contracts[order.symbol].unit
    mark = quotes[order.symbol].mark
    return [
        TradeLite(account.kind, txn, order.snapshot(), fill),
        AccountUpdate(
            account.kind, txn, unit, "ORDER", (balance_row(account),), (position_row(account, position, mark),)
        ),
        OrderUpdate(account.kind, txn, order.snapshot(), "TRADE", unit, fill, *open_notional(account, order.symbol)),
    ]


def _move_position(
    account: Account, position: Position, order: Order, qty: Decimal, price: Decimal
) -> tuple[Decimal, Decimal]:
    """Update amount, entry and isolated margin; returns (realized profit, quantity added to the position)."""
    held = position.amount
    signed = qty if order.side == "BUY" else -qty
    leverage = account.leverage[order.symbol]
    isolated = account.isolated(order.symbol)
    if held == 0 or (held > 0) == (signed > 0):
        size = abs(held) + qty
        position.entry_price = (abs(held) * position.entry_price + qty * price) / size
        position.amount = held + signed
        if isolated:
            position.isolated_wallet += money(qty * price / leverage)
        return ZERO, qty
    closed = min(qty, abs(held))
    realized = money(closed * (price - position.entry_price) * (1 if held > 0 else -1))
    if isolated:
        released = position.isolated_wallet * closed / abs(held)
        position.isolated_wallet = money(position.isolated_wallet - released)
    position.realized += realized
    rest = qty - closed
    position.amount = held + (closed if signed > 0 else -closed)
    if position.amount == 0:
        position.entry_price = ZERO
        position.isolated_wallet = ZERO
    if rest > 0:  # one-way mode: the order flipped the position; the rest opens the other side at this price
        position.amount = rest if signed > 0 else -rest
        position.entry_price = price
        if isolated:
            position.isolated_wallet = money(rest * price / leverage)
        return realized, rest
    return realized, ZERO


def _track_fees(position: Position, increased: Decimal, qty: Decimal, commission: Decimal) -> None:
    """Break-even price: the entry moved by the opening commission per unit (what Binance's figures show: a long
    opened with a taker fill has ``bep = ep x (1 + 0.0005)``); exits release their share of it."""
    size = abs(position.amount)
    if size == 0:
        position.fees_paid = ZERO
        position.break_even = ZERO
        return
    if increased == qty:
        position.fees_paid += commission
    elif increased:  # a flip: only the opening part's share of the commission belongs to the new position
        position.fees_paid = commission * increased / qty
    else:
        position.fees_paid = position.fees_paid * size / (size + qty)
    per_unit = position.fees_paid / size
    position.break_even = money(
        position.entry_price + per_unit if position.amount > 0 else position.entry_price - per_unit
    )


def balance_row(account: Account, change: Decimal = ZERO) -> BalanceRow:
    return BalanceRow(
        account.margin_asset, money(account.wallet_balance()), money(account.cross_wallet()), money(change)
    )


def position_row(account: Account, position: Position, mark: Decimal) -> PositionRow:
    margin = "isolated" if account.isolated(position.symbol) else "cross"
    return PositionRow(position.snapshot(), money(unrealized(position, mark)), margin)


def open_notional(account: Account, symbol: str) -> tuple[Decimal, Decimal]:
    """Bid and ask notional of the account's open orders on ``symbol`` (``b`` and ``a`` of ORDER_TRADE_UPDATE)."""
    bids, asks = order_notionals(account, symbol).get(symbol, (ZERO, ZERO))
    return money(bids), money(asks)


def order_notionals(account: Account, symbol: str | None = None) -> dict[str, tuple[Decimal, Decimal]]:
    """Per symbol (only ``symbol`` when given), the bid and ask notional of the account's open orders, unrounded:
    one pass over the orders, however many symbols the caller shows."""
    sums: dict[str, tuple[Decimal, Decimal]] = {}
    for o in account.open_orders.values():
        if symbol is not None and o.symbol != symbol:
            continue
        bids, asks = sums.get(o.symbol, (ZERO, ZERO))
        notional = o.remaining * o.price
        sums[o.symbol] = (bids + notional, asks) if o.side == "BUY" else (bids, asks + notional)
    return sums
