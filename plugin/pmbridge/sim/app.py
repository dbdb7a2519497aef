"""The Binance app: what the account's owner can do by hand, for the control API and the Python API.

Every action goes through the same venue rules as REST (a refused action answers the same Binance error) and pushes
the same events, so a bot sees an app change exactly as it would see it on Binance.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from .api import orders_wire as wire
from .errors import BinanceError
from .venue.requests import AlgoRequest, OrderRequest

if TYPE_CHECKING:
    from .engine import Engine


def to_decimal(value: object, name: str) -> Decimal | None:
    """A JSON number or numeric string as an exact decimal (floats go through their shortest repr)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        # A ValueError on purpose: the control API answers every ValueError as a 400 that names the field.
        raise ValueError(f"{name} must be a number or a numeric string, got {value!r}")  # noqa: TRY004
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{name} must be a number or a numeric string, got {value!r}") from None


class App:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def place_order(self, account: str | None = None, **fields: Any) -> dict[str, Any]:
        """A LIMIT or MARKET order: ``symbol``, ``side``, ``type``, ``quantity``, ``price``, ``time_in_force``,
        ``reduce_only``, ``position_side`` (hedge mode)."""
        acc = self.engine.account(account)
        request = OrderRequest(
            symbol=str(fields.get("symbol") or ""),
            side=fields.get("side") or "BUY",
            type=str(fields.get("type") or ""),
            quantity=to_decimal(fields.get("quantity"), "quantity"),
            price=to_decimal(fields.get("price"), "price"),
            time_in_force=fields.get("time_in_force") or ("GTC" if fields.get("type") == "LIMIT" else None),
            position_side=fields.get("position_side"),
            reduce_only=fields.get("reduce_only"),
        )
        if request.side not in ("BUY", "SELL"):
            raise ValueError(f"side must be BUY or SELL, got {request.side!r}")
        result: dict[str, Any] = {}

        def act() -> list[Any]:
            order, events = self.engine.venue.place_order(acc, request, source="app")
            result.update(wire.order(order, "fapi"))
            return events

        self.engine.run(act)
        return result

    def place_algo_order(self, account: str | None = None, **fields: Any) -> dict[str, Any]:
        """A stop or take-profit: ``symbol``, ``side``, ``type`` (STOP_MARKET...), ``trigger_price``, ``quantity`` or
        ``close_position``, ``price`` (STOP, TAKE_PROFIT), ``working_type``, ``callback_rate`` (trailing)."""
        acc = self.engine.account(account)
        close = bool(fields.get("close_position"))
        request = AlgoRequest(
            symbol=str(fields.get("symbol") or ""),
            side=fields.get("side") or "SELL",
            type=str(fields.get("type") or ""),
            quantity=to_decimal(fields.get("quantity"), "quantity"),
            price=to_decimal(fields.get("price"), "price"),
            trigger_price=to_decimal(fields.get("trigger_price"), "trigger_price"),
            working_type=fields.get("working_type"),
            position_side=fields.get("position_side"),
            reduce_only=None if close else fields.get("reduce_only"),
            close_position=close,
            callback_rate=to_decimal(fields.get("callback_rate"), "callback_rate"),
            activate_price=to_decimal(fields.get("activate_price"), "activate_price"),
        )
        result: dict[str, Any] = {}

        def act() -> list[Any]:
            algo, events = self.engine.venue.place_algo(acc, request)
            result.update(wire.algo(algo, "fapi"))
            return events

        self.engine.run(act)
        return result

    def cancel(
        self, account: str | None = None, *, order_id: int | None = None, algo_id: int | None = None
    ) -> dict[str, Any]:
        acc = self.engine.account(account)
        if (order_id is None) == (algo_id is None):
            raise ValueError("give exactly one of order_id or algo_id")
        result: dict[str, Any] = {}

        def act() -> list[Any]:
            if order_id is not None:
                order = acc.order(None, order_id, None)
                found, events = self.engine.venue.cancel_order(acc, order.symbol, order_id, None)
                result.update(wire.order(found, "fapi", "cancel"))
            else:
                algo, events = self.engine.venue.cancel_algo(acc, algo_id, None)
                result.update(wire.algo(algo, "fapi"))
            return events

        self.engine.run(act)
        return result

    def close_position(
        self, account: str | None = None, *, symbol: str, position_side: str | None = None
    ) -> dict[str, Any]:
        """ "Close" in the app: a reduce-only MARKET order for the whole position (hedge mode: one side)."""
        acc = self.engine.account(account)
        contract = acc.contract(symbol, "UM")
        side = position_side or ("LONG" if acc.dual_side else "BOTH")
        amount = acc.position_amount(contract.symbol, side)  # type: ignore[arg-type]
        if amount == 0:
            raise BinanceError(-2022, "ReduceOnly Order is rejected.")
        fields: dict[str, Any] = {
            "symbol": symbol,
            "side": "SELL" if amount > 0 else "BUY",
            "type": "MARKET",
            "quantity": str(abs(amount)),
        }
        if acc.dual_side:
            fields["position_side"] = side
        else:
            fields["reduce_only"] = True
        return self.place_order(account, **fields)

    def set_margin_type(self, account: str | None = None, *, symbol: str, margin_type: str) -> dict[str, Any]:
        acc = self.engine.account(account)
        if acc.kind == "pm":
            raise ValueError("a Portfolio Margin account has no margin type to change: its UM positions are cross")
        self.engine.run(lambda: self.engine.venue.config.set_margin_type(acc, symbol, margin_type.upper()))
        return {"symbol": symbol, "margin_type": acc.margin_type[symbol]}

    def adjust_isolated_margin(
        self, account: str | None = None, *, symbol: str, amount: object, add: bool, position_side: str = "BOTH"
    ) -> dict[str, Any]:
        acc = self.engine.account(account)
        value = to_decimal(amount, "amount")
        if value is None:
            raise ValueError("amount is required")
        side = position_side if position_side in ("BOTH", "LONG", "SHORT") else "BOTH"
        self.engine.run(lambda: self.engine.venue.config.adjust_isolated_margin(acc, symbol, side, value, add))  # type: ignore[arg-type]
        position = acc.positions[(symbol, side)]  # type: ignore[index]
        return {"symbol": symbol, "isolated_wallet": str(position.isolated_wallet)}
