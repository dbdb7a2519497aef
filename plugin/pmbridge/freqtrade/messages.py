"""What Freqtrade users read (log, Telegram, webhooks) when the exchange changes under their bot."""

from __future__ import annotations

from ..models import AccountModeChange, LeverageChange


def leverage_changed(change: LeverageChange, policy: str, next_entry: float | None) -> str:
    name = change.symbol or change.exchange_symbol
    text = (
        f"{name} leverage changed on the exchange {change.old}x -> {change.new}x (source: {change.source}), "
        f"policy {policy}"
    )
    if next_entry is not None:
        text += f": the next entry uses {next_entry:g}x"
    if change.note:
        text += f". {change.note}"
    return text


def open_trade_note(trade_ids: tuple[int, ...], entry_leverages: tuple[float, ...], live: bool) -> str:
    if not trade_ids:
        return ""
    trades = ", ".join(
        f"#{trade_id} ({leverage:g}x)" for trade_id, leverage in zip(trade_ids, entry_leverages, strict=True)
    )
    note = (
        f"Open trade {trades} keeps the leverage it was opened with: Freqtrade fixes a trade's leverage at entry "
        "and pmbridge never rewrites trade records"
    )
    if live:
        note += (
            "; in live mode Freqtrade sets this pair's leverage again before its next entry, DCA or "
            "stoploss-on-exchange order, which will undo this change"
        )
    return note


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
