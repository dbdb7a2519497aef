"""Drift between the bot's open trades and the exchange's positions (live mode only), reported with what to do.

Three conditions: a trade Freqtrade holds open whose position is gone (closed outside the bot, or liquidated), a
position no open trade owns, and a position whose amount differs from the trade's record. A trade with an order in
flight is left alone (its amount is changing), and a condition is reported only once it held on two checks at least
``settle`` seconds apart, then once until it clears: Freqtrade's own fills move the position a moment before the trade.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, Final

from ..models import Position
from .messages import num

SETTLE_S: Final = 5.0


class DriftMonitor:
    def __init__(
        self, say: Callable[[str], None], settle: float = SETTLE_S, clock: Callable[[], float] = time.monotonic
    ):
        self._say = say
        self.settle = settle
        """Seconds a condition must hold, seen on two checks, before it is reported."""
        self._clock = clock
        self._seen: dict[tuple[str, str], float] = {}
        """Condition -> when first seen (not yet reported)."""
        self._reported: set[tuple[str, str]] = set()
        self.liquidated: dict[str, Position] = {}
        """Pair -> the position a liquidation closed (set from the position hook)."""
        self.reports = 0

    def check(self, trades: Iterable[Any], positions: Iterable[Position]) -> None:
        """Compare ``trades`` (Freqtrade's open trades) with ``positions`` (the exchange's open ones)."""
        now = self._clock()
        open_now: dict[tuple[str, str], Position] = {}
        for p in positions:
            if p.symbol is not None and p.direction is not None:
                open_now[(p.symbol, p.direction)] = p
        conditions: dict[tuple[str, str], str] = {}
        owned: set[tuple[str, str]] = set()
        for trade in trades:
            pair = str(trade.pair)
            direction = "short" if trade.is_short else "long"
            owned.add((pair, direction))
            if trade.has_open_orders:
                continue
            position = open_now.get((pair, direction))
            if position is None:
                conditions[(f"trade:{trade.id}", "gone")] = self._gone(trade, pair, direction)
            elif abs(Decimal(str(trade.amount)) - abs(position.amount)) > abs(position.amount) * Decimal("1e-6"):
                conditions[(f"trade:{trade.id}", "amount")] = self._amount(trade, pair, position)
        for (pair, direction), position in open_now.items():
            if (pair, direction) not in owned:
                conditions[(f"position:{pair}:{direction}", "orphan")] = self._orphan(pair, position)
        for key, text in conditions.items():
            first = self._seen.setdefault(key, now)
            if key not in self._reported and now - first >= self.settle:
                self._reported.add(key)
                self.reports += 1
                self._say(text)
        for key in [k for k in self._seen if k not in conditions]:  # cleared: may be reported again later
            del self._seen[key]
            self._reported.discard(key)

    def _gone(self, trade: Any, pair: str, direction: str) -> str:
        lost = self.liquidated.get(pair)
        if lost is not None and lost.direction == direction:
            return (
                f"pmbridge: trade #{trade.id} {pair} was LIQUIDATED on Binance: its {direction} position of "
                f"{num(abs(lost.amount))} (entry {num(lost.entry_price)}) is gone, but Freqtrade still holds the "
                f"trade open. Check the account in the app, then close the trade in Freqtrade: "
                f"/forceexit {trade.id} (if no exit order can be placed, /delete {trade.id} removes the record)."
            )
        return (
            f"pmbridge: trade #{trade.id} {pair} is open in Freqtrade, but Binance has no {direction} position on "
            f"{pair}: it was closed outside this bot (the app, another bot, a stop Freqtrade does not track). "
            f"Freqtrade will find nothing to sell at its next exit. Check the account in the app; if the position "
            f"is gone for good, close the trade in Freqtrade: /forceexit {trade.id} (if no exit order can be "
            f"placed, /delete {trade.id} removes the record)."
        )

    @staticmethod
    def _amount(trade: Any, pair: str, position: Position) -> str:
        return (
            f"pmbridge: trade #{trade.id} {pair} holds {num(trade.amount)} in Freqtrade's record, but the "
            f"{position.direction} position on Binance is {num(abs(position.amount))}: part of it was closed or added "
            f"outside this bot. Freqtrade sizes exits and stoplosses from its record; make the position match in the "
            f"app, or close the trade."
        )

    @staticmethod
    def _orphan(pair: str, position: Position) -> str:
        return (
            f"pmbridge: Binance holds a {position.direction} {pair} position of {num(abs(position.amount))} "
            f"(entry {num(position.entry_price)}) that no open trade of this bot owns: it was opened outside this "
            f"bot (the app, another bot on this key), or a trade was closed while its position was not. This bot will "
            f"not manage or exit it; close it in the app if it is not meant to be there."
        )
