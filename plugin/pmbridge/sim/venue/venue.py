"""The venue: every account and every way one changes, as plain synchronous code that returns the events it caused.

It knows nothing of HTTP or sockets (``engine.py`` stamps the events and hands them to the stream). Times are the
simulated clock's (``now_ms``); prices come from the market's price model at the real time of the call, as the
public market data does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, cast

from ..clock import real_ms
from ..errors import BinanceError
from ..market.catalogue import Catalogue
from . import requests as rq
from .account import ACCOUNT_TYPES, Account, AccountType
from .configuration import Configuration
from .events import AlgoUpdate, Event
from .funding import Funding
from .liquidation import Liquidations
from .matching import Matcher
from .model import CONDITIONAL_TYPES, ZERO, AlgoOrder, Counters, Order
from .risk import can_afford, over_leverage_cap

if TYPE_CHECKING:
    from ..market.prices import PriceModel, Quote


class Venue:
    def __init__(self, catalogue: Catalogue, prices: PriceModel, now_ms: Callable[[], int]) -> None:
        self.catalogue = catalogue
        self.prices = prices
        self.now_ms = now_ms
        self.counters = Counters()
        self.accounts: dict[AccountType, Account] = {}
        self.algo_of_order: dict[int, int] = {}
        self._txn = 0
        self.matcher = Matcher(self)
        self.config = Configuration(self)
        self.funding = Funding(self)
        self.liquidations = Liquidations(self)

    def add_account(self, kind: AccountType, api_key: str, api_secret: str) -> Account:
        if kind not in ACCOUNT_TYPES:
            raise ValueError(f"account type must be one of {', '.join(ACCOUNT_TYPES)}, got {kind!r}")
        account = self.accounts[kind] = Account(kind, api_key, api_secret, self.catalogue)
        return account

    def account(self, kind: str) -> Account:
        found = self.accounts.get(cast("AccountType", kind))  # any str: an unknown one finds nothing
        if found is None:
            raise ValueError(f"no {kind!r} account in this simulator; it has {', '.join(self.accounts)}")
        return found

    def next_txn(self) -> int:
        self._txn += 1
        return self._txn

    def quotes(self, symbols: Iterable[str]) -> dict[str, Quote]:
        now = real_ms()
        return {s: self.prices.quote(s, now) for s in set(symbols)}

    def account_quotes(self, account: Account, *extra: str) -> dict[str, Quote]:
        """Quotes for every symbol the account holds a position or an order in (and ``extra``)."""
        symbols = {p.symbol for p in account.open_positions()} | {o.symbol for o in account.open_orders.values()}
        symbols |= {a.symbol for a in account.open_algos_of()}
        return self.quotes(symbols | set(extra))

    # -- orders --------------------------------------------------------------------------------------------------
    def place_order(self, account: Account, req: rq.OrderRequest, source: str = "api") -> tuple[Order, list[Event]]:
        contract = account.contract(req.symbol, "UM")
        rq.check_order_type(req.type, portfolio_margin=account.kind == "pm")
        side = rq.position_side(account, req.position_side, req.reduce_only)
        market = req.type == "MARKET"
        if market and req.price is not None:
            raise BinanceError(-1106, "Parameter 'price' sent when not required.")
        quantity = rq.check_quantity(contract, req.quantity, market)
        quotes = self.account_quotes(account, req.symbol)
        quote = quotes[req.symbol]
        tif = req.time_in_force or "GTC"
        if not market:
            if req.time_in_force is None:
                raise BinanceError(
                    -1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed."
                )
            if tif not in rq.TIME_IN_FORCE:
                raise BinanceError(-1115, "Invalid timeInForce.")
            rq.check_price(contract, req.price)
        price = req.price if req.price is not None else ZERO
        if not market:
            rq.check_percent_price(price, quote.mark, req.side)
        reduce_only = bool(req.reduce_only)
        rq.check_min_notional(contract, quantity, price or quote.mark, reduce_only)
        rq.check_client_id(account, req.client_order_id)
        now = self.now_ms()
        order = Order(
            self.counters.next_order(),
            req.client_order_id or self.counters.client_id("web_"),
            req.symbol,
            req.side,
            side,
            req.type,
            tif,
            quantity,
            price,
            reduce_only,
            now,
            good_till_date=req.good_till_date or 0,
            self_trade_prevention=req.self_trade_prevention or "EXPIRE_MAKER",
            price_match=req.price_match or "NONE",
            source=source,
        )
        if reduce_only and self._reduces_nothing(account, order):
            raise BinanceError(-2022, "ReduceOnly Order is rejected.")
        if not reduce_only and over_leverage_cap(account, order, quote.mark):
            raise BinanceError(-2027, "Exceeded the maximum allowable position at current leverage.")
        if not reduce_only and not can_afford(account, order, quotes):
            raise BinanceError(-2019, "Margin is insufficient.")
        marketable = market or (price >= quote.ask if req.side == "BUY" else price <= quote.bid)
        if tif == "GTX" and marketable:
            raise BinanceError(
                -5022, "Due to the order could not be executed as maker, the Post Only order will be rejected."
            )
        if tif == "FOK" and not marketable:
            raise BinanceError(
                -5021, "Due to the order could not be filled immediately, the FOK order has been rejected."
            )
        events = self.matcher.submit(account, order, quotes)
        return order, events + self.liquidations.check(account, quotes)

    @staticmethod
    def _reduces_nothing(account: Account, order: Order) -> bool:
        held = account.position_amount(order.symbol, order.position_side)
        return held == 0 or (held > 0) == (order.side == "BUY")

    def cancel_order(
        self, account: Account, symbol: str | None, order_id: int | None, client_id: str | None
    ) -> tuple[Order, list[Event]]:
        account.contract(symbol, "UM")
        try:
            order = account.order(symbol, order_id, client_id)
        except BinanceError:
            raise BinanceError(-2011, "Unknown order sent.") from None
        if not order.is_open:
            raise BinanceError(-2011, "Unknown order sent.")
        return order, self.matcher.cancel(account, order)

    def cancel_all(self, account: Account, symbol: str | None) -> list[Event]:
        account.contract(symbol, "UM")
        events: list[Event] = []
        for order in sorted(account.open_orders_of(symbol or ""), key=lambda o: o.order_id):
            events += self.matcher.cancel(account, order)
        return events

    # -- conditional (algo) orders ---------------------------------------------------------------------------------
    def place_algo(self, account: Account, req: rq.AlgoRequest) -> tuple[AlgoOrder, list[Event]]:
        contract = account.contract(req.symbol, "UM")
        if req.type not in CONDITIONAL_TYPES:
            raise BinanceError(-1116, "Invalid orderType.")
        side = rq.position_side(account, req.position_side, None if req.close_position else req.reduce_only)
        if req.close_position:
            if req.type not in ("STOP_MARKET", "TAKE_PROFIT_MARKET"):
                raise BinanceError(-4136, "Target strategy invalid for orderType " + req.type + ",closePosition true")
            if req.quantity is not None:
                raise BinanceError(-4137, "Quantity must be zero with closePosition equals true")
            if req.reduce_only is not None:
                raise BinanceError(-1106, "Parameter 'reduceonly' sent when not required.")
            if any(
                a.close_position and a.side == req.side and a.position_side == side
                for a in account.open_algos_of(req.symbol)
            ):
                raise BinanceError(
                    -4130, "An open stop or take profit order with GTE and closePosition in the direction is existing."
                )
            quantity = ZERO
        else:
            quantity = rq.check_quantity(contract, req.quantity, market=not req.type.endswith(("STOP", "PROFIT")))
        trailing = req.type == "TRAILING_STOP_MARKET"
        trigger = ZERO if trailing else rq.check_price(contract, req.trigger_price, "triggerPrice")
        price = rq.check_price(contract, req.price) if req.type in ("STOP", "TAKE_PROFIT") else ZERO
        rate = req.callback_rate or ZERO
        if trailing and not Decimal("0.1") <= rate <= Decimal(20):
            raise BinanceError(-4135 if req.callback_rate is None else -2007, "Invalid callBack rate.")
        working = req.working_type or "CONTRACT_PRICE"
        if working not in rq.WORKING_TYPES:
            raise BinanceError(-1100, "Illegal characters found in parameter 'workingType'.")
        rq.check_client_id(account, req.client_algo_id, algo=True)
        now = self.now_ms()
        algo = AlgoOrder(
            self.counters.next_algo(),
            req.client_algo_id or self.counters.client_id("algo_"),
            req.type,
            req.symbol,
            req.side,
            side,
            quantity,
            price,
            trigger,
            "GTE_GTC" if req.close_position else req.time_in_force or "GTC",
            working,
            req.close_position,
            req.price_protect,
            bool(req.reduce_only) or req.close_position,
            now,
            activate_price=req.activate_price or ZERO,
            callback_rate=rate,
            good_till_date=req.good_till_date or 0,
            self_trade_prevention=req.self_trade_prevention or "EXPIRE_MAKER",
            price_match=req.price_match or "NONE",
        )
        quotes = self.account_quotes(account, req.symbol)
        if self.matcher.would_trigger(algo, quotes[req.symbol]):
            raise BinanceError(-2021, "Order would immediately trigger.")
        if trailing:
            algo.extreme = self.matcher.working_price(algo, quotes[req.symbol])
        account.algos[algo.algo_id] = algo
        unit = contract.unit
        return algo, [AlgoUpdate(account.kind, self.next_txn(), algo.snapshot(), unit)]

    def cancel_algo(
        self, account: Account, algo_id: int | None, client_id: str | None
    ) -> tuple[AlgoOrder, list[Event]]:
        try:
            algo = account.algo(algo_id, client_id)
        except BinanceError:
            raise BinanceError(-2011, "Unknown order sent.") from None
        if not algo.is_open:
            raise BinanceError(-2011, "Unknown order sent.")
        algo.status = "CANCELED"
        algo.update_ms = self.now_ms()
        unit = account.contracts[algo.symbol].unit
        return algo, [AlgoUpdate(account.kind, self.next_txn(), algo.snapshot(), unit)]

    def cancel_all_algos(self, account: Account, symbol: str | None) -> list[Event]:
        account.contract(symbol, "UM")
        events: list[Event] = []
        for algo in account.open_algos_of(symbol):
            events += self.cancel_algo(account, algo.algo_id, None)[1]
        return events

    # -- the passage of time and prices ----------------------------------------------------------------------------
    def tick(self) -> list[Event]:
        """Funding due on the simulated clock, then resting orders, triggers and liquidations at today's prices."""
        events: list[Event] = self.funding.settle()
        for account in self.accounts.values():
            if not (account.open_orders or account.algos or account.positions):
                continue
            quotes = self.account_quotes(account)
            if not quotes:
                continue
            events += self._expire_gtd(account)
            events += self.matcher.on_prices(account, quotes)
            events += self.liquidations.check(account, quotes)
        return events

    def _expire_gtd(self, account: Account) -> list[Event]:
        now = self.now_ms()
        events: list[Event] = []
        for order in list(account.open_orders.values()):
            if order.time_in_force == "GTD" and order.good_till_date and order.good_till_date <= now:
                events += self.matcher.finish(account, order, "EXPIRED", reason=0)
        return events
