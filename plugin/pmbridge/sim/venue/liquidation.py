"""Risk as prices move: margin calls and liquidation.

USDⓈ-M: an isolated position is liquidated when its mark crosses its liquidation price (its isolated margin no
longer covers maintenance); cross positions together when the cross margin balance no longer covers their
maintenance. Portfolio Margin: every UM position when uniMMR (equity / maintenance) falls to 1.05.

A liquidation (binance_semantics.md §1.1): the open orders it concerns expire (``er`` 5; the whole account's for a
cross or PM liquidation, the symbol's for an isolated one), then each position is closed by a forced IOC order
(client id ``autoclose-...``, type LIQUIDATION on the stream, LIMIT over REST) sent at the bankruptcy price and filled
at the mark, or at the bankruptcy price if the mark has gone past it (the insurance fund takes the position over
there). What is left of the margin behind the positions pays the clearance fee (INSURANCE_CLEAR, negative); a loss
beyond that margin is the insurance fund's (INSURANCE_CLEAR, positive), so an account never ends below zero and an
isolated position never loses more than its isolated wallet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Final

from .events import AccountUpdate, Event, MarginCall, MarginCallRow, OrderUpdate, RiskLevelChange
from .fills import TAKER_RATE, apply_fill, balance_row, money
from .model import ZERO, Income, Order, Position
from .risk import PM_LIQUIDATION_UNIMMR, bankruptcy_price, liquidation_price, maintenance, margins, unrealized

if TYPE_CHECKING:
    from ..market.prices import Quote
    from .account import Account
    from .venue import Venue

MARGIN_CALL_RATIO: Final = Decimal("0.8")
"""Maintenance / margin balance at which USDⓈ-M sends MARGIN_CALL (again only after falling back under 0.7)."""
MARGIN_CALL_RESET: Final = Decimal("0.7")
LIQUIDATION_FEE: Final = Decimal("0.0125")
"""exchangeInfo ``liquidationFee``: the clearance fee rate on the liquidated notional."""
# uniMMR thresholds of the PM risk levels (Binance's PM Pro page), highest first.
PM_LEVELS: Final = ((Decimal("1.5"), "NORMAL"), (Decimal("1.2"), "MARGIN_CALL"), (Decimal("1.05"), "REDUCE_ONLY"))
CROSS: Final = "cross"
"""The key of the cross positions' margin call in ``Account.margin_calls`` (isolated ones use (symbol, side))."""


@dataclass(frozen=True, slots=True)
class _Closed:
    position: Position
    order: Order
    margin: Decimal
    """The isolated wallet behind the position before the close (cross: unused)."""


class Liquidations:
    def __init__(self, venue: Venue) -> None:
        self.venue = venue

    def check(self, account: Account, quotes: Mapping[str, Quote]) -> list[Event]:
        positions = [p for p in account.open_positions() if account.contracts[p.symbol].unit == "UM"]
        if not positions or account.liquidating or any(p.symbol not in quotes for p in positions):
            return []
        if account.kind == "pm":
            return self._check_portfolio(account, quotes)
        events: list[Event] = []
        for p in positions:
            if account.isolated(p.symbol):
                events += self._check_isolated(account, p, quotes)
        cross = [p for p in account.open_positions() if not account.isolated(p.symbol)]
        if not cross:
            account.margin_calls.discard(CROSS)
            return events
        figures = margins(account, quotes)
        balance = figures.cross_wallet + figures.cross_unrealized
        if figures.cross_maintenance > 0 and balance <= figures.cross_maintenance:
            return events + self._liquidate(account, cross, quotes, whole_account=True)
        ratio = figures.cross_maintenance / balance if balance > 0 else Decimal(1)
        return events + self._margin_call(account, CROSS, ratio, cross, quotes, figures.cross_wallet)

    def _check_isolated(self, account: Account, p: Position, quotes: Mapping[str, Quote]) -> list[Event]:
        price = liquidation_price(account, p.symbol, p.side, quotes)
        mark = quotes[p.symbol].mark
        if price and ((p.amount > 0 and mark <= price) or (p.amount < 0 and mark >= price)):
            account.margin_calls.discard((p.symbol, p.side))
            return self._liquidate(account, [p], quotes, whole_account=False)
        balance = p.isolated_wallet + unrealized(p, mark)
        mm = maintenance(account.contracts[p.symbol], p.amount * mark)[0]
        ratio = mm / balance if balance > 0 else Decimal(1)
        return self._margin_call(account, (p.symbol, p.side), ratio, [p], quotes, None)

    def _check_portfolio(self, account: Account, quotes: Mapping[str, Quote]) -> list[Event]:
        figures = margins(account, quotes)
        uni = figures.uni_mmr
        if uni is None:
            return []
        level = next((name for threshold, name in PM_LEVELS if uni > threshold), "FORCE_LIQUIDATION")
        events: list[Event] = []
        if level != account.risk_level:
            account.risk_level = level
            txn = self.venue.next_txn()
            equity, mm = money(figures.equity), money(figures.maintenance)
            events.append(RiskLevelChange(account.kind, txn, money(uni), level, equity, mm))
        if uni <= PM_LIQUIDATION_UNIMMR:
            positions = [p for p in account.open_positions() if account.contracts[p.symbol].unit == "UM"]
            events += self._liquidate(account, positions, quotes, whole_account=True)
            account.risk_level = "NORMAL"  # nothing is left at risk: /papi/v1/account must not stay in liquidation
        return events

    def _margin_call(
        self,
        account: Account,
        key: object,
        ratio: Decimal,
        positions: list[Position],
        quotes: Mapping[str, Quote],
        cross_wallet: Decimal | None,
    ) -> list[Event]:
        """MARGIN_CALL once when the margin ratio reaches 80% (binance_semantics.md §1.2), re-armed under 70%:
        cross names every cross position and the cross wallet, isolated only its own position and no ``cw``."""
        if ratio < MARGIN_CALL_RESET:
            account.margin_calls.discard(key)
        if ratio < MARGIN_CALL_RATIO or key in account.margin_calls:
            return []
        account.margin_calls.add(key)
        rows = []
        for p in positions:
            mark = quotes[p.symbol].mark
            mm = maintenance(account.contracts[p.symbol], p.amount * mark)[0]
            margin = "ISOLATED" if account.isolated(p.symbol) else "CROSSED"
            rows.append(
                MarginCallRow(p.snapshot(), margin, p.isolated_wallet, mark, money(unrealized(p, mark)), money(mm))
            )
        wallet = None if cross_wallet is None else money(cross_wallet)
        return [MarginCall(account.kind, self.venue.next_txn(), wallet, tuple(rows))]

    # -- liquidation ---------------------------------------------------------------------------------------------
    def _liquidate(
        self, account: Account, positions: list[Position], quotes: Mapping[str, Quote], *, whole_account: bool
    ) -> list[Event]:
        venue = self.venue
        symbols = {p.symbol for p in positions}
        account.liquidating = True
        events: list[Event] = []
        try:
            for order in sorted(account.open_orders.values(), key=lambda o: o.order_id):
                if whole_account or order.symbol in symbols:
                    events += venue.matcher.finish(account, order, "EXPIRED", reason=5)
            for algo in account.open_algos_of():
                if whole_account or algo.symbol in symbols:
                    events.append(venue.matcher.algo_status(account, algo, "EXPIRED"))
            closed: list[_Closed] = []
            for p in positions:
                margin = p.isolated_wallet
                order, fill_events = self._force_close(account, p, quotes)
                events += fill_events
                closed.append(_Closed(p, order, margin))
            events += self._clear(account, closed, whole_account)
        finally:
            account.liquidating = False
            if whole_account:
                account.margin_calls.discard(CROSS)
        return events

    def _force_close(self, account: Account, p: Position, quotes: Mapping[str, Quote]) -> tuple[Order, list[Event]]:
        venue = self.venue
        now = venue.now_ms()
        tick = account.contracts[p.symbol].filters.tick
        selling = p.amount > 0
        mark = quotes[p.symbol].mark.quantize(tick)
        # The bankruptcy price on the tick grid, rounded so the loss stays within the margin; none (a long whose
        # margin covers any fall): the order goes out at the mark.
        bankrupt = bankruptcy_price(account, p.symbol, p.side, quotes)
        limit = bankrupt.quantize(tick, ROUND_CEILING if selling else ROUND_FLOOR) if bankrupt else mark
        price = max(mark, limit) if selling else min(mark, limit)
        qty = abs(p.amount)
        order = Order(
            venue.counters.next_order(),
            f"autoclose-{now}{venue.counters.next_forced():06d}",
            p.symbol,
            "SELL" if selling else "BUY",
            p.side,
            "LIQUIDATION",
            "IOC",
            qty,
            limit,
            False,
            now,
            source="liquidation",
        )
        account.add_order(order)
        events: list[Event] = [venue.matcher.order_update(account, order, "NEW")]
        # The forced order's fill is a liquidation execution: CALCULATED, not TRADE.
        events += [
            OrderUpdate(e.account, e.txn, e.order, "CALCULATED", e.unit, e.fill, e.bid_notional, e.ask_notional)
            if isinstance(e, OrderUpdate)
            else e
            for e in apply_fill(venue, account, order, qty, price, False, quotes)
        ]
        return order, events

    def _clear(self, account: Account, closed: list[_Closed], whole_account: bool) -> list[Event]:
        """The clearance fee from what is left of the margin, then the insurance fund covers any shortfall.

        Isolated: the margin is the position's isolated wallet, less its realized loss and the forced fill's
        commission. Cross and PM: what is left once every position is closed, shared out in closing order.
        """
        now = self.venue.now_ms()
        events: list[Event] = []
        left = max(_margin_left(account), ZERO)
        for c in closed:
            fee = money(c.order.cum_quote * LIQUIDATION_FEE)
            if whole_account:
                clearance = min(fee, left)
                left -= clearance
            else:
                remaining = c.margin + c.order.realized - money(c.order.cum_quote * TAKER_RATE)
                clearance = min(fee, max(remaining, ZERO))
                if remaining < 0:
                    events += self._insurance(account, c.position.symbol, -remaining, now)
            if clearance:
                events += self._insurance(account, c.position.symbol, -clearance, now)
        shortfall = _margin_left(account)
        if whole_account and shortfall < 0:  # a bankrupt account: the insurance fund brings it back to zero
            events += self._insurance(account, closed[-1].position.symbol, -shortfall, now)
        return events

    def _insurance(self, account: Account, symbol: str, amount: Decimal, now: int) -> list[Event]:
        venue = self.venue
        account.credit(amount, now)
        asset = account.margin_asset
        account.income.append(
            Income(venue.counters.next_income(), symbol, "INSURANCE_CLEAR", amount, asset, now, info="INSURANCE_CLEAR")
        )
        txn = venue.next_txn()
        return [AccountUpdate(account.kind, txn, "UM", "INSURANCE_CLEAR", (balance_row(account, amount),), ())]


def _margin_left(account: Account) -> Decimal:
    """What backs the cross positions: the cross wallet (wallet less isolated wallets); PM: collateral + UM wallet."""
    if account.kind == "pm":
        return account.collateral_balance() + account.wallet_balance()
    return account.cross_wallet()
