"""REST readings of the account, through ccxt: the leverage snapshot (every symbol's leverage and the account flags)
and the positions (ccxt's unified ``fetch_positions``), turned into the books' types.

What each full resync costs, whatever the number of symbols (docs/operations.md):

| account | calls | weight |
|---|---|---|
| pm | um/symbolConfig, cm/account, um/accountConfig, um/positionRisk, cm/positionRisk: 5 | 5+5+5+5+1 = 21 |
| usdm | symbolConfig, multiAssetsMargin, positionSide/dual, v3/positionRisk: 4 | 5+30+30+5 = 70 |
| coinm | account, positionSide/dual, positionRisk: 3 | 5+30+1 = 36 |

ccxt's first ``fetch_positions`` also loads the leverage brackets once (one more call, cached for the session).
fapi's positionRisk v3 carries no leverage: positions take it from the symbol configuration (the leverage book).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from .book import PositionSnapshot, Snapshot
from .const import PositionSide, Unit
from .errors import ExchangeUnavailable
from .models import Position
from .redact import scrub

if TYPE_CHECKING:
    from .rest import RestClient
    from .symbols import SymbolMap

log = logging.getLogger(__name__)


async def leverage_snapshot(rest: RestClient) -> Snapshot:
    """Every symbol's leverage and the account flags in at most 3 calls, made concurrently."""
    ex = rest.exchange
    account = rest.config.account
    if account == "pm":
        um, cm, flags = await asyncio.gather(
            rest.call("read UM symbol config", ex.papiGetUmSymbolConfig),
            rest.call("read CM account", ex.papiGetCmAccount),
            rest.call("read UM account config", ex.papiGetUmAccountConfig),
        )
        return Snapshot(
            {"UM": _leverage_map(um), "CM": _leverage_map(_positions(cm))},
            multi_assets=_flag(flags, "multiAssetsMargin"),
            dual_side_position=_flag(flags, "dualSidePosition"),
        )
    if account == "usdm":
        um, multi, dual = await asyncio.gather(
            rest.call("read symbol config", ex.fapiPrivateGetSymbolConfig),
            rest.call("read multi-assets mode", ex.fapiPrivateGetMultiAssetsMargin),
            rest.call("read position mode", ex.fapiPrivateGetPositionSideDual),
        )
        return Snapshot(
            {"UM": _leverage_map(um)},
            multi_assets=_flag(multi, "multiAssetsMargin"),
            dual_side_position=_flag(dual, "dualSidePosition"),
        )
    cm, dual = await asyncio.gather(
        rest.call("read COIN-M account", ex.dapiPrivateGetAccount),
        rest.call("read position mode", ex.dapiPrivateGetPositionSideDual),
    )
    return Snapshot({"CM": _leverage_map(_positions(cm))}, dual_side_position=_flag(dual, "dualSidePosition"))


_UNITS: dict[str, frozenset[Unit]] = {
    "pm": frozenset({"UM", "CM"}),
    "usdm": frozenset({"UM"}),
    "coinm": frozenset({"CM"}),
}


def position_units(rest: RestClient) -> frozenset[Unit]:
    return _UNITS[rest.config.account]


async def positions_snapshot(
    rest: RestClient, symbols: SymbolMap, only: frozenset[str] | None = None
) -> PositionSnapshot:
    """Open positions through ccxt's ``fetch_positions``: one call per unit the account trades, or, for a read-back
    of ``only`` (exchange ids), per unit those symbols belong to (Binance answers every position of the unit anyway)."""
    ex = rest.exchange
    units = position_units(rest)
    if only is not None:
        units = units & frozenset(symbols.unit_of(symbol) for symbol in only)
    calls = []
    for unit in sorted(units):
        params = {"subType": "inverse"} if unit == "CM" else {}
        calls.append(rest.call(f"read {unit} positions", ex.fetch_positions, None, params))
    answers = await asyncio.gather(*calls)
    positions: list[Position] = []
    for unit, rows in zip(sorted(units), answers, strict=True):
        if not isinstance(rows, list):
            raise ExchangeUnavailable(f"positions answer is not a list: {scrub(repr(rows))[:120]}")
        for row in rows:
            position = _position(row, unit, symbols, rest.config.account == "pm")
            if position is not None and (only is None or position.exchange_symbol in only):
                positions.append(position)
    return PositionSnapshot(tuple(positions), units, only)


def _position(row: Any, unit: Unit, symbols: SymbolMap, portfolio: bool) -> Position | None:
    """ccxt's unified position -> Position, from Binance's own strings in ``info`` (exact decimals)."""
    info = row.get("info") if isinstance(row, Mapping) else None
    if not isinstance(info, Mapping):
        log.warning("ignored a position without Binance's fields: %s", scrub(repr(row))[:120])
        return None
    exchange_id = str(info.get("symbol", ""))
    unified = row.get("symbol")
    found = symbols.exchange_id(unified) if isinstance(unified, str) else None
    if found is not None:
        unit, exchange_id = found
    try:
        side: PositionSide = _side(info.get("positionSide"))
        amount = Decimal(str(info["positionAmt"]))
        margin = info.get("marginType")
        isolated_wallet = _decimal(info.get("isolatedWallet"))
        if margin is None:
            margin = "cross" if portfolio or not isolated_wallet else "isolated"
        leverage = info.get("leverage")
        return Position(
            unit,
            exchange_id,
            side,
            amount,
            Decimal(str(info.get("entryPrice", "0"))),
            unified if isinstance(unified, str) else None,
            int(leverage) if leverage not in (None, "", "0") else None,
            "isolated" if str(margin).lower() == "isolated" else "cross",
            isolated_wallet if str(margin).lower() == "isolated" else None,
            _decimal(info.get("liquidationPrice")),
            _decimal(info.get("unRealizedProfit")),
            _decimal(info.get("markPrice")),
            _decimal(info.get("breakEvenPrice")),
            int(info["updateTime"]) if str(info.get("updateTime", "")).isdigit() else None,
            "snapshot",
            _decimal(info.get("positionInitialMargin")),
        )
    except (KeyError, TypeError, ValueError, InvalidOperation):
        log.warning("ignored a malformed position row: %s", scrub(repr(info))[:120])
        return None


def _side(value: object) -> PositionSide:
    return "LONG" if value == "LONG" else "SHORT" if value == "SHORT" else "BOTH"


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _positions(answer: Any) -> list[Any]:
    positions = answer.get("positions") if isinstance(answer, Mapping) else None
    if isinstance(positions, list):
        return positions
    raise ExchangeUnavailable(f"account answer has no positions list: {scrub(repr(answer))[:120]}")


def _leverage_map(rows: Any) -> dict[str, int]:
    """``[{symbol, leverage}]`` -> ``{symbol: int}``. In hedge mode a symbol appears per side with one leverage."""
    if not isinstance(rows, list):
        raise ExchangeUnavailable(f"leverage answer is not a list: {scrub(repr(rows))[:120]}")
    leverage: dict[str, int] = {}
    for row in rows:
        try:
            leverage[str(row["symbol"])] = int(row["leverage"])
        except (KeyError, TypeError, ValueError):
            log.warning("ignored a malformed leverage row: %s", scrub(repr(row))[:120])
    return leverage


def _flag(answer: Any, key: str) -> bool | None:
    value = answer.get(key) if isinstance(answer, Mapping) else None
    if isinstance(value, str):
        return value.lower() == "true"
    return value if isinstance(value, bool) else None
