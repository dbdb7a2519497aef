"""User data stream frames -> typed events.

``decode`` turns one raw frame of the Portfolio Margin, USDⓈ-M or COIN-M user data stream into a frozen event, or raises
``DecodeError`` naming the offending field. It never raises anything else: the stream feeds it whatever arrives.
Binance's one-letter keys live here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import orjson
from attrs import field, frozen

from ..errors import DecodeError, UnknownEventError
from ..redact import excerpt
from .config import AccountConfigUpdate, ListenKeyExpired, config_update
from .fields import object_field, quote, time_field, unit_of
from .trading import AccountUpdate, OrderUpdate, PositionRow, account_update, order_update

__all__ = [
    "AccountConfigUpdate",
    "AccountUpdate",
    "Event",
    "ListenKeyExpired",
    "OrderUpdate",
    "OtherEvent",
    "PositionRow",
    "decode",
    "unit_of",
]


@frozen(slots=True)
class OtherEvent:
    """Any other known user-stream event (orders, balances, risk level, ...), passed on untouched."""

    event_type: str
    event_time: int | None
    raw: Mapping[str, Any] = field(hash=False, repr=False)


Event = AccountConfigUpdate | ListenKeyExpired | AccountUpdate | OrderUpdate | OtherEvent

_OTHER_EVENT_TYPES: Final = frozenset(
    {
        # Portfolio Margin
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


def decode(frame: bytes | str) -> Event:
    """Decode one user data stream frame.

    Accepts the PM form (with ``fs``), the USDⓈ-M and COIN-M forms (without), and the combined-stream envelope
    ``{"stream": ..., "data": {...}}``. Raises ``DecodeError`` (and only that) naming the field that is wrong;
    ``UnknownEventError``, a ``DecodeError``, for a well-formed frame of an event type nobody documents.
    """
    try:
        data = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        if not isinstance(frame, bytes | str | bytearray | memoryview):
            raise DecodeError("frame", quote(type(frame).__name__), "must be bytes or str") from None
        # The whole frame, not a head cut here: excerpt must see past its own cut to mask a listenKey the cut splits.
        raise DecodeError("frame", excerpt(frame, limit=44), f"is not valid JSON ({exc.msg})") from None
    if type(data) is not dict:
        raise DecodeError("frame", quote(data), "must be a JSON object")
    if "e" not in data and "data" in data and "stream" in data:
        data = object_field(data["data"], "data")

    kind = data.get("e")
    if kind == "ACCOUNT_CONFIG_UPDATE":
        return config_update(data)
    if kind == "listenKeyExpired":
        # The frame may carry the listenKey itself: a secret, deliberately dropped here.
        if "E" not in data:
            raise DecodeError("E", "nothing", "event time is required")
        return ListenKeyExpired(time_field(data["E"], "E"))
    if kind == "ACCOUNT_UPDATE":
        return account_update(data)
    if kind == "ORDER_TRADE_UPDATE":
        return order_update(data)
    if type(kind) is not str:
        raise DecodeError("e", quote(kind), "event type must be a string")
    kind = _ALIASES.get(kind, kind)
    if kind not in _OTHER_EVENT_TYPES:
        raise UnknownEventError(kind, quote(kind))
    raw_e = data.get("E")
    return OtherEvent(kind, None if raw_e is None else time_field(raw_e, "E"), MappingProxyType(data))
