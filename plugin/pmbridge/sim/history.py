"""The true history of each account: every value its leverages, multi-assets flag and positions have had, in order,
and every status its orders went through.

A client may miss changes (nothing sent during a gap is ever redelivered), but every value it announces must be one of
these, in this order, and a pushed value must carry the event time it was pushed with. Chaos runs check exactly that.
The first record of a setting is the value the account started with (no event time); each later one is a change,
recorded with the ``E`` and ``T`` of the event it caused, whether or not any socket was there to get it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Final

from .market.catalogue import Unit
from .venue.account import Account, AccountType
from .venue.events import AccountUpdate, ConfigUpdate, Event, OrderUpdate

HISTORY_LIMIT: Final = 10_000
"""Records kept per setting, position or order; past it the oldest go (a long demo must not grow without bound)."""
ORDERS_KEPT: Final = 10_000


@dataclass(frozen=True, slots=True)
class Record:
    event_ms: int | None
    """``E`` of the pushed event; None for the value the account started with."""
    transaction_ms: int | None
    value: Any

    def view(self) -> dict[str, Any]:
        return {"E": self.event_ms, "T": self.transaction_ms, "value": self.value}


class AccountHistory:
    """Appended to by the engine at the moment a change is stamped, so records are in event-time order."""

    def __init__(self, account: Account) -> None:
        self._account = account
        self._initial_leverage = dict(account.leverage)
        self._leverage: dict[str, deque[Record]] = {}
        self._multi_assets: deque[Record] = deque([Record(None, None, account.multi_assets)], maxlen=HISTORY_LIMIT)
        self._positions: dict[str, deque[Record]] = {}
        self._orders: dict[int, list[Record]] = {}

    def record(self, event: Event, event_ms: int, transaction_ms: int) -> None:
        if isinstance(event, ConfigUpdate):
            if event.symbol is not None and event.leverage is not None:
                self._leverage_records(event.symbol).append(Record(event_ms, transaction_ms, event.leverage))
            if event.multi_assets is not None:
                self._multi_assets.append(Record(event_ms, transaction_ms, event.multi_assets))
        elif isinstance(event, AccountUpdate):
            for row in event.positions:
                p = row.position
                records = self._positions.setdefault(f"{p.symbol}:{p.side}", deque(maxlen=HISTORY_LIMIT))
                value = {"amount": str(p.amount), "entry_price": str(p.entry_price)}
                if not records or records[-1].value != value:
                    records.append(Record(event_ms, transaction_ms, value))
        elif isinstance(event, OrderUpdate):
            o = event.order
            steps = self._orders.get(o.order_id)
            if steps is None:
                if len(self._orders) >= ORDERS_KEPT:
                    del self._orders[next(iter(self._orders))]
                steps = self._orders[o.order_id] = []
            steps.append(Record(event_ms, transaction_ms, {"status": o.status, "executed_qty": str(o.executed_qty)}))

    def _leverage_records(self, symbol: str) -> deque[Record]:
        records = self._leverage.get(symbol)
        if records is None:
            # Created on the first change: 5,000 untouched symbols cost nothing.
            initial = Record(None, None, self._initial_leverage[symbol])
            records = self._leverage[symbol] = deque([initial], maxlen=HISTORY_LIMIT)
        return records

    def leverage(self, symbol: str) -> tuple[Record, ...]:
        records = self._leverage.get(symbol)
        return tuple(records) if records is not None else (Record(None, None, self._initial_leverage[symbol]),)

    def view(self) -> dict[str, Any]:
        units: tuple[Unit, ...] = self._account.units
        contracts = self._account.contracts
        return {
            "leverage": {
                unit: {s: [r.view() for r in self.leverage(s)] for s, c in contracts.items() if c.unit == unit}
                for unit in units
            },
            "multi_assets": [r.view() for r in self._multi_assets],
            "positions": {key: [r.view() for r in records] for key, records in self._positions.items()},
            "orders": {str(oid): [r.view() for r in records] for oid, records in self._orders.items()},
        }


class History:
    def __init__(self, accounts: dict[AccountType, Account]) -> None:
        self.accounts = {kind: AccountHistory(account) for kind, account in accounts.items()}

    def record(self, event: Event, event_ms: int, transaction_ms: int) -> None:
        self.accounts[event.account].record(event, event_ms, transaction_ms)

    def view(self, default: AccountType) -> dict[str, Any]:
        """``GET /_sim/history``: the default account's records at the top (``leverage`` by unit and symbol,
        ``multi_assets``, ``positions`` by ``SYMBOL:SIDE``, ``orders`` by id), and every account's under
        ``accounts``."""
        body = self.accounts[default].view()
        body["accounts"] = {kind: history.view() for kind, history in self.accounts.items()}
        return body
