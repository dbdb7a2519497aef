"""The exchange process, free of HTTP: the venue, listen keys, streams and history, and how an event goes out.

Every change, whether a REST call, the control API ("the app") or the passage of time, goes through the venue and
comes back as events; ``publish`` stamps them (one ``E`` and ``T`` per matching-engine transaction), records them in
the true history and queues them on the sockets of the account they belong to, all without awaiting, so the order
of the truth is the order on the wire.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any, Final

from .api.faults import Faults
from .api.metering import Meter
from .app import App
from .clock import SimClock, real_ms
from .history import History
from .market.catalogue import Catalogue, Unit
from .market.data import MarketData
from .stream.frames import num, render
from .stream.hub import TRANSACTION_LAG_MS, StreamHub
from .stream.keys import ListenKeys
from .venue import ACCOUNT_TYPES, Account, AccountType, Venue
from .venue.events import Event
from .venue.risk import liquidation_price, margins, unrealized

DEFAULT_ACCOUNT: Final[AccountType] = "pm"


class Engine:
    def __init__(
        self,
        symbols: int,
        credentials: dict[AccountType, tuple[str, str]],
        clock_speed: float,
        new_token: Callable[[], str],
        seed: int = 0,
    ) -> None:
        self.clock = SimClock(clock_speed)
        self.catalogue = Catalogue(symbols, seed=seed)
        # Public market data runs on real time (clients compare candle dates with their own clock), not sim time.
        self.market = MarketData(self.catalogue, seed)
        self.venue = Venue(self.catalogue, self.market.prices, self.clock.now_ms)
        for kind, (key, secret) in credentials.items():
            self.venue.add_account(kind, key, secret)
        self.default: AccountType = DEFAULT_ACCOUNT if DEFAULT_ACCOUNT in credentials else next(iter(credentials))
        self.history = History(self.venue.accounts)
        self.keys = ListenKeys(new_token)
        self.meter = Meter()
        self.faults = Faults()
        self.hub = StreamHub(self.clock, self.keys, self.meter)
        self.app = App(self)
        """The Binance app: orders, closes, margin changes made by hand (the control API)."""

    # -- accounts ------------------------------------------------------------------------------------------------
    def account(self, kind: str | None = None) -> Account:
        return self.venue.account(kind or self.default)

    def account_for_key(self, api_key: str | None) -> Account | None:
        import secrets  # noqa: PLC0415 - constant-time compare, used per request

        if not api_key:
            return None
        for account in self.venue.accounts.values():
            if secrets.compare_digest(account.api_key, api_key):
                return account
        return None

    # -- events out ----------------------------------------------------------------------------------------------
    def publish(self, events: Iterable[Event]) -> None:
        """Stamp, record and queue: one E and T per transaction, the frames in the order the venue produced them."""
        stamps: dict[int, int] = {}
        for event in events:
            event_ms = stamps.get(event.txn)
            if event_ms is None:
                event_ms = stamps[event.txn] = self.hub.stamp()
            transaction_ms = event_ms - TRANSACTION_LAG_MS
            self.history.record(event, event_ms, transaction_ms)
            frame = render(event, event.account, event_ms, transaction_ms)
            if frame is not None:
                self.hub.publish(event.account, frame)

    def emit(self, events: Iterable[Event]) -> None:
        """Publish a change's events; a key whose hour is up is announced dead first, so no event goes out on it."""
        self.hub.expire_due()
        self.publish(events)

    def run(self, action: Callable[[], list[Event]]) -> None:
        """Apply a change and ``emit`` its events. ``emit`` reads the generator, so makes the change, only after
        announcing a due expiry: a refused change still lets the expiry out."""

        def applied() -> Iterator[Event]:
            yield from action()

        self.emit(applied())

    # -- configuration (REST and the app) ------------------------------------------------------------------------
    def set_leverage(
        self, symbol: str, leverage: object, unit: Unit | None = None, account: str | None = None
    ) -> dict[str, Any]:
        acc = self.account(account)
        self.run(lambda: self.venue.config.set_leverage(acc, symbol, leverage, unit))
        contract = acc.contracts[symbol]
        return {"symbol": symbol, "leverage": acc.leverage[symbol], "unit": contract.unit, "account": acc.kind}

    def set_multi_assets(self, enabled: bool, account: str | None = None, from_app: bool = True) -> None:
        acc = self.account(account)
        self.run(lambda: self.venue.config.set_multi_assets(acc, bool(enabled), from_app=from_app))

    def set_position_mode(self, dual_side: bool, account: str | None = None, from_app: bool = True) -> None:
        acc = self.account(account)
        if from_app and acc.dual_side == bool(dual_side):
            return
        self.run(lambda: self.venue.config.set_position_mode(acc, bool(dual_side)))

    # -- listen keys ---------------------------------------------------------------------------------------------
    def create_listen_key(self, account: AccountType) -> str:
        self.hub.expire_due()
        return self.keys.create_or_extend(account, self.clock.now_ms())

    def keepalive_listen_key(self, account: AccountType) -> None:
        self.hub.expire_due()
        self.keys.extend(account, self.clock.now_ms())

    def delete_listen_key(self, account: AccountType) -> None:
        key = self.keys.kill(account)
        if key is not None:
            self.hub.close_key(account, key)

    def expire_key(self, account: AccountType | None = None, announce: bool = True) -> list[AccountType]:
        """Kill the active key(s) now, as if their hour ran out; returns the accounts that had one.

        ``announce=False`` skips the ``listenKeyExpired`` frame (Binance "may" send it): the sockets just go silent,
        and only a keepalive answered ``-1125`` tells the client.
        """
        expired: list[AccountType] = []
        for acc in ACCOUNT_TYPES if account is None else (account,):
            if self.keys.active(acc, self.clock.now_ms()) is None:
                continue
            key = self.keys.kill(acc)
            if key is not None:
                if announce:
                    self.hub.announce_expiry(acc, key)
                else:
                    self.hub.mute(acc, key)
                expired.append(acc)
        return expired

    # -- time ----------------------------------------------------------------------------------------------------
    def set_clock(self, speed: float | None = None, advance_ms: int | None = None, keep_keys: bool = False) -> None:
        """Change the clock speed and/or jump ahead. ``keep_keys``: the jump passes as if every client had kept its
        listenKey alive all along (so a 24 h jump cuts the connections but leaves the keys alive)."""
        if speed is not None:
            self.clock.set_speed(speed)
        if advance_ms:
            before = self.clock.now_ms()
            alive = [acc for acc in ACCOUNT_TYPES if keep_keys and self.keys.active(acc, before) is not None]
            self.clock.advance(advance_ms)
            for acc in alive:
                self.keys.refresh(acc, self.clock.now_ms())
        # Apply the consequences at once so a caller that jumped the clock sees them without waiting for a tick.
        self.tick()

    def set_price(self, symbol: str, price: float | None) -> dict[str, Any]:
        """Pin a symbol's price from now on (None: back to the model), then let the market react at once."""
        if symbol not in self.catalogue.contracts:
            raise ValueError(f"unknown symbol {symbol!r}; the simulator lists {', '.join(self.catalogue.contracts)}")
        if price is not None and not price > 0:
            raise ValueError(f"price must be > 0 (or null to release the pin), got {price}")
        self.market.prices.pin(symbol, real_ms(), price)
        self.tick()
        quote = self.market.prices.quote(symbol, real_ms())
        return {
            "symbol": symbol,
            "pinned": price is not None,
            "last": num(quote.last),
            "mark": num(quote.mark),
            "bid": num(quote.bid),
            "ask": num(quote.ask),
        }

    def tick(self) -> None:
        self.hub.expire_due()
        self.hub.cut_old()
        self.publish(self.venue.tick())

    # -- the truth, for tests ------------------------------------------------------------------------------------
    def account_view(self, account: Account) -> dict[str, Any]:
        now = self.clock.now_ms()
        quotes = self.venue.account_quotes(account)
        figures = margins(account, quotes)
        positions = []
        for p in account.open_positions():
            mark = quotes[p.symbol].mark
            positions.append(
                {
                    "symbol": p.symbol,
                    "side": p.side,
                    "amount": num(p.amount),
                    "entry_price": num(p.entry_price),
                    "break_even_price": num(p.break_even),
                    "mark_price": num(mark),
                    "unrealized_pnl": num(unrealized(p, mark)),
                    "leverage": account.leverage[p.symbol],
                    "margin_type": account.margin_type[p.symbol],
                    "isolated_wallet": num(p.isolated_wallet),
                    "liquidation_price": num(liquidation_price(account, p.symbol, p.side, quotes, figures)),
                    "update_time": p.update_ms,
                }
            )
        units = account.units
        return {
            "type": account.kind,
            "time_ms": now,
            "leverage": {
                u: {s: v for s, v in account.leverage.items() if account.contracts[s].unit == u} for u in units
            },
            "margin_type": {
                u: {s: v for s, v in account.margin_type.items() if account.contracts[s].unit == u} for u in units
            },
            "multi_assets": account.multi_assets,
            "dual_side_position": account.dual_side,
            "balances": {
                "wallet": {a: num(v) for a, v in account.wallet.items()},
                "collateral": {a: num(v) for a, v in account.collateral.items()},
                "available": num(figures.available),
                "initial_margin": num(figures.initial),
                "maintenance_margin": num(figures.maintenance),
                "equity": num(figures.equity),
            },
            "positions": positions,
            "open_orders": [
                {
                    "order_id": o.order_id,
                    "symbol": o.symbol,
                    "side": o.side,
                    "type": o.type,
                    "status": o.status,
                    "quantity": num(o.quantity),
                    "price": num(o.price),
                    "executed_qty": num(o.executed_qty),
                }
                for o in account.open_orders.values()
            ],
            "open_algo_orders": [
                {
                    "algo_id": a.algo_id,
                    "symbol": a.symbol,
                    "side": a.side,
                    "type": a.order_type,
                    "status": a.status,
                    "quantity": num(a.quantity),
                    "trigger_price": num(a.trigger_price),
                }
                for a in account.open_algos_of()
            ],
        }

    def state_view(self) -> dict[str, Any]:
        """``GET /_sim/state``: the default account at the top, every account under ``accounts``."""
        now = self.clock.now_ms()
        body = self.account_view(self.account())
        body.update(
            {
                "time_ms": now,
                "clock_speed": self.clock.speed,
                "sockets": self.hub.counts(),
                "listen_key_active": {acc: self.keys.active(acc, now) is not None for acc in ACCOUNT_TYPES},
                "accounts": {kind: self.account_view(acc) for kind, acc in self.venue.accounts.items()},
            }
        )
        return body

    def deposit(self, amount: Decimal, account: str | None = None, asset: str | None = None) -> None:
        acc = self.account(account)
        self.run(lambda: self.venue.config.transfer(acc, amount, asset))
