"""Form parameters -> typed values, refusing malformed ones the way Binance does (-1102 missing, -1100 illegal
characters, -1117 side, -1116 order type, -1130 bad value). Unknown parameters are ignored, as ccxt leaks some."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Final

from ..errors import BinanceError, missing_param
from ..venue.model import PositionSide, Side
from ..venue.requests import AlgoRequest, OrderRequest

_DECIMAL: Final = re.compile(r"^\d+(\.\d+)?$")


def require(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise missing_param(name)
    return value


def decimal(params: Mapping[str, str], name: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not _DECIMAL.match(raw):
        raise BinanceError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'.",
        )
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'.") from None


def integer(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.")
    return int(raw)


def boolean(params: Mapping[str, str], name: str) -> bool | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    lowered = raw.lower()
    if lowered not in ("true", "false"):
        raise BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.")
    return lowered == "true"


def side(params: Mapping[str, str]) -> Side:
    value = require(params, "side")
    if value not in ("BUY", "SELL"):
        raise BinanceError(-1117, "Invalid side.")
    return "BUY" if value == "BUY" else "SELL"


def position_side(params: Mapping[str, str]) -> PositionSide:
    value = params.get("positionSide") or "BOTH"
    if value not in ("BOTH", "LONG", "SHORT"):
        raise BinanceError(-4060, "Invalid position side.")
    return "LONG" if value == "LONG" else "SHORT" if value == "SHORT" else "BOTH"


def order_request(params: Mapping[str, str]) -> OrderRequest:
    return OrderRequest(
        symbol=require(params, "symbol"),
        side=side(params),
        type=require(params, "type"),
        quantity=decimal(params, "quantity"),
        price=decimal(params, "price"),
        time_in_force=params.get("timeInForce") or None,
        position_side=params.get("positionSide") or None,
        reduce_only=boolean(params, "reduceOnly"),
        client_order_id=params.get("newClientOrderId") or None,
        good_till_date=integer(params, "goodTillDate"),
        self_trade_prevention=params.get("selfTradePreventionMode") or None,
        price_match=params.get("priceMatch") or None,
    )


def algo_request(params: Mapping[str, str]) -> AlgoRequest:
    algo_type = params.get("algoType")
    if algo_type is not None and algo_type != "CONDITIONAL":
        raise BinanceError(-1130, "Data sent for parameter 'algoType' is not valid.")
    return AlgoRequest(
        symbol=require(params, "symbol"),
        side=side(params),
        type=require(params, "type"),
        quantity=decimal(params, "quantity"),
        price=decimal(params, "price"),
        trigger_price=decimal(params, "triggerPrice"),
        time_in_force=params.get("timeInForce") or None,
        working_type=params.get("workingType") or None,
        position_side=params.get("positionSide") or None,
        reduce_only=boolean(params, "reduceOnly"),
        close_position=bool(boolean(params, "closePosition")),
        price_protect=bool(boolean(params, "priceProtect")),
        activate_price=decimal(params, "activatePrice") or decimal(params, "activationPrice"),
        callback_rate=decimal(params, "callbackRate"),
        client_algo_id=params.get("clientAlgoId") or None,
        good_till_date=integer(params, "goodTillDate"),
        self_trade_prevention=params.get("selfTradePreventionMode") or None,
        price_match=params.get("priceMatch") or None,
    )


def window(params: Mapping[str, str], default_days: int = 7) -> tuple[int | None, int | None, int]:
    """``startTime``, ``endTime`` and ``limit`` of a history query (limit defaults to 500, at most 1000)."""
    limit = integer(params, "limit") or 500
    if not 1 <= limit <= 1000:
        raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
    start, end = integer(params, "startTime"), integer(params, "endTime")
    if start is not None and end is not None and end - start > default_days * 86_400_000:
        raise BinanceError(-4166, f"Search window is restricted to recent {default_days} days only.")
    return start, end, limit
