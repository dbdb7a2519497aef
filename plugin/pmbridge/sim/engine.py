"""The exchange itself, free of HTTP: state changes, listen-key lifecycle and the events they cause."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .auth import Authenticator
from .clock import SimClock
from .faults import Faults
from .history import History
from .marketdata import MarketData
from .markets import Catalogue, Unit
from .metering import Meter
from .state import ACCOUNTS, Account, AccountState, ListenKeys
from .stream import TRANSACTION_LAG_MS, StreamHub


class Engine:
    """Every way the account can change goes through here, so REST and the control API push identical events."""

    def __init__(
        self,
        symbols: int,
        api_key: str,
        api_secret: str,
        clock_speed: float,
        new_token: Callable[[], str],
        seed: int = 0,
    ) -> None:
        self.clock = SimClock(clock_speed)
        self.catalogue = Catalogue(symbols)
        self.state = AccountState(self.catalogue)
        self.history = History(self.catalogue, self.state.leverage, self.state.multi_assets)
        self.keys = ListenKeys(new_token)
        self.meter = Meter()
        self.faults = Faults()
        self.auth = Authenticator(api_key, api_secret)
        self.hub = StreamHub(self.clock, self.keys, self.meter)
        # Public market data runs on real time (clients compare candle dates with their own clock), not sim time.
        self.market = MarketData(self.catalogue, seed)

    async def set_leverage(self, symbol: str, leverage: object, unit: Unit | None = None) -> dict[str, Any]:
        # A key whose hour is up is announced dead first, so the event never goes out on it.
        await self.hub.expire_due()
        contract = self.state.set_leverage(symbol, leverage, unit)
        value = self.state.leverage[symbol]
        # State, event time and history change together (no await between them): two concurrent changes of one
        # symbol can never end with the state of one and the newest event time of the other.
        event_ms = self.hub.stamp()
        self.history.record_leverage(symbol, event_ms, event_ms - TRANSACTION_LAG_MS, value)
        await self.hub.publish_leverage(contract.unit, symbol, value, event_ms)
        return {"symbol": symbol, "leverage": value, "unit": contract.unit}

    async def set_multi_assets(self, enabled: bool) -> None:
        await self.hub.expire_due()
        self.state.multi_assets = bool(enabled)
        event_ms = self.hub.stamp()
        self.history.record_multi_assets(event_ms, event_ms - TRANSACTION_LAG_MS, self.state.multi_assets)
        await self.hub.publish_multi_assets(self.state.multi_assets, event_ms)

    def set_position_mode(self, dual_side: bool) -> None:
        # Binance pushes no ACCOUNT_CONFIG_UPDATE for a position-mode change; only a REST read reveals it.
        self.state.dual_side_position = bool(dual_side)

    async def create_listen_key(self, account: Account) -> str:
        await self.hub.expire_due()
        return self.keys.create_or_extend(account, self.clock.now_ms())

    async def keepalive_listen_key(self, account: Account) -> None:
        await self.hub.expire_due()
        self.keys.extend(account, self.clock.now_ms())

    async def delete_listen_key(self, account: Account) -> None:
        key = self.keys.kill(account)
        if key is not None:
            await self.hub.close_key(account, key)

    async def expire_key(self, account: Account | None = None, announce: bool = True) -> list[Account]:
        """Kill the active key(s) now, as if their hour ran out; returns the accounts that had one.

        ``announce=False`` skips the ``listenKeyExpired`` frame (Binance "may" send it): the sockets just go silent,
        and only a keepalive answered ``-1125`` tells the client.
        """
        expired: list[Account] = []
        for acc in ACCOUNTS if account is None else (account,):
            if self.keys.active(acc, self.clock.now_ms()) is None:
                continue
            key = self.keys.kill(acc)
            if key is not None:
                if announce:
                    await self.hub.announce_expiry(acc, key)
                else:
                    self.hub.mute(acc, key)
                expired.append(acc)
        return expired

    async def set_clock(
        self, speed: float | None = None, advance_ms: int | None = None, keep_keys: bool = False
    ) -> None:
        """Change the clock speed and/or jump ahead. ``keep_keys``: the jump passes as if every client had kept its
        listenKey alive all along (so a 24 h jump cuts the connections but leaves the keys alive)."""
        if speed is not None:
            self.clock.set_speed(speed)
        if advance_ms:
            before = self.clock.now_ms()
            alive = [acc for acc in ACCOUNTS if keep_keys and self.keys.active(acc, before) is not None]
            self.clock.advance(advance_ms)
            for acc in alive:
                self.keys.refresh(acc, self.clock.now_ms())
        # Apply the consequences at once so a caller that jumped the clock sees them without waiting for a tick.
        await self.tick()

    async def tick(self) -> None:
        await self.hub.expire_due()
        await self.hub.cut_old()

    def state_view(self) -> dict[str, Any]:
        now = self.clock.now_ms()
        st = self.state
        return {
            "time_ms": now,
            "clock_speed": self.clock.speed,
            "leverage": {"UM": st.by_unit(st.leverage, "UM"), "CM": st.by_unit(st.leverage, "CM")},
            "margin_type": {"UM": st.by_unit(st.margin_type, "UM"), "CM": st.by_unit(st.margin_type, "CM")},
            "multi_assets": st.multi_assets,
            "dual_side_position": st.dual_side_position,
            "sockets": self.hub.counts(),
            "listen_key_active": {acc: self.keys.active(acc, now) is not None for acc in ACCOUNTS},
        }
