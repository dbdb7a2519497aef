"""Who changed a leverage: this process (``self``) or anyone else (``external``).

Binance's ACCOUNT_CONFIG_UPDATE does not say who made a change. pmbridge knows what *it* asked for: every
``set_leverage`` it makes (the enforcer), and every one its host bot makes when the host reports it (the Freqtrade
integration taps the ccxt instance Freqtrade trades with) is recorded here first as an *intent*: this symbol, this
value, within ``ttl`` seconds. A change to exactly that value while the intent is pending is ours, and consumes it.

Where it can be wrong: a change made elsewhere (the app, another bot on the key) to the very value this process asked
for, within the window, is taken as ours; a change of ours that Binance reports only after the window (a long
disconnect, found by a later reconcile) is taken as external. Requests that fail are withdrawn by the caller.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

from .const import Unit

DEFAULT_TTL_S: Final = 30.0
"""How long a request may take to come back as an event (the stream usually brings it within milliseconds)."""


class Intents:
    """Thread-safe: hosts record from their own threads, the bridge's loop matches."""

    def __init__(self, ttl: float = DEFAULT_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[tuple[Unit, str], list[tuple[int, float, str]]] = {}
        self.matched = 0
        self.expired = 0

    def __bool__(self) -> bool:
        return bool(self._pending)

    def expect(self, unit: Unit, exchange_symbol: str, leverage: int, who: str) -> None:
        """``who`` (``enforcer``, ``freqtrade``...) is about to ask Binance for ``leverage`` on this symbol."""
        deadline = self._clock() + self.ttl
        with self._lock:
            self._pending.setdefault((unit, exchange_symbol), []).append((int(leverage), deadline, who))

    def withdraw(self, unit: Unit, exchange_symbol: str, leverage: int) -> None:
        """The request failed: no change will come of it."""
        with self._lock:
            pending = self._pending.get((unit, exchange_symbol), [])
            for i, (value, _deadline, _who) in enumerate(pending):
                if value == leverage:
                    del pending[i]
                    break
            if not pending:
                self._pending.pop((unit, exchange_symbol), None)

    def match(self, unit: Unit, exchange_symbol: str, leverage: int) -> str | None:
        """Who asked for this change (the intent is consumed), or None if nobody here did."""
        now = self._clock()
        with self._lock:
            pending = self._pending.get((unit, exchange_symbol))
            if not pending:
                return None
            live = [p for p in pending if p[1] >= now]
            self.expired += len(pending) - len(live)
            found = next((i for i, p in enumerate(live) if p[0] == leverage), None)
            who = None
            if found is not None:
                who = live.pop(found)[2]
                self.matched += 1
            if live:
                self._pending[(unit, exchange_symbol)] = live
            else:
                del self._pending[(unit, exchange_symbol)]
            return who
