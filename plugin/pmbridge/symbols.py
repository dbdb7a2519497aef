"""Binance exchange ids <-> ccxt unified symbols, from ccxt's loaded markets.

``BTCUSDT`` is both a spot and a USDⓈ-M id, so look-ups always go through the derivative market type: only swap and
future markets are mapped, linear ones to ``UM`` and inverse ones to ``CM``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .const import Unit
from .events import AccountConfigUpdate, unit_of


class SymbolMap:
    """Two-way map between ``(unit, exchange id)`` and unified symbols. Immutable once built."""

    __slots__ = ("_by_id", "_by_unified")

    def __init__(self, pairs: Iterable[tuple[Unit, str, str]]) -> None:
        self._by_id: dict[tuple[Unit, str], str] = {}
        self._by_unified: dict[str, tuple[Unit, str]] = {}
        for unit, exchange_id, unified in pairs:
            self._by_id[(unit, exchange_id)] = unified
            self._by_unified[unified] = (unit, exchange_id)

    @classmethod
    def from_ccxt_markets(cls, markets: Mapping[str, Mapping[str, Any]]) -> SymbolMap:
        """Build from ``exchange.markets`` after ``load_markets()``."""
        pairs: list[tuple[Unit, str, str]] = []
        for unified, market in markets.items():
            if not (market.get("swap") or market.get("future")):
                continue
            unit: Unit = "CM" if market.get("inverse") else "UM"
            pairs.append((unit, str(market["id"]), unified))
        return cls(pairs)

    def unified(self, unit: Unit, exchange_id: str) -> str | None:
        return self._by_id.get((unit, exchange_id))

    def exchange_id(self, unified: str) -> tuple[Unit, str] | None:
        return self._by_unified.get(unified)

    def key(self, symbol: str, unit: Unit | None = None) -> tuple[Unit, str] | None:
        """The books' key of ``symbol``, a unified symbol or an exchange id (its unit from ``unit`` or the markets);
        None for a unified symbol no derivative market has."""
        if "/" in symbol:
            return self._by_unified.get(symbol)
        return (unit or self.unit_of(symbol), symbol)

    def unit_of(self, exchange_id: str) -> Unit:
        """Market metadata first, the symbol's shape second (PROTOCOL.md: ``fs`` is only a hint)."""
        if ("UM", exchange_id) in self._by_id:
            return "UM"
        if ("CM", exchange_id) in self._by_id:
            return "CM"
        return unit_of(exchange_id)

    def corrected(self, event: AccountConfigUpdate) -> AccountConfigUpdate:
        """``event`` with the unit the markets say (``fs`` and the symbol's shape are only hints)."""
        if event.symbol is not None:
            unit = self.unit_of(event.symbol)
            if unit != event.unit:
                return AccountConfigUpdate(
                    unit, event.event_time, event.transaction_time, event.symbol, event.leverage, event.multi_assets
                )
        return event

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, unified: object) -> bool:
        return unified in self._by_unified
