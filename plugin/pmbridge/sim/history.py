"""The true history of the account: every value each leverage and the multi-assets flag has had, in order.

A client may miss changes (nothing sent during a gap is ever redelivered), but every value it announces must be one of
these, in this order, and a pushed value must carry the event time it was pushed with. Chaos runs check exactly that.
The first record of each setting is the value the account started with (no event time); each later one is a change,
recorded with the ``E`` and ``T`` of the ACCOUNT_CONFIG_UPDATE it caused, whether or not any socket was there to get it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Final

from .markets import Catalogue, Unit

HISTORY_LIMIT: Final = 10_000
"""Records kept per setting; past it the oldest go (a long demo must not grow without bound)."""


@dataclass(frozen=True, slots=True)
class Record:
    event_ms: int | None
    """``E`` of the pushed event; None for the value the account started with."""
    transaction_ms: int | None
    value: int | bool

    def view(self) -> dict[str, Any]:
        return {"E": self.event_ms, "T": self.transaction_ms, "value": self.value}


class History:
    """Appended to by the engine at the moment a change is stamped, so records are in event-time order."""

    def __init__(self, catalogue: Catalogue, initial_leverage: dict[str, int], initial_multi_assets: bool) -> None:
        self._catalogue = catalogue
        self._initial_leverage = dict(initial_leverage)
        self._leverage: dict[str, deque[Record]] = {}
        self._multi_assets: deque[Record] = deque([Record(None, None, initial_multi_assets)], maxlen=HISTORY_LIMIT)

    def record_leverage(self, symbol: str, event_ms: int, transaction_ms: int, leverage: int) -> None:
        records = self._leverage.get(symbol)
        if records is None:
            # Created on the first change: 5,000 untouched symbols cost nothing.
            initial = Record(None, None, self._initial_leverage[symbol])
            records = self._leverage[symbol] = deque([initial], maxlen=HISTORY_LIMIT)
        records.append(Record(event_ms, transaction_ms, leverage))

    def record_multi_assets(self, event_ms: int, transaction_ms: int, enabled: bool) -> None:
        self._multi_assets.append(Record(event_ms, transaction_ms, enabled))

    def leverage(self, symbol: str) -> tuple[Record, ...]:
        records = self._leverage.get(symbol)
        if records is None:
            return (Record(None, None, self._initial_leverage[symbol]),)
        return tuple(records)

    def multi_assets(self) -> tuple[Record, ...]:
        return tuple(self._multi_assets)

    def view(self) -> dict[str, Any]:
        """``GET /_sim/history``: ``{"leverage": {unit: {symbol: [{E, T, value}, ...]}}, "multi_assets": [...]}``."""
        units: tuple[Unit, ...] = ("UM", "CM")
        return {
            "leverage": {
                unit: {s: [r.view() for r in self.leverage(s)] for s in self._catalogue.symbols(unit)} for unit in units
            },
            "multi_assets": [r.view() for r in self._multi_assets],
        }
