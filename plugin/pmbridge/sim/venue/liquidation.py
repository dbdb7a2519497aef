"""Risk over time: funding every 8 h of the simulated clock, margin calls, and liquidation.

USDⓈ-M: an isolated position is liquidated when its mark crosses its liquidation price (its isolated margin no
longer covers maintenance); cross positions together when the cross margin balance no longer covers their
maintenance. Portfolio Margin: every UM position when uniMMR (equity / maintenance) falls to 1.05. A liquidation is a
forced MARKET close at the mark (client id ``autoclose-...``, type LIQUIDATION); what is left of the margin it used
goes to the insurance fund (INSURANCE_CLEAR).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from ..market.prices import FUNDING_INTERVAL_MS
from .events import AccountUpdate, Event, MarginCall, MarginCallRow, OrderUpdate, RiskLevelChange
from .fills import apply_fill, balance_row, money, position_row
from .model import ZERO, Income, Order, Position
from .risk import PM_LIQUIDATION_UNIMMR, liquidation_price, maintenance, margins, unrealized

if TYPE_CHECKING:
    from ..market.prices import Quote
    from .account import Account
    from .venue import Venue

MARGIN_CALL_RATIO: Final = Decimal("0.8")
"""Maintenance / margin balance at which USDⓈ-M sends MARGIN_CALL (and again only after falling back under 0.7)."""
MARGIN_CALL_RESET: Final = Decimal("0.7")
LIQUIDATION_FEE: Final = Decimal("0.0125")
"""exchangeInfo ``liquidationFee``: the clearance fee on a cross liquidation's notional."""
# uniMMR thresholds of the PM risk levels (Binance's PM Pro page), highest first.
PM_LEVELS: Final = ((Decimal("1.5"), "NORMAL"), (Decimal("1.2"), "MARGIN_CALL"), (Decimal("1.05"), "REDUCE_ONLY"))


class Liquidations:
    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.last_funding_ms = venue.now_ms()

    # -- funding -------------------------------------------------------------------------------------------------
    def settle_funding(self) -> list[Event]:
        now = self.venue.now_ms()
        due = (self.last_funding_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
        events: list[Event] = []
        while due <= now:
            for account in self.venue.accounts.values():
                events += self._fund(account, due)
            self.last_funding_ms = due
            due += FUNDING_INTERVAL_MS
        return events

    def _fund(self, account: Account, funding_ms: int) -> list[Event]:
        venue = self.venue
        open_rows = [p for p in account.open_positions() if account.contracts[p.symbol].unit == "UM"]
        perpetual = [p for p in open_rows if account.contracts[p.symbol].perpetual]
        if not perpetual:
            return []
        quotes = venue.quotes(p.symbol for p in perpetual)
        events: list[Event] = []
        for p in perpetual:
            rate = Decimal(str(venue.prices.funding_rate(p.symbol, funding_ms)))
            fee = money(-p.amount * quotes[p.symbol].mark * rate)
            account.credit(fee, funding_ms)
            if account.isolated(p.symbol):
                p.isolated_wallet = money(p.isolated_wallet + fee)
            account.income.append(
                Income(
                    venue.counters.next_income(),
                    p.symbol,
                    "FUNDING_FEE",
                    fee,
                    account.margin_asset,
                    funding_ms,
                    info="FUNDING_FEE",
                    trade_id="",
                )
            )
            position_rows = (position_row(account, p, quotes[p.symbol].mark),) if account.isolated(p.symbol) else ()
            events.append(
                AccountUpdate(
                    account.kind,
                    venue.next_txn(),
                    "UM",
                    "FUNDING_FEE",
                    (balance_row(account, fee),),
                    position_rows,
                    symbol=p.symbol,
                )
            )
        return events

    # -- margin calls and liquidation ----------------------------------------------------------------------------
    def check(self, account: Account, quotes: Mapping[str, Quote]) -> list[Event]:
        positions = [p for p in account.open_positions() if account.contracts[p.symbol].unit == "UM"]
        if not positions or account.liquidating or any(p.symbol not in quotes for p in positions):
            return []
        if account.kind == "pm":
            return self._check_portfolio(account, positions, quotes)
        events: list[Event] = []
        for p in positions:
            if account.isolated(p.symbol):
                price = liquidation_price(account, p.symbol, p.side, quotes)
                mark = quotes[p.symbol].mark
                if price and ((p.amount > 0 and mark <= price) or (p.amount < 0 and mark >= price)):
                    events += self._liquidate(account, [p], quotes)
        cross = [p for p in account.open_positions() if not account.isolated(p.symbol)]
        if not cross:
            return events
        figures = margins(account, quotes)
        balance = figures.cross_wallet + figures.cross_unrealized
        if figures.cross_maintenance > 0 and balance <= figures.cross_maintenance:
            return events + self._liquidate(account, cross, quotes)
        ratio = figures.cross_maintenance / balance if balance > 0 else Decimal(1)
        if ratio >= MARGIN_CALL_RATIO and not account.margin_called:
            account.margin_called = True
            events.append(self._margin_call(account, cross, quotes, figures.cross_wallet))
        elif ratio < MARGIN_CALL_RESET:
            account.margin_called = False
        return events

    def _check_portfolio(self, account: Account, positions: list[Position], quotes: Mapping[str, Quote]) -> list[Event]:
        figures = margins(account, quotes)
        uni = figures.uni_mmr
        if uni is None:
            return []
        level = next((name for threshold, name in PM_LEVELS if uni > threshold), "FORCE_LIQUIDATION")
        events: list[Event] = []
        if level != account.risk_level:
            account.risk_level = level
            events.append(
                RiskLevelChange(
                    account.kind,
                    self.venue.next_txn(),
                    money(uni),
                    level,
                    money(figures.equity),
                    money(figures.maintenance),
                )
            )
        if uni <= PM_LIQUIDATION_UNIMMR:
            events += self._liquidate(account, positions, quotes)
        return events

    def _margin_call(
        self, account: Account, positions: list[Position], quotes: Mapping[str, Quote], cross_wallet: Decimal
    ) -> MarginCall:
        rows = []
        for p in positions:
            mark = quotes[p.symbol].mark
            mm = maintenance(account.contracts[p.symbol], p.amount * mark)[0]
            margin = "ISOLATED" if account.isolated(p.symbol) else "CROSSED"
            rows.append(
                MarginCallRow(p.snapshot(), margin, p.isolated_wallet, mark, money(unrealized(p, mark)), money(mm))
            )
        return MarginCall(account.kind, self.venue.next_txn(), money(cross_wallet), tuple(rows))

    def _liquidate(self, account: Account, positions: list[Position], quotes: Mapping[str, Quote]) -> list[Event]:
        """Every open order of the account expires (``er`` 5), then each position is closed by a forced IOC order
        at its mark; what is left of the margin it used pays the clearance fee (INSURANCE_CLEAR)."""
        venue = self.venue
        account.liquidating = True
        events: list[Event] = []
        try:
            for order in sorted(account.open_orders.values(), key=lambda o: o.order_id):
                events += venue.matcher.finish(account, order, "EXPIRED", reason=5)
            for algo in account.open_algos_of():
                events.append(venue.matcher.algo_status(account, algo, "EXPIRED"))
            for p in positions:
                events += self._force_close(account, p, quotes)
        finally:
            account.liquidating = False
            account.margin_called = False
        return events

    def _force_close(self, account: Account, p: Position, quotes: Mapping[str, Quote]) -> list[Event]:
        venue = self.venue
        now = venue.now_ms()
        contract = account.contracts[p.symbol]
        mark = quotes[p.symbol].mark.quantize(contract.filters.tick)
        isolated_before = p.isolated_wallet
        qty = abs(p.amount)
        order = Order(
            venue.counters.next_order(),
            f"autoclose-{now}{venue.counters.next_trade() % 1_000_000:06d}",
            p.symbol,
            "SELL" if p.amount > 0 else "BUY",
            p.side,
            "LIQUIDATION",
            "IOC",
            qty,
            mark,
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
            for e in apply_fill(venue, account, order, qty, mark, False, quotes)
        ]
        if account.isolated(p.symbol):
            left = max(isolated_before + order.realized, ZERO)
        else:
            left = max(margins(account, quotes).cross_wallet, ZERO)
        clearance = min(money(qty * mark * LIQUIDATION_FEE), left)
        if clearance:
            events += self._insurance(account, p.symbol, -clearance, now)
        if account.wallet_balance() < 0:  # a bankrupt account: the insurance fund brings it back to zero
            events += self._insurance(account, p.symbol, -account.wallet_balance(), now)
        return events

    def _insurance(self, account: Account, symbol: str, amount: Decimal, now: int) -> list[Event]:
        venue = self.venue
        account.credit(amount, now)
        account.income.append(
            Income(
                venue.counters.next_income(),
                symbol,
                "INSURANCE_CLEAR",
                amount,
                account.margin_asset,
                now,
                info="INSURANCE_CLEAR",
            )
        )
        return [
            AccountUpdate(account.kind, venue.next_txn(), "UM", "INSURANCE_CLEAR", (balance_row(account, amount),), ())
        ]
