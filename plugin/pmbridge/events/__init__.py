"""User data stream frames -> typed events.

``decode`` turns one raw frame of the Portfolio Margin, USDⓈ-M or COIN-M user data stream into a frozen event, or raises
``DecodeError`` naming the offending field. It never raises anything else: the stream feeds it whatever arrives.
Binance's one-letter keys live here and nowhere else: wire.py reads well-formed frames in one msgspec pass,
reference.py checks everything else field by field (and is what the fast path is tested against).
"""

from __future__ import annotations

from .config import AccountConfigUpdate, ListenKeyExpired
from .fields import unit_of
from .other import OtherEvent
from .reference import Event, reference_decode
from .trading import AccountUpdate, OrderUpdate, PositionRow
from .wire import decode

__all__ = [
    "AccountConfigUpdate",
    "AccountUpdate",
    "Event",
    "ListenKeyExpired",
    "OrderUpdate",
    "OtherEvent",
    "PositionRow",
    "decode",
    "reference_decode",
    "unit_of",
]
