"""``ACCOUNT_UPDATE`` (positions and balances) and ``ORDER_TRADE_UPDATE`` (orders and fills): what the position book
is fed live. Portfolio Margin adds ``fs`` and drops the margin type; USDⓈ-M and COIN-M carry ``mt`` and ``iw``.
Numbers arrive as strings and stay exact (``Decimal``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final, Literal

from attrs import frozen

from ..const import Unit
from ..errors import DecodeError
from .fields import (
    decimal_field,
    int_field,
    list_field,
    object_field,
    quote,
    symbol_field,
    text_field,
    time_field,
    unit_of,
)

PositionSide = Literal["BOTH", "LONG", "SHORT"]
_SIDES: Final = frozenset({"BOTH", "LONG", "SHORT"})
_MARGIN_TYPES: Final = {"cross": "cross", "isolated": "isolated", "CROSSED": "cross", "ISOLATED": "isolated"}
_MAX_ROWS: Final = 10_000
LIQUIDATION_CLIENT_PREFIXES: Final = ("autoclose-", "adl_autoclose", "settlement_autoclose-", "delivery_autoclose-")


@frozen(slots=False)
class PositionRow:
    """One ``P`` row: a position of one symbol and side as the exchange reports it after the event."""

    unit: Unit
    symbol: str
    side: PositionSide
    amount: Decimal
    """Signed in one-way mode (BOTH); LONG rows are positive, SHORT rows negative."""
    entry_price: Decimal
    unrealized_pnl: Decimal
    break_even_price: Decimal | None = None
    realized_pnl: Decimal | None = None
    margin_type: str | None = None
    """``cross`` or ``isolated``; None on Portfolio Margin (cross only, the field is not sent)."""
    isolated_wallet: Decimal | None = None


@frozen(slots=False)
class AccountUpdate:
    """``ACCOUNT_UPDATE``: positions (only the changed symbols on UM/PM; all on COIN-M) and balances changed."""

    event_time: int
    transaction_time: int | None
    reason: str
    """``m``: ORDER, FUNDING_FEE, MARGIN_TYPE_CHANGE, MARGIN_TRANSFER, INSURANCE_CLEAR, DEPOSIT, ..."""
    positions: tuple[PositionRow, ...]
    hint: Unit | None = None
    """``fs`` on Portfolio Margin."""


@frozen(slots=False)
class OrderUpdate:
    """``ORDER_TRADE_UPDATE``: one order's new state; ``execution`` TRADE (or CALCULATED, a liquidation) is a fill."""

    unit: Unit
    event_time: int
    transaction_time: int | None
    symbol: str
    order_id: int
    client_order_id: str
    side: str
    position_side: PositionSide
    order_type: str
    execution: str
    status: str
    last_qty: Decimal
    last_price: Decimal
    filled_qty: Decimal
    realized_pnl: Decimal

    @property
    def liquidation(self) -> bool:
        """A forced close: Binance's liquidation (or auto-deleveraging) engine placed this order."""
        return (
            self.execution == "CALCULATED"
            or self.order_type == "LIQUIDATION"
            or self.client_order_id.startswith(LIQUIDATION_CLIENT_PREFIXES)
        )


def _times(data: dict[str, Any]) -> tuple[int, int | None]:
    if "E" not in data:
        raise DecodeError("E", "nothing", "event time is required")
    event_time = time_field(data["E"], "E")
    raw_t = data.get("T")
    return event_time, None if raw_t is None else time_field(raw_t, "T")


def _hint(data: dict[str, Any]) -> Unit | None:
    hint = data.get("fs")
    if hint is not None and hint not in ("UM", "CM"):  # a tuple: an unhashable hint must not raise TypeError
        raise DecodeError("fs", quote(hint), 'business unit must be "UM" or "CM"')
    return hint


def _side(value: object, name: str) -> PositionSide:
    if value is None:
        return "BOTH"
    if type(value) is not str or value not in _SIDES:
        raise DecodeError(name, quote(value), "position side must be BOTH, LONG or SHORT")
    return "LONG" if value == "LONG" else "SHORT" if value == "SHORT" else "BOTH"


def _optional_decimal(row: dict[str, Any], key: str, name: str) -> Decimal | None:
    value = row.get(key)
    return None if value is None else decimal_field(value, name)


def account_update(data: dict[str, Any]) -> AccountUpdate:
    event_time, transaction_time = _times(data)
    hint = _hint(data)
    body = object_field(data.get("a"), "a")
    reason = text_field(body.get("m", "UNKNOWN"), "a.m")
    raw_rows = list_field(body.get("P", []), "a.P")
    if len(raw_rows) > _MAX_ROWS:
        raise DecodeError("a.P", f"{len(raw_rows)} rows", f"must hold at most {_MAX_ROWS} positions")
    rows = []
    for i, raw in enumerate(raw_rows):
        name = f"a.P[{i}]"
        row = object_field(raw, name)
        symbol = symbol_field(row.get("s"), f"{name}.s")
        margin = row.get("mt")
        if margin is not None and (type(margin) is not str or margin not in _MARGIN_TYPES):
            raise DecodeError(f"{name}.mt", quote(margin), "margin type must be cross or isolated")
        rows.append(
            PositionRow(
                unit_of(symbol),
                symbol,
                _side(row.get("ps"), f"{name}.ps"),
                decimal_field(row.get("pa"), f"{name}.pa"),
                decimal_field(row.get("ep", "0"), f"{name}.ep"),
                decimal_field(row.get("up", "0"), f"{name}.up"),
                _optional_decimal(row, "bep", f"{name}.bep"),
                _optional_decimal(row, "cr", f"{name}.cr"),
                None if margin is None else _MARGIN_TYPES[margin],
                _optional_decimal(row, "iw", f"{name}.iw"),
            )
        )
    return AccountUpdate(event_time, transaction_time, reason, tuple(rows), hint)


def order_update(data: dict[str, Any]) -> OrderUpdate:
    event_time, transaction_time = _times(data)
    _hint(data)
    o = object_field(data.get("o"), "o")
    symbol = symbol_field(o.get("s"), "o.s")
    return OrderUpdate(
        unit_of(symbol),
        event_time,
        transaction_time,
        symbol,
        int_field(o.get("i"), "o.i", 0, 2**63 - 1, "order id"),
        text_field(o.get("c", ""), "o.c", allow_empty=True),
        text_field(o.get("S"), "o.S"),
        _side(o.get("ps"), "o.ps"),
        text_field(o.get("o"), "o.o"),
        text_field(o.get("x"), "o.x"),
        text_field(o.get("X"), "o.X"),
        decimal_field(o.get("l", "0"), "o.l"),
        decimal_field(o.get("L", "0"), "o.L"),
        decimal_field(o.get("z", "0"), "o.z"),
        decimal_field(o.get("rp", "0"), "o.rp"),
    )
