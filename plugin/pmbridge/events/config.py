"""``ACCOUNT_CONFIG_UPDATE`` and ``listenKeyExpired``: the events the leverage book and the stream act on."""

from __future__ import annotations

from typing import Any

import msgspec
from attrs import frozen

from ..const import MAX_LEVERAGE, MIN_LEVERAGE, Unit
from ..errors import DecodeError
from .fields import _UNIT_CACHE, MAX_INT64, MAX_SYMBOL_LEN, int_field, object_field, quote, time_field, unit_of


class AccountConfigUpdate(msgspec.Struct, frozen=True, gc=False):
    """``ACCOUNT_CONFIG_UPDATE``: the leverage of one symbol and/or the multi-assets flag changed.

    A frame with neither ``ac`` nor ``ai`` still decodes (both fields None): it means "the configuration changed",
    and the right answer is a resync.

    The one event built for every leverage frame, so it is a frozen msgspec Struct rather than an attrs class: built
    in C, a third of what attrs' ``__init__`` costs. Same fields, constructor, equality, hash and repr; use
    ``msgspec.structs.asdict`` / ``replace`` where ``attrs.asdict`` / ``evolve`` served.
    """

    unit: Unit
    event_time: int
    transaction_time: int | None
    symbol: str | None
    leverage: int | None
    multi_assets: bool | None


@frozen(slots=True)
class ListenKeyExpired:
    """``listenKeyExpired``: no event flows on this socket until a new key is used. The key itself is not kept."""

    event_time: int


def config_update(data: dict[str, Any]) -> AccountConfigUpdate:
    event_time = data.get("E")
    if event_time is None:
        raise DecodeError("E", "nothing", "event time is required")
    if type(event_time) is not int or not 0 < event_time <= MAX_INT64:  # fast path: a plain int in range
        event_time = time_field(event_time, "E")
    transaction_time = data.get("T")
    if transaction_time is not None and (type(transaction_time) is not int or not 0 < transaction_time <= MAX_INT64):
        transaction_time = time_field(transaction_time, "T")
    hint = data.get("fs")
    if hint is not None and hint not in ("UM", "CM"):
        raise DecodeError("fs", quote(hint), 'business unit must be "UM" or "CM"')

    symbol: str | None = None
    leverage: int | None = None
    unit: Unit | None = None
    ac = data.get("ac")
    if ac is not None:
        if type(ac) is not dict:
            raise DecodeError("ac", quote(ac), "must be a JSON object")
        symbol = ac.get("s")
        # A symbol seen before was validated then: the unit cache doubles as the set of known-good ids.
        unit = _UNIT_CACHE.get(symbol) if type(symbol) is str else None
        if unit is None:
            if type(symbol) is not str or not symbol or len(symbol) > MAX_SYMBOL_LEN or not symbol.isprintable():
                raise DecodeError("ac.s", quote(symbol), "symbol must be a non-empty exchange symbol id")
            if " " in symbol:
                raise DecodeError("ac.s", quote(symbol), "symbol must not contain spaces")
            unit = unit_of(symbol)
        if "l" not in ac:
            raise DecodeError("ac.l", "nothing", "leverage is required with a symbol")
        leverage = ac["l"]
        if type(leverage) is not int or not MIN_LEVERAGE <= leverage <= MAX_LEVERAGE:
            leverage = int_field(leverage, "ac.l", MIN_LEVERAGE, MAX_LEVERAGE, "leverage")

    multi_assets: bool | None = None
    ai = data.get("ai")
    if ai is not None:
        ai = object_field(ai, "ai")
        multi_assets = ai.get("j")
        if type(multi_assets) is not bool:
            raise DecodeError("ai.j", quote(multi_assets), "multi-assets flag must be true or false")

    # fs is only a hint: Binance's own example pairs "UM" with the COIN-M symbol BTCUSD_PERP.
    if unit is None:
        unit = hint if hint is not None else "UM"  # multi-assets mode only exists on USDⓈ-M
    return AccountConfigUpdate(unit, event_time, transaction_time, symbol, leverage, multi_assets)
