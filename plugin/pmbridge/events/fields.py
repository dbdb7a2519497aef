"""Field checks shared by the decoders: each turns one wire value into a typed one or raises DecodeError naming it."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from ..const import Unit
from ..errors import DecodeError
from ..redact import excerpt

MAX_INT64: Final = 2**63 - 1
MAX_SYMBOL_LEN: Final = 40
_CM_SYMBOL: Final = re.compile(r"[A-Z0-9]+USD_(?:PERP|\d{6})")
_DECIMAL: Final = re.compile(r"-?\d{1,30}(?:\.\d{1,30})?")


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


def quote(value: object) -> str:
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


def int_field(value: object, name: str, low: int, high: int, what: str) -> int:
    # bool is an int subclass; True must not pass as 1.
    if type(value) is int:
        number = value
    elif type(value) is str and value.isascii() and value.isdigit() and len(value) <= 19:
        number = int(value)
    else:
        raise DecodeError(name, quote(value), f"{what} must be an integer or a numeric string")
    if number < low or number > high:
        raise DecodeError(name, quote(value), f"{what} must be between {low} and {high}")
    return number


def time_field(value: object, name: str) -> int:
    return int_field(value, name, 1, MAX_INT64, "time in milliseconds")


def object_field(value: object, name: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise DecodeError(name, quote(value), "must be a JSON object")
    return value


ZERO: Final = Decimal(0)


def decimal_text(value: str) -> Decimal | None:
    """A decimal number written as Binance writes them ("-0.012", no exponent, at most 30 digits either side), or
    None if ``value`` is not one."""
    if value == "0":
        return ZERO  # most fields of most order updates; a Decimal is immutable, so one instance serves all
    return Decimal(value) if _DECIMAL.fullmatch(value) else None


def decimal_field(value: object, name: str) -> Decimal:
    """A decimal number sent as a string (Binance's way) or a plain JSON number; never NaN, never an exponent."""
    if type(value) is str:
        number = decimal_text(value)
        if number is not None:
            return number
    elif type(value) is int and -MAX_INT64 <= value <= MAX_INT64:
        return Decimal(value)
    if type(value) is float and math.isfinite(value) and abs(value) < 1e30:
        try:
            return Decimal(repr(value))
        except InvalidOperation:
            pass
    raise DecodeError(name, quote(value), "must be a decimal number or a numeric string")


def is_text(value: str, *, allow_empty: bool = False, limit: int = 64) -> bool:
    """A short printable string, what every text field of a frame must be."""
    return (allow_empty or value != "") and len(value) <= limit and value.isprintable()


def text_field(value: object, name: str, *, allow_empty: bool = False, limit: int = 64) -> str:
    if type(value) is not str or not is_text(value, allow_empty=allow_empty, limit=limit):
        raise DecodeError(name, quote(value), "must be a short printable string")
    return value


def symbol_field(value: object, name: str) -> str:
    if type(value) is not str or not value or len(value) > MAX_SYMBOL_LEN or not value.isprintable() or " " in value:
        raise DecodeError(name, quote(value), "symbol must be a non-empty exchange symbol id")
    return value


def bool_field(value: object, name: str) -> bool:
    if type(value) is not bool:
        raise DecodeError(name, quote(value), "must be true or false")
    return value


def list_field(value: object, name: str) -> list[Any]:
    if type(value) is not list:
        raise DecodeError(name, quote(value), "must be a JSON array")
    return value
