"""Funding every 8 h of the simulated clock: each open perpetual position pays or receives notional x rate at the
mark (a positive rate: longs pay, shorts receive), as FUNDING_FEE income and an ACCOUNT_UPDATE."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from ..market.prices import FUNDING_INTERVAL_MS, next_funding_ms
from .events import AccountUpdate, Event
from .fills import balance_row, money, position_row
from .model import Income

if TYPE_CHECKING:
    from .account import Account
    from .venue import Venue


class Funding:
    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.last_funding_ms = venue.now_ms()

    def settle(self) -> list[Event]:
        """Every funding time passed since the last call, in order (a clock jump of a day settles three)."""
        now = self.venue.now_ms()
        due = next_funding_ms(self.last_funding_ms)
        events: list[Event] = []
        while due <= now:
            for account in self.venue.accounts.values():
                events += self._fund(account, due)
            self.last_funding_ms = due
            due += FUNDING_INTERVAL_MS
        return events

    def _fund(self, account: Account, funding_ms: int) -> list[Event]:
        venue = self.venue
        perpetual = [
            p
            for p in account.open_positions()
            if account.contracts[p.symbol].unit == "UM" and account.contracts[p.symbol].perpetual
        ]
        if not perpetual:
            return []
        quotes = venue.quotes(p.symbol for p in perpetual)
        events: list[Event] = []
        for p in perpetual:
            rate = Decimal(str(venue.prices.funding_rate(p.symbol, funding_ms)))
            fee = money(-p.amount * quotes[p.symbol].mark * rate)
            account.credit(fee, funding_ms)
            isolated = account.isolated(p.symbol)
            if isolated:
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
            # Cross: the balance only (P empty, as captured); isolated: the position's isolated wallet changed too.
            rows = (position_row(account, p, quotes[p.symbol].mark),) if isolated else ()
            balances = (balance_row(account, fee),)
            txn = venue.next_txn()
            events.append(AccountUpdate(account.kind, txn, "UM", "FUNDING_FEE", balances, rows, symbol=p.symbol))
        return events
