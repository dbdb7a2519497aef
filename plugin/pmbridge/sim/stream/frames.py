"""Venue events -> user-data-stream frames, in the documented shape of each account type.

Portfolio Margin adds ``fs`` (business unit) and ``i`` (account alias) and keeps no margin type (cross only); its
algo orders sit under ``ao`` and it has riskLevelChange instead of MARGIN_CALL. USDⓈ-M sends TRADE_LITE before each
ORDER_TRADE_UPDATE fill and ``mt``/``iw`` per position. COIN-M carries only configuration changes here (Freqtrade
cannot trade inverse contracts, and the simulator does not trade them).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..venue.account import AccountType
from ..venue.events import (
    AccountUpdate,
    AlgoUpdate,
    ConfigUpdate,
    Event,
    MarginCall,
    OrderUpdate,
    RiskLevelChange,
    TradeLite,
)
from ..venue.model import AlgoOrder, Order


def num(value: Decimal) -> str:
    """Binance's decimal strings: plain notation, no exponent, no trailing zeros beyond what the value needs."""
    text = format(value.normalize(), "f") if value else "0"
    return text


def render(event: Event, account: AccountType, event_ms: int, transaction_ms: int) -> dict[str, Any] | None:
    """The frame ``account``'s stream carries for ``event``, or None when that stream has no such event."""
    pm = account == "pm"
    head: dict[str, Any]
    if isinstance(event, ConfigUpdate):
        if account == "coinm" and event.multi_assets is not None:
            return None
        head = {"e": "ACCOUNT_CONFIG_UPDATE"}
        if pm:
            head["fs"] = event.unit
        head.update({"E": event_ms, "T": transaction_ms})
        if event.symbol is not None:
            head["ac"] = {"s": event.symbol, "l": event.leverage}
        if event.multi_assets is not None:
            head["ai"] = {"j": event.multi_assets}
        return head
    if account == "coinm":
        return None
    if isinstance(event, TradeLite):
        if pm:
            return None
        o, f = event.order, event.fill
        return {
            "e": "TRADE_LITE",
            "E": event_ms,
            "T": transaction_ms,
            "s": o.symbol,
            "q": num(o.quantity),
            "p": num(o.price),
            "m": f.maker,
            "c": o.client_order_id,
            "S": o.side,
            "L": num(f.price),
            "l": num(f.qty),
            "t": f.trade_id,
            "i": o.order_id,
        }
    if isinstance(event, OrderUpdate):
        head = {"e": "ORDER_TRADE_UPDATE"}
        if pm:
            head["fs"] = event.unit
        head.update({"E": event_ms, "T": transaction_ms})
        if pm:
            head["i"] = ""
        head["o"] = _order(event, transaction_ms, pm)
        return head
    if isinstance(event, AccountUpdate):
        return _account_update(event, event_ms, transaction_ms, pm)
    if isinstance(event, AlgoUpdate):
        head = {"e": "ALGO_UPDATE", "T": transaction_ms, "E": event_ms}
        if pm:
            head["fs"] = event.unit
        head["ao" if pm else "o"] = _algo(event)
        return head
    if isinstance(event, MarginCall):
        if pm:
            return None
        body: dict[str, Any] = {"e": "MARGIN_CALL", "E": event_ms}
        if event.cross_wallet is not None:
            body["cw"] = num(event.cross_wallet)
        body["p"] = [
            {
                "s": r.position.symbol,
                "ps": r.position.side,
                "pa": num(r.position.amount),
                "mt": r.margin_type,
                "iw": num(r.isolated_wallet),
                "mp": num(r.mark),
                "up": num(r.unrealized),
                "mm": num(r.maintenance),
            }
            for r in event.rows
        ]
        return body
    if isinstance(event, RiskLevelChange):
        if not pm:
            return None
        return {
            "e": "riskLevelChange",
            "E": event_ms,
            "u": num(event.uni_mmr),
            "s": event.level,
            "eq": num(event.equity),
            "ae": num(event.equity),
            "m": num(event.maintenance),
        }
    return None


def _order(event: OrderUpdate, transaction_ms: int, pm: bool) -> dict[str, Any]:
    o: Order = event.order
    fill = event.fill
    body: dict[str, Any] = {
        "s": o.symbol,
        "c": o.client_order_id,
        "S": o.side,
        "o": o.type,
        "f": o.time_in_force,
        "q": num(o.quantity),
        "p": num(o.price),
        "ap": num(o.avg_price),
        "sp": num(o.stop_price),
        "x": event.execution,
        "X": o.status,
        "i": o.order_id,
        "l": num(fill.qty) if fill else "0",
        "z": num(o.executed_qty),
        "L": num(fill.price) if fill else "0",
        "N": fill.commission_asset if fill else "USDT",
        "n": num(fill.commission) if fill else "0",
        "T": transaction_ms,
        "t": fill.trade_id if fill else 0,
        "b": num(event.bid_notional),
        "a": num(event.ask_notional),
        "m": fill.maker if fill else False,
        "R": o.reduce_only,
        "ps": o.position_side,
        "rp": num(fill.realized_pnl) if fill else "0",
    }
    if pm:
        if o.source == "algo":
            body["st"] = o.orig_type
        body["si"] = 0
        body.update({"V": o.self_trade_prevention, "gtd": o.good_till_date})
        return body
    body.update(
        {
            "wt": o.working_type,
            "ot": o.orig_type,
            "cp": o.close_position,
            "pP": o.price_protect,
            "si": 0,
            "ss": 0,
            "V": o.self_trade_prevention,
            "pm": o.price_match,
            "gtd": o.good_till_date,
            "er": str(o.expiry_reason),
        }
    )
    return body


def _account_update(event: AccountUpdate, event_ms: int, transaction_ms: int, pm: bool) -> dict[str, Any]:
    head: dict[str, Any] = {"e": "ACCOUNT_UPDATE"}
    if pm:
        head["fs"] = event.unit
    head.update({"E": event_ms, "T": transaction_ms})
    if pm:
        head["i"] = ""
    rows = []
    for row in event.positions:
        p = row.position
        entry: dict[str, Any] = {
            "s": p.symbol,
            "pa": num(p.amount),
            "ep": num(p.entry_price),
            "cr": num(p.realized),
            "up": num(row.unrealized),
        }
        if not pm:
            entry.update({"mt": row.margin_type, "iw": num(p.isolated_wallet)})
        entry.update({"ps": p.side, "bep": num(p.break_even)})
        if not pm:
            entry["ma"] = p.margin_asset
        rows.append(entry)
    inner: dict[str, Any] = {
        "m": event.reason,
        "B": [
            {"a": b.asset, "wb": num(b.wallet), "cw": num(b.cross_wallet), "bc": num(b.change)} for b in event.balances
        ],
        "P": rows,
    }
    if event.symbol is not None:
        inner["S"] = event.symbol
    head["a"] = inner
    return head


def _algo(event: AlgoUpdate) -> dict[str, Any]:
    a: AlgoOrder = event.algo
    body: dict[str, Any] = {
        "caid": a.client_algo_id,
        "aid": a.algo_id,
        "at": a.algo_type,
        "o": a.order_type,
        "s": a.symbol,
        "S": a.side,
        "ps": a.position_side,
        "f": a.time_in_force,
        "q": num(a.quantity),
        "X": a.status,
        "ai": str(a.actual_order_id) if a.actual_order_id else "",
        "ap": num(event.avg_price),
        "aq": num(event.executed_qty),
        "act": event.actual_type or "0",
        "tp": num(a.trigger_price),
        "p": num(a.price),
        "V": a.self_trade_prevention,
        "wt": a.working_type,
        "pm": a.price_match,
        "cp": a.close_position,
        "pP": a.price_protect,
        "R": a.reduce_only,
        "tt": a.trigger_ms,
        "gtd": a.good_till_date,
        "rm": a.fail_reason,
    }
    if a.order_type == "TRAILING_STOP_MARKET":
        body.update({"cr": num(a.callback_rate), "AP": num(a.activate_price), "ia": a.activated})
    else:
        body["ia"] = True
    return body
