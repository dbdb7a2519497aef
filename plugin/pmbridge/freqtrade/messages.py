"""What Freqtrade users read (log, Telegram, webhooks) when the exchange changes under their bot.

Every number about a position is the exchange's own, as read back after the change, set beside Freqtrade's record of
the trade; nothing is computed or assumed. The bot's own writes (Freqtrade re-sending a trade's leverage before its
orders) are never reported as changes made on the exchange.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from ..models import AccountModeChange, LeverageChange, Position, PositionChange


def num(value: Decimal | float | int | None, unit: str = "") -> str:
    """A number as a person reads it: thousands separated, no float noise, trailing zeros dropped."""
    if value is None:
        return "unknown"
    number = Decimal(str(value))
    text = f"{number:,.8f}".rstrip("0").rstrip(".") if number != number.to_integral_value() else f"{number:,.0f}"
    return f"{text} {unit}".rstrip()


def describe(position: Position) -> str:
    """``long 0.01 at 60,000.1, 10x, isolated margin 60 USDT, liquidation price 54,216.96``: the exchange's own
    figures; one a reading did not carry is left out, never computed."""
    margin_asset = "USDT" if position.unit == "UM" else position.exchange_symbol.split("USD")[0]
    parts = [f"{position.direction} {num(abs(position.amount))} at {num(position.entry_price)}"]
    if position.leverage is not None:
        parts.append(f"{position.leverage}x")
    if position.margin_type == "isolated" and position.isolated_margin is not None:
        parts.append(f"isolated margin {num(position.isolated_margin, margin_asset)}")
    elif position.initial_margin is not None:
        parts.append(f"margin in use {num(position.initial_margin, margin_asset)}")
    if position.liquidation_price is not None:
        if position.liquidation_price == 0:  # Binance's "0": the margin covers any price (a cross position)
            parts.append("no liquidation price")
        else:
            parts.append(f"liquidation price {num(position.liquidation_price)}")
    return ", ".join(parts)


def _records(trades: Sequence[Any]) -> str:
    """Freqtrade's record of the trades: ``#3 (5x, liquidation price 49,500)``."""
    out = []
    for trade in trades:
        liq = getattr(trade, "liquidation_price", None)
        record = f"{float(trade.leverage or 1.0):g}x" + (f", liquidation price {num(liq)}" if liq else "")
        out.append(f"#{trade.id} ({record})")
    return ", ".join(out)


def leverage_changed(change: LeverageChange, policy: str, next_entry: float | None) -> str:
    """The headline for an external change: what changed and what the next entry uses."""
    name = change.symbol or change.exchange_symbol
    text = (
        f"{name} leverage changed on the exchange {change.old}x -> {change.new}x, not by this bot "
        f"(source: {change.source}), policy {policy}"
    )
    if next_entry is not None:
        text += f": the next new trade uses {next_entry:g}x"
    if change.note:
        text += f". {change.note}"
    return text


def open_trade_note(change: LeverageChange, trades: Sequence[Any], live: bool, margin_mode: str = "") -> str:
    """What the change did to the open trades' positions, and what happens next."""
    if not trades:
        return ""
    if not live:
        return (
            f"Open trade {_records(trades)} is a dry-run trade: no position on the exchange, and Freqtrade keeps "
            "the leverage it recorded at entry"
        )
    if change.positions:
        positions = "; ".join(describe(p) for p in change.positions)
        now = f"Binance applied {change.new}x to the open position at once: {positions}"
        isolated = any(p.margin_type == "isolated" for p in change.positions)
    else:
        now = f"Binance applies {change.new}x to any open position on this pair (no position was read back)"
        isolated = margin_mode == "isolated"
    return f"{now}. {_what_next(trades, change.new, isolated)}. pmbridge never rewrites Freqtrade's trade records"


def _what_next(trades: Sequence[Any], exchange: int, isolated: bool) -> str:
    """What becomes of a position at ``exchange``x that Freqtrade's open trades record at another leverage."""
    entry = int(float(trades[0].leverage or 1))
    recorded = f"Freqtrade still records trade {_records(trades)}"
    if entry == exchange:
        return f"{recorded}: the position is at the leverage the trade was opened with"
    if isolated and entry < exchange:
        # Binance refuses to lower an open isolated position's leverage (-4161). Freqtrade would ask before each
        # stoploss and DCA order and drop the order on the refusal; pmbridge's tap holds that request back (tap.py).
        first = trades[0].id
        return (
            f"{recorded}. Binance does not let an open isolated position's leverage be lowered, so the position keeps "
            f"{exchange}x until it is closed: pmbridge does not pass on Freqtrade's {entry}x before its stoploss and "
            f"DCA orders (Binance would refuse it, and Freqtrade would then drop the order, leaving the trade without "
            f"its stop). To trade at {entry}x again, close the trade (/forceexit {first})"
        )
    return (
        f"{recorded} and sets {entry}x again before its next stoploss or DCA order on this pair, which returns "
        "the position to that leverage"
    )


def leverage_at_start(trade: Any, position: Position) -> str | None:
    """At start-up: an open trade whose position Binance reports at another leverage than the trade's, else None."""
    entry, exchange = int(float(trade.leverage or 1)), position.leverage
    if exchange is None or exchange == entry:
        return None
    isolated = position.margin_type == "isolated"
    text = (
        f"pmbridge: trade #{trade.id} {trade.pair} is open at {entry}x in Freqtrade, but at start-up Binance reports "
        f"its position at {exchange}x: the leverage was changed after the trade opened, not by Freqtrade. Binance "
        f"holds {describe(position)}. {_what_next([trade], exchange, isolated)}."
    )
    if not (isolated and entry < exchange):  # Binance lets it be set back now
        text += f" To match the trade now, set {trade.pair} to {entry}x in the app."
    return text


def own_write(change: LeverageChange) -> str:
    """This bot's own set_leverage came back on the stream: said in the log, never as a change on the exchange."""
    name = change.symbol or change.exchange_symbol
    return (
        f"{name} leverage is {change.new}x, set by this bot itself (Freqtrade before one of its orders, or "
        "pmbridge's enforce policy), not a change made elsewhere"
    )


def position_changed(change: PositionChange, trades: Sequence[Any]) -> str | None:
    """A margin move on an open trade's position (isolated margin added or removed, margin type), or None."""
    if change.kind != "changed" or change.old is None or not trades:
        return None
    old, new = change.old, change.position
    if (old.amount, old.entry_price) != (new.amount, new.entry_price):
        return None  # the bot's own fills: Freqtrade knows about them
    name = change.symbol or change.exchange_symbol
    what = (change.reason or "a change").replace("_", " ").lower()
    return (
        f"{name} position changed on the exchange ({what}), not by this bot: it is now {describe(new)}. "
        f"Freqtrade's record of trade {_records(trades)} is unchanged."
    )


def account_mode_problem(change: AccountModeChange, margin_mode: str) -> str | None:
    """A message when the account switched into a mode this bot cannot trade, else None."""
    if change.setting == "dual_side_position" and change.new:
        return (
            "pmbridge: the account is now in HEDGE (dual side) position mode. Freqtrade only trades one-way mode: "
            "switch the account back to one-way (Binance: Preferences > Position Mode) or stop this bot"
        )
    if change.setting == "multi_assets" and change.new and margin_mode != "cross":
        return (
            f"pmbridge: the account is now in MULTI-ASSETS mode, which Freqtrade refuses unless margin_mode is cross "
            f"(this bot uses {margin_mode or 'no margin mode'}). Turn multi-assets mode off, or set margin_mode to "
            "cross"
        )
    return None
