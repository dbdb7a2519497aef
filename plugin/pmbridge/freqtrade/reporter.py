"""Reporter: what the bot's users read and what its trades record when the exchange changes, on Freqtrade's thread.

For each change it finds the open trades on the pair, gives the change their ids and a note (the exchange's numbers
beside Freqtrade's record), sends the message through Freqtrade's RPC (Telegram, webhooks), and stores the exchange's
figures on each trade with ``trade.set_custom_data("pmbridge_exchange", ...)``, Freqtrade's documented per-trade
store; trade records themselves are never rewritten. In live mode it also audits trades against positions (drift).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from ..models import AccountModeChange, LeverageChange, Position, PositionChange
from . import messages
from .drift import DriftMonitor

log = logging.getLogger("pmbridge.freqtrade")

CUSTOM_DATA_KEY = "pmbridge_exchange"


def open_trades(pair: str | None) -> list[Any]:
    """Freqtrade's open trades on ``pair`` (all when None); empty where no database runs in this process."""
    try:
        from freqtrade.persistence import Trade  # noqa: PLC0415 - only where Freqtrade runs

        return list(Trade.get_trades_proxy(pair=pair, is_open=True) if pair else Trade.get_open_trades())
    except Exception:
        return []


def _figures(position: Position) -> dict[str, Any]:
    """A position's exchange figures as JSON-ready strings (Freqtrade's custom data must serialise)."""

    def text(value: object) -> str | None:
        return None if value is None else str(value)

    return {
        "amount": text(position.amount),
        "entry_price": text(position.entry_price),
        "leverage": position.leverage,
        "margin_type": position.margin_type,
        "isolated_margin": text(position.isolated_margin),
        "liquidation_price": text(position.liquidation_price),
        "updated": position.update_time,
        "source": position.source,
    }


class Reporter:
    def __init__(
        self,
        send: Callable[[str, int], None],
        policy_of: Callable[[str], str],
        next_entry: Callable[[str], float],
        live: bool,
        margin_mode: str,
    ) -> None:
        self._send = send
        self._policy_of = policy_of
        self._next_entry = next_entry
        self.live = live
        self.margin_mode = margin_mode
        self.drift = DriftMonitor(lambda text: send(text, logging.WARNING))

    # -- changes -----------------------------------------------------------------------------------------------
    def leverage(self, change: LeverageChange, whitelist: frozenset[str]) -> LeverageChange:
        """Annotate with the open trades, tell the user (external changes only), record the exchange's figures."""
        symbol = change.symbol
        if symbol is None or change.old is None:
            return change
        trades = open_trades(symbol)
        if trades:
            note = messages.open_trade_note(change, trades, self.live, self.margin_mode)
            change = attrs.evolve(change, open_trades=tuple(int(t.id) for t in trades), note=note)
            self._record(trades, change.positions)
        if change.origin == "self":
            log.info("pmbridge: %s", messages.own_write(change))
        elif symbol in whitelist or trades:
            policy = self._policy_of(symbol)
            self._send(messages.leverage_changed(change, policy, self._next_entry(symbol)), logging.INFO)
        return change

    def position(self, change: PositionChange) -> PositionChange:
        symbol = change.symbol
        if symbol is None:
            return change
        if change.kind == "liquidated" and change.old is not None:
            self.drift.liquidated[symbol] = change.old
        trades = open_trades(symbol)
        if not trades:
            return change
        note = messages.position_changed(change, trades) or ""
        change = attrs.evolve(change, open_trades=tuple(int(t.id) for t in trades), note=note)
        if change.position.is_open:
            self._record(trades, (change.position,))
        if note and self.live:
            self._send(note, logging.INFO)
        return change

    def mode(self, change: AccountModeChange) -> None:
        problem = messages.account_mode_problem(change, self.margin_mode)
        if problem is not None:
            self._send(problem, logging.ERROR)
        elif change.old is not None:
            text = f"pmbridge: account {change.setting} changed {change.old} -> {change.new} (source: {change.source})"
            self._send(text, logging.INFO)

    def _record(self, trades: Sequence[Any], positions: Sequence[Position]) -> None:
        if not self.live:
            return
        for trade in trades:
            direction = "short" if trade.is_short else "long"
            mine = next((p for p in positions if p.direction == direction), None)
            if mine is None:
                continue
            try:
                trade.set_custom_data(CUSTOM_DATA_KEY, _figures(mine))
            except Exception:  # a trade not yet persisted, a closed session: the message still went out
                log.debug("could not store the exchange's figures on trade %s", trade.id, exc_info=True)

    # -- audit -------------------------------------------------------------------------------------------------
    def at_start(self, positions: Sequence[Position]) -> None:
        """Once, when the exchange is first known: open trades (from before a restart) whose position Binance now
        reports at another leverage. Live only; a trade without a position is the drift check's to report."""
        if not self.live:
            return
        held = {(p.symbol, p.direction): p for p in positions}
        for trade in open_trades(None):
            position = held.get((str(trade.pair), "short" if trade.is_short else "long"))
            text = None if position is None else messages.leverage_at_start(trade, position)
            if text is not None:
                self._send(text, logging.WARNING)

    def audit(self, positions: Sequence[Position]) -> None:
        """Trades against positions, live only (a dry-run trade has no position on the exchange)."""
        if self.live:
            self.drift.check(open_trades(None), positions)
