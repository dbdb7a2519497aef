"""User data stream frames -> typed events.

``decode`` turns one raw frame of the Portfolio Margin, USDⓈ-M or COIN-M user data stream into a frozen event, or raises
``DecodeError`` naming the offending field. It never raises anything else: the stream feeds it whatever arrives.
Binance's one-letter keys live here and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import orjson
from attrs import field, frozen

from .const import MAX_LEVERAGE, MIN_LEVERAGE, Unit
from .errors import DecodeError, UnknownEventError
from .redact import excerpt

__all__ = ["AccountConfigUpdate", "Event", "ListenKeyExpired", "OtherEvent", "decode", "unit_of"]

_MAX_INT64: Final = 2**63 - 1
_MAX_SYMBOL_LEN: Final = 40
_CM_SYMBOL: Final = re.compile(r"[A-Z0-9]+USD_(?:PERP|\d{6})")


# Events are created per frame and dropped soon after: a dict-backed frozen class builds ~35% faster than a slotted
# one (attrs writes its __dict__ directly), which matters on the hot path more than the bytes.
@frozen(slots=False)
class AccountConfigUpdate:
    """``ACCOUNT_CONFIG_UPDATE``: the leverage of one symbol and/or the multi-assets flag changed.

    A frame with neither ``ac`` nor ``ai`` still decodes (both fields None): it means "the configuration changed",
    and the right answer is a resync.
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


@frozen(slots=True)
class OtherEvent:
    """Any other known user-stream event (orders, balances, risk level, ...), passed on untouched."""

    event_type: str
    event_time: int | None
    raw: Mapping[str, Any] = field(hash=False, repr=False)


Event = AccountConfigUpdate | ListenKeyExpired | OtherEvent

_OTHER_EVENT_TYPES: Final = frozenset(
    {
        # Portfolio Margin
        "ACCOUNT_UPDATE",
        "ORDER_TRADE_UPDATE",
        "CONDITIONAL_ORDER_TRADE_UPDATE",
        "ALGO_UPDATE",
        "riskLevelChange",
        "openOrderLoss",
        "liabilityChange",
        "outboundAccountPosition",
        "balanceUpdate",
        "executionReport",
        "listStatus",
        "externalLockUpdate",
        # USDⓈ-M and COIN-M futures streams share the decoder
        "MARGIN_CALL",
        "TRADE_LITE",
        "STRATEGY_UPDATE",
        "GRID_UPDATE",
        "CONDITIONAL_ORDER_TRIGGER_REJECT",
    }
)
# The PM docs head the section RISK_LEVEL_CHANGE while the frames say riskLevelChange: one name for users.
_ALIASES: Final = {"RISK_LEVEL_CHANGE": "riskLevelChange"}


_UNIT_CACHE: dict[str, Unit] = {}
_UNIT_CACHE_MAX: Final = 50_000  # Binance lists a few thousand derivatives; a flood of junk symbols must not grow it


def unit_of(symbol: str) -> Unit:
    """The business unit a symbol belongs to, by its shape (``BTCUSD_PERP`` and ``BTCUSD_250627`` are COIN-M).

    Market metadata, when loaded, is the better authority; the coordinator corrects with it.
    """
    unit = _UNIT_CACHE.get(symbol)
    if unit is None:
        unit = "CM" if _CM_SYMBOL.fullmatch(symbol) else "UM"
        if len(_UNIT_CACHE) >= _UNIT_CACHE_MAX:
            _UNIT_CACHE.clear()
        _UNIT_CACHE[symbol] = unit
    return unit


class _Elided:
    def __repr__(self) -> str:
        return "..."


_ELIDED: Final = _Elided()
_QUOTED_LEVELS: Final = 8


def _quote(value: object) -> str:
    """``excerpt(value)`` for an error message, safe for anything orjson returns.

    orjson accepts 1023 levels of nesting, while ``repr`` gives up with RecursionError near Python's recursion limit
    (1000 frames, fewer when decode runs deep in a call stack): containers are cut to their first levels before the
    ``repr``. A 60-character excerpt shows fewer levels than that anyway.
    """
    return excerpt(_shallow(value, _QUOTED_LEVELS))


def _shallow(value: object, levels: int) -> object:
    if type(value) is list:
        return [_shallow(item, levels - 1) for item in value] if levels else [_ELIDED]
    if type(value) is dict:
        return {key: _shallow(item, levels - 1) for key, item in value.items()} if levels else {_ELIDED: _ELIDED}
    return value


def _int(value: object, name: str, low: int, high: int, what: str) -> int:
    # bool is an int subclass; True must not pass as 1.
    if type(value) is int:
        number = value
    elif type(value) is str and value.isascii() and value.isdigit() and len(value) <= 19:
        number = int(value)
    else:
        raise DecodeError(name, _quote(value), f"{what} must be an integer or a numeric string")
    if number < low or number > high:
        raise DecodeError(name, _quote(value), f"{what} must be between {low} and {high}")
    return number


def _time(value: object, name: str) -> int:
    return _int(value, name, 1, _MAX_INT64, "time in milliseconds")


def _object(value: object, name: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise DecodeError(name, _quote(value), "must be a JSON object")
    return value


def _config_update(data: dict[str, Any]) -> AccountConfigUpdate:
    event_time = data.get("E")
    if event_time is None:
        raise DecodeError("E", "nothing", "event time is required")
    if type(event_time) is not int or not 0 < event_time <= _MAX_INT64:  # fast path: a plain int in range
        event_time = _time(event_time, "E")
    transaction_time = data.get("T")
    if transaction_time is not None and (type(transaction_time) is not int or not 0 < transaction_time <= _MAX_INT64):
        transaction_time = _time(transaction_time, "T")
    hint = data.get("fs")
    if hint is not None and hint not in ("UM", "CM"):
        raise DecodeError("fs", _quote(hint), 'business unit must be "UM" or "CM"')

    symbol: str | None = None
    leverage: int | None = None
    unit: Unit | None = None
    ac = data.get("ac")
    if ac is not None:
        if type(ac) is not dict:
            raise DecodeError("ac", _quote(ac), "must be a JSON object")
        symbol = ac.get("s")
        # A symbol seen before was validated then: the unit cache doubles as the set of known-good ids.
        unit = _UNIT_CACHE.get(symbol) if type(symbol) is str else None
        if unit is None:
            if type(symbol) is not str or not symbol or len(symbol) > _MAX_SYMBOL_LEN or not symbol.isprintable():
                raise DecodeError("ac.s", _quote(symbol), "symbol must be a non-empty exchange symbol id")
            if " " in symbol:
                raise DecodeError("ac.s", _quote(symbol), "symbol must not contain spaces")
            unit = unit_of(symbol)
        if "l" not in ac:
            raise DecodeError("ac.l", "nothing", "leverage is required with a symbol")
        leverage = ac["l"]
        if type(leverage) is not int or not MIN_LEVERAGE <= leverage <= MAX_LEVERAGE:
            leverage = _int(leverage, "ac.l", MIN_LEVERAGE, MAX_LEVERAGE, "leverage")

    multi_assets: bool | None = None
    ai = data.get("ai")
    if ai is not None:
        ai = _object(ai, "ai")
        multi_assets = ai.get("j")
        if type(multi_assets) is not bool:
            raise DecodeError("ai.j", _quote(multi_assets), "multi-assets flag must be true or false")

    # fs is only a hint: Binance's own example pairs "UM" with the COIN-M symbol BTCUSD_PERP.
    if unit is None:
        unit = hint if hint is not None else "UM"  # multi-assets mode only exists on USDⓈ-M
    return AccountConfigUpdate(unit, event_time, transaction_time, symbol, leverage, multi_assets)


def decode(frame: bytes | str) -> AccountConfigUpdate | ListenKeyExpired | OtherEvent:
    """Decode one user data stream frame.

    Accepts the PM form (with ``fs``), the USDⓈ-M and COIN-M forms (without), and the combined-stream envelope
    ``{"stream": ..., "data": {...}}``. Raises ``DecodeError`` (and only that) naming the field that is wrong;
    ``UnknownEventError``, a ``DecodeError``, for a well-formed frame of an event type nobody documents.
    """
    try:
        data = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        if not isinstance(frame, bytes | str | bytearray | memoryview):
            raise DecodeError("frame", _quote(type(frame).__name__), "must be bytes or str") from None
        # The whole frame, not a head cut here: excerpt must see past its own cut to mask a listenKey the cut splits.
        raise DecodeError("frame", excerpt(frame, limit=44), f"is not valid JSON ({exc.msg})") from None
    if type(data) is not dict:
        raise DecodeError("frame", _quote(data), "must be a JSON object")
    if "e" not in data and "data" in data and "stream" in data:
        data = _object(data["data"], "data")

    kind = data.get("e")
    if kind == "ACCOUNT_CONFIG_UPDATE":
        return _config_update(data)
    if kind == "listenKeyExpired":
        # The frame may carry the listenKey itself: a secret, deliberately dropped here.
        if "E" not in data:
            raise DecodeError("E", "nothing", "event time is required")
        return ListenKeyExpired(_time(data["E"], "E"))
    if type(kind) is not str:
        raise DecodeError("e", _quote(kind), "event type must be a string")
    kind = _ALIASES.get(kind, kind)
    if kind not in _OTHER_EVENT_TYPES:
        raise UnknownEventError(kind, _quote(kind))
    raw_e = data.get("E")
    return OtherEvent(kind, None if raw_e is None else _time(raw_e, "E"), MappingProxyType(data))
