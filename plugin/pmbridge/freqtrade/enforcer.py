"""The enforce policy and the caps: set a symbol's leverage back through ccxt, rate-limited and loop-protected.

Runs on the bridge's loop: its hook (on pmbridge's hook thread) only schedules ``check`` there. Under ``enforce`` a
change away from the strategy's leverage is set back; under any policy a value outside
``min_leverage``/``max_leverage`` is set back inside. After
``enforce_max_reverts`` set-backs of one pair within ``enforce_window`` seconds pmbridge stops fighting whoever keeps
changing it, and says so.

Only external changes are fought: a value the host bot itself set (Freqtrade re-sends a trade's entry leverage
before its DCA and stoploss orders: origin ``self``) is left alone until someone else changes it.

Binance refuses to lower the leverage of an open isolated position (-4161): then pmbridge says so once and waits for
the position to close (or the leverage to change again) instead of asking every bot loop.

In a dry run nothing is written, as Freqtrade writes nothing then (users try strategies in dry run with their real
keys): each set-back it would make is said once per exchange value, and not sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from ..errors import ExchangeError
from ..models import LeverageChange
from .settings import FreqtradeSettings

if TYPE_CHECKING:
    from ..bridge import Bridge

log = logging.getLogger(__name__)

ISOLATED_REDUCTION_REFUSED: Final = -4161
"""Binance: "Leverage reduction is not supported in Isolated Margin Mode with open positions"."""


class Enforcer:
    def __init__(
        self,
        settings: FreqtradeSettings,
        bridge: Callable[[], Bridge | None],
        target: Callable[[str], float | None],
        tradeable: Callable[[str], bool],
        say: Callable[[str], None],
        schedule: Callable[..., object],
        dry_run: bool,
    ) -> None:
        """``schedule(callback, *args)`` runs a callback on the bridge's loop (``BridgeThread.call_soon``);
        ``dry_run`` says what would be set back instead of setting it."""
        self.settings = settings
        self.dry_run = dry_run
        self._schedule = schedule
        self._bridge = bridge
        self._target = target
        self._tradeable = tradeable
        self._say = say
        self._reverts: dict[str, deque[float]] = {}
        self._last_attempt: dict[str, float] = {}
        self._pending: set[str] = set()
        self._recheck: set[str] = set()
        self._unconfirmed: dict[str, int] = {}
        """Pairs set back whose confirmation the stream has not brought yet: the book entry's receipt position
        (``seq``) when the set-back was sent. Binance answers the REST call and pushes the event independently, so
        the answer often comes first; until the book moves, the old value there is not a reason to set it again."""
        self._blocked: dict[str, tuple[int, bool]] = {}
        """Pairs whose set-back Binance refused while their isolated position is open: the book entry's ``seq`` and
        whether a position was open then. Tried again once either changes."""
        self.given_up: set[str] = set()
        self.set_backs = 0
        self._not_written: dict[str, tuple[int, int]] = {}
        """Dry run: per pair, the (exchange value, set-back) last said and not written, so it is said once."""
        self._own: dict[str, bool] = {}
        """Per pair: whether the latest change was this process's own (then it is not set back)."""

    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
        if change.symbol is None:
            return
        self._own[change.symbol] = change.origin == "self"
        if change.origin == "external":
            self._schedule(self.check, change.symbol)

    def wanted(self, pair: str, current: int) -> int | None:
        """The leverage pmbridge should set for ``pair`` now, or None to leave it."""
        policy, _leverage, low, high = self.settings.for_pair(pair)
        target = self._target(pair) if policy == "enforce" else None
        if target is None and low <= current <= high:
            return None
        value = current if target is None else target
        wanted = round(min(max(value, low), high))
        return None if wanted == current else wanted

    def may_act(self, pair: str) -> bool:
        """Whether ``check(pair)`` could set anything back now: read from any thread (the book is lock-free), so the
        bot's loop schedules a check on the bridge's loop only when there is something to look at."""
        bridge = self._bridge()
        entry = None if bridge is None else bridge.book.get(pair)
        return entry is not None and self.wanted(pair, entry.leverage) is not None

    def check(self, pair: str) -> None:
        """Look at ``pair`` in the book and set it back if the policy or the caps say so (on the bridge's loop)."""
        bridge = self._bridge()
        if bridge is None or not self._tradeable(pair) or pair in self.given_up or self._own.get(pair):
            return
        if pair in self._pending:
            self._recheck.add(pair)  # a change that lands while a set-back is in flight is looked at right after
            return
        entry = bridge.book.get(pair)
        if entry is None:
            return
        if self._unconfirmed.get(pair) == entry.seq:
            return  # our own set-back is on its way through the stream; anything newer would have moved seq
        self._unconfirmed.pop(pair, None)
        if pair in self._blocked:
            if self._blocked[pair] == (entry.seq, self._position_open(bridge, pair)):
                return  # Binance refused it for this position, which is still open: asking again changes nothing
            del self._blocked[pair]
        wanted = self.wanted(pair, entry.leverage)
        if wanted is None:
            self._not_written.pop(pair, None)
            return
        if self.dry_run:
            self._say_not_written(pair, entry.leverage, wanted)
            return
        now = time.monotonic()
        window = self._reverts.setdefault(pair, deque())
        while window and now - window[0] > self.settings.enforce_window:
            window.popleft()
        if len(window) >= self.settings.enforce_max_reverts:
            self.given_up.add(pair)
            self._say(
                f"pmbridge stopped enforcing {pair}: its leverage was changed away {len(window)} times within "
                f"{self.settings.enforce_window:.0f} s after being set back. Someone or something keeps changing it; "
                f"pmbridge now only alerts for this pair until the bot restarts. Find the other writer (another bot, "
                f"the app) before restarting."
            )
            return
        delay = max(0.0, self._last_attempt.get(pair, -1e9) + self.settings.enforce_min_interval - now)
        self._pending.add(pair)
        asyncio.get_running_loop().create_task(self._set_back(bridge, pair, wanted, delay))

    def _why(self, pair: str) -> str:
        policy = self.settings.for_pair(pair)[0]
        return "policy enforce" if policy == "enforce" else "outside the configured min/max leverage"

    def _say_not_written(self, pair: str, current: int, wanted: int) -> None:
        if self._not_written.get(pair) == (current, wanted):
            return
        self._not_written[pair] = (current, wanted)
        self._say(
            f"pmbridge dry run: would set {pair} leverage back {current}x -> {wanted}x on the exchange "
            f"({self._why(pair)}), not written: a dry run never writes to the exchange, so Binance keeps {current}x. "
            f"Dry-run entries are not affected (leverage() answers as in live trading); to have {wanted}x on the "
            f"exchange, set it in the app."
        )

    @staticmethod
    def _position_open(bridge: Bridge, pair: str) -> bool:
        found = bridge.book.symbols.exchange_id(pair) if bridge.book.symbols else None
        return found is not None and bridge.positions.has_open(*found)

    async def _set_back(self, bridge: Bridge, pair: str, wanted: int, delay: float) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
                # Put right meanwhile (Freqtrade re-sends the trade's leverage before its stoploss orders)? Look again.
                entry = bridge.book.get(pair)
                still = None if entry is None or self._own.get(pair) else self.wanted(pair, entry.leverage)
                if still is None:
                    return
                wanted = still
            found = bridge.book.symbols.exchange_id(pair) if bridge.book.symbols else None
            if found is None or self.dry_run:  # check() stops a dry run first; the one write refuses it too
                return
            unit, exchange_symbol = found
            self._last_attempt[pair] = time.monotonic()
            self._reverts.setdefault(pair, deque()).append(time.monotonic())
            before = bridge.book.get(pair)
            old = None if before is None else before.leverage
            await bridge.set_leverage(unit, exchange_symbol, wanted, who="enforcer")
            after = bridge.book.get(pair)
            if before is not None and after is not None and after.seq == before.seq:
                self._unconfirmed[pair] = after.seq
            self.set_backs += 1
            self._say(f"pmbridge set {pair} leverage back {old}x -> {wanted}x on the exchange ({self._why(pair)})")
        except ExchangeError as exc:
            entry = bridge.book.get(pair)
            if exc.code == ISOLATED_REDUCTION_REFUSED and entry is not None:
                self._reverts[pair].pop()  # not a fight with another writer: nothing was changed
                self._blocked[pair] = (entry.seq, self._position_open(bridge, pair))
                self._say(
                    f"pmbridge cannot set {pair} leverage back to {wanted}x while its isolated position is open: "
                    f"Binance refuses to lower the leverage of an open isolated position (-4161). The position keeps "
                    f"{entry.leverage}x until it is closed; pmbridge sets {wanted}x then."
                )
                return
            self._say(f"pmbridge could not set {pair} leverage to {wanted}x: {exc}")
        finally:
            self._pending.discard(pair)
            if pair in self._recheck:
                self._recheck.discard(pair)
                self.check(pair)
