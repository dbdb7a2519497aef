"""LeverageTap: how pmbridge knows a leverage change came from the bot itself, and the one request it holds back.

In live mode Freqtrade sets a pair's leverage before every entry, DCA and stoploss-on-exchange order
(``Exchange._set_leverage``, which calls ``set_leverage`` on its synchronous ccxt object, ``exchange._api``; that is
its only way to change leverage, from the bot thread or an RPC thread under its lock). The tap wraps that one method
of that one ccxt object: each request is recorded as an intent before it goes out (``origin`` ``self``), and
withdrawn if it fails. No Freqtrade class or module is touched; ``remove()`` puts the method back.

One request is not sent: lowering the leverage of a pair whose *isolated* position is open, for a trade Freqtrade
holds on it. Binance always refuses that (-4161); ccxt 4.5 does not map the code for USDⓈ-M, so Freqtrade treats the
refusal as an error it does not tolerate even where it accepts leverage failures, and drops the order it was for: a
stoploss being replaced is then already cancelled and never placed again. Not sending changes nothing on the
exchange (the position keeps its leverage either way) and keeps the trade's stop; the user is told, once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..const import Unit

if TYPE_CHECKING:
    from ..bridge import Bridge

log = logging.getLogger("pmbridge.freqtrade")


class LeverageTap:
    def __init__(
        self,
        api: Any,
        bridge: Callable[[], Bridge | None],
        open_trade_ids: Callable[[str], Sequence[int]],
        say: Callable[[str], None],
    ) -> None:
        """``api`` is Freqtrade's ccxt object; ``bridge`` finds the running bridge (None until it runs);
        ``open_trade_ids(pair)`` lists Freqtrade's open trades on a pair; ``say`` tells the user."""
        self._api = api
        self._bridge = bridge
        self._open_trade_ids = open_trade_ids
        self._say = say
        self._original: Callable[..., Any] | None = None
        self._told: set[tuple[str, int, int]] = set()
        self.recorded = 0
        self.held_back = 0

    def install(self) -> bool:
        original = getattr(self._api, "set_leverage", None)
        if original is None or self._original is not None:
            return False
        self._original = original

        def set_leverage(leverage: Any, symbol: str | None = None, params: Any = None) -> Any:
            target = self._target(symbol, leverage)
            if target is not None:
                unit, exchange_id, value = target
                held = self._hold_back(str(symbol), unit, exchange_id, value)
                if held is not None:
                    return held
                self._record(unit, exchange_id, value)
            try:
                return original(leverage, symbol, params if params is not None else {})
            except Exception:
                bridge = self._bridge()
                if target is not None and bridge is not None:
                    bridge.intents.withdraw(*target)
                raise

        set_leverage.__doc__ = "ccxt's set_leverage, recorded by pmbridge as this bot's own (origin 'self')."
        self._api.set_leverage = set_leverage
        return True

    def _target(self, symbol: str | None, leverage: Any) -> tuple[Unit, str, int] | None:
        if symbol is None:
            return None
        try:
            market = self._api.market(symbol)
            value = int(leverage)
        except Exception:  # an unknown symbol or a bad value: ccxt itself will refuse it
            return None
        unit: Unit = "CM" if market.get("inverse") else "UM"
        return unit, str(market["id"]), value

    def _record(self, unit: Unit, exchange_id: str, value: int) -> None:
        bridge = self._bridge()
        if bridge is not None:
            self.recorded += 1
            bridge.intents.expect(unit, exchange_id, value, "freqtrade")

    def _hold_back(self, pair: str, unit: Unit, exchange_id: str, value: int) -> dict[str, Any] | None:
        """The answer to give instead of sending a reduction Binance will refuse (see the module), or None."""
        bridge = self._bridge()
        if bridge is None or not bridge.available:
            return None
        current = bridge.book.leverage(exchange_id, unit)
        positions = bridge.positions.open_positions(exchange_id)
        if current is None or value >= current or not any(p.margin_type == "isolated" for p in positions):
            return None
        trades = list(self._open_trade_ids(pair))
        if not trades:
            return None  # a new entry on a pair with a position it does not own: let Binance answer
        self.held_back += 1
        key = (pair, current, value)
        if key not in self._told:
            self._told.add(key)
            first = trades[0]
            self._say(
                f"pmbridge did not send Freqtrade's request to set {pair} to {value}x before its next stoploss or DCA "
                f"order: Binance refuses to lower the leverage of an open isolated position (-4161), and that refusal "
                f"would make Freqtrade drop the order, leaving trade #{first} without its stoploss on the exchange. "
                f"The position keeps {current}x until it is closed; Freqtrade still records {value}x. To trade at "
                f"{value}x again, close the trade (/forceexit {first})."
            )
        log.info("pmbridge: held back set_leverage(%s, %s): Binance would refuse it (-4161)", value, pair)
        return {"symbol": exchange_id, "leverage": current, "pmbridge": "not sent: Binance refuses it (-4161)"}

    def remove(self) -> None:
        if self._original is not None:
            try:
                del self._api.set_leverage  # the instance attribute: the class's method shows through again
            except AttributeError:
                self._api.set_leverage = self._original
            self._original = None
