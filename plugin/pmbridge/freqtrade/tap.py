"""LeverageTap: how pmbridge knows a leverage change came from the bot itself (``origin`` ``self``).

In live mode Freqtrade sets a pair's leverage before every entry, DCA and stoploss-on-exchange order
(``Exchange._set_leverage``, which calls ``set_leverage`` on its synchronous ccxt object, ``exchange._api``; that is
its only way to change leverage, from the bot thread or an RPC thread under its lock). The tap wraps that one method
of that one ccxt object: each request is recorded as an intent before it goes out, and withdrawn if it fails. No
Freqtrade class or module is touched; ``remove()`` puts the method back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..const import Unit
from ..origin import Intents

log = logging.getLogger("pmbridge.freqtrade")


class LeverageTap:
    def __init__(self, api: Any, intents: Callable[[], Intents | None]) -> None:
        """``api`` is Freqtrade's ccxt object; ``intents`` finds the running bridge's intent log (None until then)."""
        self._api = api
        self._intents = intents
        self._original: Callable[..., Any] | None = None
        self.recorded = 0

    def install(self) -> bool:
        original = getattr(self._api, "set_leverage", None)
        if original is None or self._original is not None:
            return False
        self._original = original

        def set_leverage(leverage: Any, symbol: str | None = None, params: Any = None) -> Any:
            target = self._target(symbol, leverage)
            if target is not None:
                self.recorded += 1
            try:
                return original(leverage, symbol, params if params is not None else {})
            except Exception:
                if target is not None:
                    intents, unit, exchange_id, value = target
                    intents.withdraw(unit, exchange_id, value)
                raise

        set_leverage.__doc__ = "ccxt's set_leverage, recorded by pmbridge as this bot's own (origin 'self')."
        self._api.set_leverage = set_leverage
        return True

    def _target(self, symbol: str | None, leverage: Any) -> tuple[Intents, Unit, str, int] | None:
        intents = self._intents()
        if intents is None or symbol is None:
            return None
        try:
            market = self._api.market(symbol)
            value = int(leverage)
        except Exception:  # an unknown symbol or a bad value: ccxt itself will refuse it
            return None
        unit: Unit = "CM" if market.get("inverse") else "UM"
        exchange_id = str(market["id"])
        intents.expect(unit, exchange_id, value, "freqtrade")
        return intents, unit, exchange_id, value

    def remove(self) -> None:
        if self._original is not None:
            try:
                del self._api.set_leverage  # the instance attribute: the class's method shows through again
            except AttributeError:
                self._api.set_leverage = self._original
            self._original = None
