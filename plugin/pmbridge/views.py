"""A position as JSON, one shape for every place that shows or stores one: ``pmbridge watch --json``, diagnostics,
and the snapshot lines of a recording (which is why the way back, ``position_from_view``, lives here too).

Decimals are strings, exactly as the exchange wrote them: a float would turn 0.1 BTC into 0.1000000000000000055.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final, cast

from .const import PositionSide, Source, Unit
from .models import Position

_SIDES: Final = ("BOTH", "LONG", "SHORT")
_UNITS: Final = ("UM", "CM")
_MARGIN_TYPES: Final = ("cross", "isolated")
_OPTIONAL_DECIMALS: Final = (
    "isolated_margin",
    "liquidation_price",
    "unrealized_pnl",
    "mark_price",
    "break_even_price",
    "initial_margin",
)


def position_view(position: Position) -> dict[str, Any]:
    """``position`` as a JSON object; ``direction`` (long, short, or null when flat) is derived, for readers."""
    view: dict[str, Any] = {
        "symbol": position.symbol,
        "exchange_symbol": position.exchange_symbol,
        "unit": position.unit,
        "side": position.side,
        "direction": position.direction,
        "amount": str(position.amount),
        "entry_price": str(position.entry_price),
        "leverage": position.leverage,
        "margin_type": position.margin_type,
    }
    for name in _OPTIONAL_DECIMALS:
        value = getattr(position, name)
        view[name] = None if value is None else str(value)
    view["update_time"] = position.update_time
    view["source"] = position.source
    return view


def position_from_view(view: Mapping[str, Any], source: Source) -> Position:
    """The ``Position`` a ``position_view`` shows (``direction`` is derived again, not read). Raises ``ValueError``
    naming the first field that is missing or wrong."""
    symbol, leverage, margin, update_time = (view.get(k) for k in ("symbol", "leverage", "margin_type", "update_time"))
    exchange_symbol = view.get("exchange_symbol")
    if not isinstance(exchange_symbol, str) or not exchange_symbol:
        raise ValueError(f"'exchange_symbol' must be the exchange's symbol id, got {exchange_symbol!r}")
    _one_of(view, "unit", _UNITS)
    _one_of(view, "side", _SIDES)
    if symbol is not None and not isinstance(symbol, str):
        raise ValueError(f"'symbol' must be a unified symbol or null, got {symbol!r}")
    if leverage is not None and type(leverage) is not int:
        raise ValueError(f"'leverage' must be an integer or null, got {leverage!r}")
    if margin is not None and margin not in _MARGIN_TYPES:
        raise ValueError(f"'margin_type' must be 'cross', 'isolated' or null, got {margin!r}")
    if update_time is not None and type(update_time) is not int:
        raise ValueError(f"'update_time' must be ms since the epoch or null, got {update_time!r}")
    optional = {name: _decimal(view, name, required=False) for name in _OPTIONAL_DECIMALS}
    return Position(
        cast(Unit, view["unit"]),
        exchange_symbol,
        cast(PositionSide, view["side"]),
        cast(Decimal, _decimal(view, "amount", required=True)),
        cast(Decimal, _decimal(view, "entry_price", required=True)),
        symbol,
        leverage,
        margin,
        update_time=update_time,
        source=source,
        **optional,
    )


def _one_of(view: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> None:
    if view.get(name) not in allowed:
        raise ValueError(f"'{name}' must be one of {', '.join(allowed)}, got {view.get(name)!r}")


def _decimal(view: Mapping[str, Any], name: str, *, required: bool) -> Decimal | None:
    value = view.get(name)
    if value is None and not required:
        return None
    if isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            pass
        else:
            if number.is_finite():
                return number
    raise ValueError(f"'{name}' must be a decimal number as a string, got {value!r}")
