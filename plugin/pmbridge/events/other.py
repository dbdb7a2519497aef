"""Every other known user-stream event (orders of other kinds, balances, risk level, ...): passed on, parsed only
when someone reads it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import orjson
from attrs import field, frozen

OTHER_EVENT_TYPES: Final = frozenset(
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
ALIASES: Final = {"RISK_LEVEL_CHANGE": "riskLevelChange"}
"""The PM docs head the section RISK_LEVEL_CHANGE while the frames say riskLevelChange: one name for users."""


@frozen(slots=False)
class OtherEvent:
    """Any other known user-stream event, passed on untouched: its type and time, and ``raw``, the frame's JSON
    object (read-only), parsed when first read. Real streams are mostly such frames: pmbridge itself never reads
    them, so they cost little more than finding their type."""

    event_type: str
    event_time: int | None
    frame: bytes | str = field(hash=False, repr=False)

    @property
    def raw(self) -> Mapping[str, Any]:
        cached = self.__dict__.get("_raw")
        if cached is None:
            try:
                data = orjson.loads(self.frame)
            except orjson.JSONDecodeError:  # a number orjson cannot hold (1e400) in a field decode() did not read
                data = json.loads(self.frame)
            if "e" not in data and "data" in data and "stream" in data:
                data = data["data"]  # the combined-stream envelope
            cached = self.__dict__["_raw"] = MappingProxyType(data)
        return cached
