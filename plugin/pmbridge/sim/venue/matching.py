"""The matching engine: new orders against the book, resting orders and conditional triggers against price moves.

Liquidity is unlimited at the best price: a marketable order fills whole at once (a buy at the ask, a sell at the
bid), as a taker. A resting limit order fills whole, as a maker at its own price, once the last trade price reaches
it. Conditional (algo) orders watch the mark or the last price (``workingType``) and, when triggered, place their
actual MARKET or LIMIT order here like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from .events import AlgoUpdate, Event, OrderUpdate
from .fills import apply_fill, closing_capacity, open_notional
from .model import ZERO, AlgoOrder, Order
from .risk import can_afford

if TYPE_CHECKING:
    from ..market.prices import Quote
    from .account import Account
    from .venue import Venue


class Matcher:
    def __init__(self, venue: Venue) -> None:
        self.venue = venue

    # -- new orders ----------------------------------------------------------------------------------------------
    def submit(self, account: Account, order: Order, quotes: Mapping[str, Quote]) -> list[Event]:
        """A validated order enters the book: NEW, then whatever fills at once; IOC/MARKET remainders expire."""
        account.add_order(order)
        events: list[Event] = [self.order_update(account, order, "NEW")]
        quote = quotes[order.symbol]
        marketable = order.type != "LIMIT" or (
            order.price >= quote.ask if order.side == "BUY" else order.price <= quote.bid
        )
        if marketable:
            price = quote.ask if order.side == "BUY" else quote.bid
            events += self._execute(account, order, price, maker=False, quotes=quotes)
        if order.is_open and (order.type != "LIMIT" or order.time_in_force in ("IOC", "FOK")):
            events += self.finish(account, order, "EXPIRED", reason=9 if order.type != "LIMIT" else 2)
        return events

    def _execute(
        self, account: Account, order: Order, price: Decimal, maker: bool, quotes: Mapping[str, Quote]
    ) -> list[Event]:
        qty = order.remaining
        if order.reduce_only or order.close_position:
            qty = closing_capacity(account, order)
            if qty <= 0:
                return self.finish(account, order, "EXPIRED", reason=4)
        events = apply_fill(self.venue, account, order, qty, price, maker, quotes)
        if order.is_open and (order.reduce_only or order.close_position):
            # A reduce-only order larger than the position fills the position and the rest expires.
            events += self.finish(account, order, "EXPIRED", reason=4)
        return events + self._after_fill(account, order)

    def _after_fill(self, account: Account, order: Order) -> list[Event]:
        """Follow-ups of a fill: the algo order that placed it finishes; orders that only closed a now-flat
        position expire (reduce-only leftovers, close-position stops)."""
        events: list[Event] = []
        if not order.is_open:
            events += self._finish_algo(account, order)
        if account.position_amount(order.symbol, order.position_side) == 0:
            for other in account.open_orders_of(order.symbol):
                if other.reduce_only and other.position_side == order.position_side:
                    events += self.finish(account, other, "EXPIRED", reason=4)
            for algo in account.open_algos_of(order.symbol):
                if algo.close_position and algo.position_side == order.position_side:
                    events.append(self.algo_status(account, algo, "EXPIRED"))
        return events

    # -- price moves ---------------------------------------------------------------------------------------------
    def on_prices(self, account: Account, quotes: Mapping[str, Quote]) -> list[Event]:
        """Resting limit orders the last price reached fill; conditional orders whose trigger was met fire."""
        events: list[Event] = []
        for order in sorted(account.open_orders.values(), key=lambda o: o.order_id):
            if not order.is_open or order.type != "LIMIT" or order.symbol not in quotes:
                continue
            last = quotes[order.symbol].last
            if (order.side == "BUY" and last <= order.price) or (order.side == "SELL" and last >= order.price):
                events += self._execute(account, order, order.price, maker=True, quotes=quotes)
        for algo in sorted(account.open_algos_of(), key=lambda a: a.algo_id):
            if algo.is_open and algo.symbol in quotes and self._triggered(algo, quotes[algo.symbol]):
                events += self.trigger(account, algo, quotes)
        return events

    @staticmethod
    def working_price(algo: AlgoOrder, quote: Quote) -> Decimal:
        return quote.mark if algo.working_type == "MARK_PRICE" else quote.last

    def _triggered(self, algo: AlgoOrder, quote: Quote) -> bool:
        price = self.working_price(algo, quote)
        kind = algo.order_type
        if kind == "TRAILING_STOP_MARKET":
            return self._trail(algo, price)
        if kind in ("STOP", "STOP_MARKET"):
            return price >= algo.trigger_price if algo.side == "BUY" else price <= algo.trigger_price
        return price <= algo.trigger_price if algo.side == "BUY" else price >= algo.trigger_price

    @staticmethod
    def _trail(algo: AlgoOrder, price: Decimal) -> bool:
        """Follow the best price after activation; fire when the price comes back by the callback rate."""
        if not algo.activated:
            reached = algo.activate_price == 0 or (
                price >= algo.activate_price if algo.side == "SELL" else price <= algo.activate_price
            )
            if not reached:
                return False
            algo.activated, algo.extreme = True, price
        if algo.side == "SELL":
            algo.extreme = max(algo.extreme, price)
            return price <= algo.extreme * (1 - algo.callback_rate / 100)
        algo.extreme = min(algo.extreme, price)
        return price >= algo.extreme * (1 + algo.callback_rate / 100)

    def would_trigger(self, algo: AlgoOrder, quote: Quote) -> bool:
        """For placement: a stop or take-profit whose condition already holds is refused (-2021)."""
        return algo.order_type != "TRAILING_STOP_MARKET" and self._triggered(algo, quote)

    def trigger(self, account: Account, algo: AlgoOrder, quotes: Mapping[str, Quote]) -> list[Event]:
        """TRIGGERING -> the actual order is placed -> TRIGGERED (with its id), and FINISHED once that order is done."""
        venue = self.venue
        now = venue.now_ms()
        algo.trigger_ms = now
        events: list[Event] = [self.algo_status(account, algo, "TRIGGERING")]
        quantity = algo.quantity
        if algo.close_position:
            quantity = abs(account.position_amount(algo.symbol, algo.position_side))
            if quantity == 0:
                return [*events, self.algo_status(account, algo, "EXPIRED")]
        limit = algo.order_type in ("STOP", "TAKE_PROFIT")
        order = Order(
            venue.counters.next_order(),
            venue.counters.client_id("autoalgo_"),
            algo.symbol,
            algo.side,
            algo.position_side,
            "LIMIT" if limit else "MARKET",
            algo.time_in_force if limit else "GTC",
            quantity,
            algo.price if limit else ZERO,
            algo.reduce_only or algo.close_position,
            now,
            orig_type=algo.order_type,
            close_position=algo.close_position,
            stop_price=algo.trigger_price,
            working_type=algo.working_type,
            price_protect=algo.price_protect,
            self_trade_prevention=algo.self_trade_prevention,
            source="algo",
        )
        if not (order.reduce_only or can_afford(account, order, quotes)):
            algo.fail_reason = "Margin is insufficient."
            return [*events, self.algo_status(account, algo, "REJECTED")]
        algo.actual_order_id = order.order_id
        venue.algo_of_order[order.order_id] = algo.algo_id
        events.append(self.algo_status(account, algo, "TRIGGERED", order))
        return events + self.submit(account, order, quotes)

    # -- endings -------------------------------------------------------------------------------------------------
    def cancel(self, account: Account, order: Order) -> list[Event]:
        return self.finish(account, order, "CANCELED")

    def finish(self, account: Account, order: Order, status: str, reason: int = 0) -> list[Event]:
        """``order`` ends (CANCELED or EXPIRED); an algo order it was placed by finishes with it."""
        order.status = status
        order.expiry_reason = reason
        order.update_ms = self.venue.now_ms()
        account.order_closed(order)
        return [self.order_update(account, order, status), *self._finish_algo(account, order)]

    def _finish_algo(self, account: Account, order: Order) -> list[Event]:
        algo_id = self.venue.algo_of_order.get(order.order_id)
        algo = account.algos.get(algo_id) if algo_id is not None else None
        if algo is None or algo.status != "TRIGGERED":
            return []
        return [self.algo_status(account, algo, "FINISHED", order)]

    def algo_status(self, account: Account, algo: AlgoOrder, status: str, order: Order | None = None) -> AlgoUpdate:
        algo.status = status
        algo.update_ms = self.venue.now_ms()
        unit = account.contracts[algo.symbol].unit
        actual = order or (account.orders.get(algo.actual_order_id) if algo.actual_order_id else None)
        return AlgoUpdate(
            account.kind,
            self.venue.next_txn(),
            algo.snapshot(),
            unit,
            actual.executed_qty if actual else ZERO,
            actual.avg_price if actual else ZERO,
            actual.type if actual else "",
        )

    def order_update(self, account: Account, order: Order, execution: str) -> OrderUpdate:
        unit = account.contracts[order.symbol].unit
        return OrderUpdate(
            account.kind,
            self.venue.next_txn(),
            order.snapshot(),
            execution,
            unit,
            None,
            *open_notional(account, order.symbol),
        )
