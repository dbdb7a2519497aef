"""Account configuration where it meets positions: leverage, margin type, position mode, multi-assets mode and
isolated margin, with the refusals Binance documents (reference/binance_trading.md §1-2)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from ..errors import BinanceError, invalid_leverage
from ..market.catalogue import Unit
from .events import AccountUpdate, ConfigUpdate, Event
from .fills import balance_row, money, position_row
from .model import ZERO, PositionSide
from .risk import margins

if TYPE_CHECKING:
    from .account import Account
    from .venue import Venue


class Configuration:
    def __init__(self, venue: Venue) -> None:
        self.venue = venue

    def set_leverage(self, account: Account, symbol: str | None, leverage: object, unit: Unit | None) -> list[Event]:
        """Raising applies at once, open position included; lowering is refused when an isolated position is open
        (-4161), when the position and orders exceed the new bracket's cap (-2027), or when the margin would not
        cover it (-2028)."""
        contract = account.contract(symbol, unit)
        try:
            value = int(str(leverage))
        except ValueError:
            raise invalid_leverage(leverage) from None
        if not 1 <= value <= contract.max_leverage:
            raise invalid_leverage(leverage)
        old = account.leverage[contract.symbol]
        open_rows = [p for p in account.symbol_positions(contract.symbol) if p.amount]
        if contract.unit == "UM" and (open_rows or account.open_orders_of(contract.symbol)):
            quotes = self.venue.account_quotes(account, contract.symbol)
            mark = quotes[contract.symbol].mark
            exposure = sum((abs(p.amount) * mark for p in open_rows), ZERO)
            orders = [o for o in account.open_orders_of(contract.symbol) if not o.reduce_only]  # they only shrink it
            exposure += sum((o.remaining * (o.price or mark) for o in orders), ZERO)
            if exposure > Decimal(contract.cap_for(value)):
                raise BinanceError(-2027, "Exceeded the maximum allowable position at current leverage.")
            if value < old and open_rows and account.isolated(contract.symbol):
                raise BinanceError(
                    -4161, "Leverage reduction is not supported in Isolated Margin Mode with open positions."
                )
            if value < old:
                before = margins(account, quotes)
                account.leverage[contract.symbol] = value
                after = margins(account, quotes)
                account.leverage[contract.symbol] = old
                if after.available < 0 and after.available < before.available:
                    raise BinanceError(-2028, "Leverage is smaller than permitted: insufficient margin balance.")
        account.leverage[contract.symbol] = value
        return [ConfigUpdate(account.kind, self.venue.next_txn(), contract.unit, contract.symbol, value)]

    def set_margin_type(self, account: Account, symbol: str | None, margin_type: str | None) -> list[Event]:
        contract = account.contract(symbol, "UM")
        if margin_type not in ("ISOLATED", "CROSSED"):
            raise BinanceError(-4044, "The margin type is invalid.")
        if account.margin_type[contract.symbol] == margin_type:
            raise BinanceError(-4046, "No need to change margin type.")
        if account.multi_assets and margin_type == "ISOLATED":
            raise BinanceError(-4168, "Unable to adjust to isolated-margin mode under the Multi-Assets mode.")
        if any(p.amount for p in account.symbol_positions(contract.symbol)):
            raise BinanceError(-4048, "Margin type cannot be changed if there exists position.")
        if account.open_orders_of(contract.symbol) or account.open_algos_of(contract.symbol):
            raise BinanceError(-4047, "Margin type cannot be changed if there exists open orders.")
        account.margin_type[contract.symbol] = margin_type
        quotes = self.venue.quotes([contract.symbol])
        rows = tuple(
            position_row(account, p, quotes[contract.symbol].mark) for p in account.symbol_positions(contract.symbol)
        )
        txn = self.venue.next_txn()
        return [AccountUpdate(account.kind, txn, "UM", "MARGIN_TYPE_CHANGE", (balance_row(account),), rows)]

    def set_position_mode(self, account: Account, dual_side: bool) -> list[Event]:
        """Hedge (dual side) or one-way mode. Binance pushes nothing for it: only a REST read reveals it."""
        if account.dual_side == dual_side:
            raise BinanceError(-4059, "No need to change position side.")
        if account.open_orders or account.open_algos_of():
            raise BinanceError(-4067, "Position side cannot be changed if there exists open orders.")
        if account.open_positions():
            raise BinanceError(-4068, "Position side cannot be changed if there exists position.")
        account.dual_side = dual_side
        return []

    def set_multi_assets(self, account: Account, enabled: bool, *, from_app: bool = False) -> list[Event]:
        """Multi-assets (union margin) mode. The REST call refuses a no-op (-4171); the app just pushes it again."""
        if account.multi_assets == enabled and not from_app:
            raise BinanceError(
                -4171, "Adjusted asset mode is currently set and does not need to be adjusted repeatedly."
            )
        if enabled and any(account.isolated(s) for s, c in account.contracts.items() if c.unit == "UM"):
            raise BinanceError(
                -4167,
                "Unable to adjust to Multi-Assets mode with symbols of USDⓈ-M Futures under isolated-margin mode.",
            )
        account.multi_assets = enabled
        return [ConfigUpdate(account.kind, self.venue.next_txn(), "UM", multi_assets=enabled)]

    def adjust_isolated_margin(
        self, account: Account, symbol: str | None, side: PositionSide, amount: Decimal, add: bool
    ) -> list[Event]:
        """``POST /fapi/v1/positionMargin``: move margin between the cross wallet and an isolated position."""
        contract = account.contract(symbol, "UM")
        if not account.isolated(contract.symbol):
            raise BinanceError(-4049, "Add margin only support for isolated position.")
        if amount <= 0:
            raise BinanceError(-4055, "Amount must be positive.")
        position = account.positions.get((contract.symbol, side))
        if position is None or not position.amount:
            raise BinanceError(-4054, "Cannot add position margin: position is 0.")
        quotes = self.venue.account_quotes(account, contract.symbol)
        if add:
            if margins(account, quotes).available < amount:
                raise BinanceError(-4050, "Cross balance insufficient.")
            position.isolated_wallet = money(position.isolated_wallet + amount)
        else:
            mark = quotes[contract.symbol].mark
            initial = abs(position.amount) * mark / account.leverage[contract.symbol]
            removable = position.isolated_wallet + position.amount * (mark - position.entry_price) - initial
            if amount > removable:
                raise BinanceError(-4051, "Isolated balance insufficient.")
            position.isolated_wallet = money(position.isolated_wallet - amount)
        position.update_ms = self.venue.now_ms()
        row = position_row(account, position, quotes[contract.symbol].mark)
        txn = self.venue.next_txn()
        return [AccountUpdate(account.kind, txn, "UM", "MARGIN_TRANSFER", (balance_row(account),), (row,))]

    def transfer(self, account: Account, amount: Decimal, asset: str | None = None) -> list[Event]:
        """A deposit (positive) or withdrawal into the futures wallet, or a PM account's margin balance."""
        now = self.venue.now_ms()
        if account.kind == "pm":
            key = asset or "USDT"
            if account.collateral.get(key, ZERO) + amount < 0:
                raise BinanceError(-2018, "Balance is insufficient.")
            account.collateral[key] = account.collateral.get(key, ZERO) + amount
            return []
        if amount < 0 and margins(account, self.venue.account_quotes(account)).available + amount < 0:
            raise BinanceError(-2018, "Balance is insufficient.")
        account.credit(amount, now, asset)
        txn = self.venue.next_txn()
        unit = account.units[0]
        return [
            AccountUpdate(
                account.kind, txn, unit, "DEPOSIT" if amount > 0 else "WITHDRAW", (balance_row(account, amount),), ()
            )
        ]
