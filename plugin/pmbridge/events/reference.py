"""The reference decoder: every check written out in Python, each naming the field it rejects.

``decode`` (events/wire.py) answers most frames on a faster path and hands the rest here; for every frame the two
must give the same event or the same error.
"""

from __future__ import annotations

import orjson

from ..errors import DecodeError, UnknownEventError
from ..redact import excerpt
from .config import AccountConfigUpdate, ListenKeyExpired, config_update
from .fields import object_field, quote, time_field
from .other import ALIASES, OTHER_EVENT_TYPES, OtherEvent
from .trading import AccountUpdate, OrderUpdate, account_update, order_update

Event = AccountConfigUpdate | ListenKeyExpired | AccountUpdate | OrderUpdate | OtherEvent


def reference_decode(frame: bytes | str) -> Event:
    """Decode one user data stream frame, every check in Python: the reference ``decode``'s fast path must agree with.

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
    kind = ALIASES.get(kind, kind)
    if kind not in OTHER_EVENT_TYPES:
        raise UnknownEventError(kind, quote(kind))
    raw_e = data.get("E")
    return OtherEvent(kind, None if raw_e is None else time_field(raw_e, "E"), frame)
