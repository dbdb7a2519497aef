"""REST bodies of an account's configuration, balances and positions, per API family (Binance's names and types).

Traps kept on purpose (reference/binance_trading.md §4): fapi v3 positionRisk has no leverage; positionRisk's
``notional`` is signed (ccxt takes the side from it); margin type is ``CROSSED``/``ISOLATED`` in symbolConfig but
``cross``/``isolated`` in positionRisk; assets carry a non-zero ``updateTime`` once funded (ccxt skips 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..market.catalogue import Unit
from ..stream.frames import num
from ..venue.fills import order_notionals
from ..venue.model import ZERO, Position
from ..venue.risk import Margins, liquidation_price, maintenance, margins, order_initial_margin, unrealized

if TYPE_CHECKING:
    from ..market.prices import Quote
    from ..venue.account import Account


def symbol_config(account: Account, symbol: str | None, family: str) -> list[dict[str, Any]]:
    """Each UM symbol's leverage and margin type. ``isAutoAddMargin`` is a boolean on fapi and the string
    "false" on papi, as each family's SDK model declares it."""
    symbols = [account.contract(symbol, "UM").symbol] if symbol else _symbols(account, "UM")
    auto_add: bool | str = "false" if family == "papi" else False
    return [
        {
            "symbol": s,
            "marginType": account.margin_type[s],
            "isAutoAddMargin": auto_add,
            "leverage": account.leverage[s],
            "maxNotionalValue": account.contracts[s].cap_for(account.leverage[s]),
        }
        for s in symbols
    ]


def account_config(account: Account) -> dict[str, Any]:
    return {
        "feeTier": 0,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "dualSidePosition": account.dual_side,
        "updateTime": 0,
        "multiAssetsMargin": account.multi_assets,
        "tradeGroupId": -1,
    }


def brackets(account: Account, unit: Unit, symbol: str | None, family: str) -> list[dict[str, Any]]:
    contracts = [account.contract(symbol, unit)] if symbol else [account.contracts[s] for s in _symbols(account, unit)]
    out = []
    for c in contracts:
        entry: dict[str, Any] = {"symbol": c.symbol, "brackets": list(c.brackets)}
        if unit == "UM":
            # papi documents notionalCoef as a string; fapi answers a number.
            entry["notionalCoef"] = "1.0" if family == "papi" else 1.0
        out.append(entry)
    return out


def leverage_answer(account: Account, symbol: str) -> dict[str, Any]:
    contract = account.contracts[symbol]
    lev = account.leverage[symbol]
    cap_name = "maxNotionalValue" if contract.unit == "UM" else "maxQty"
    return {"leverage": lev, cap_name: contract.cap_for(lev), "symbol": symbol}


# -- positions ---------------------------------------------------------------------------------------------------
def _rows(account: Account, unit: Unit, every_symbol: bool) -> list[Position]:
    """Position rows to show: every symbol's (zero rows too) or only those open or with open orders. A read leaves
    ``account.positions`` as it found it (every tick scans it)."""
    if every_symbol:
        return [
            account.position_or_empty(s, side) for s in _symbols(account, unit) for side in account.position_sides()
        ]
    with_orders = {o.symbol for o in account.open_orders.values()}
    return [
        p
        for p in account.positions.values()
        if account.contracts[p.symbol].unit == unit
        and (p.amount or (p.symbol in with_orders and p.side in account.position_sides()))
    ]


def position_risk(account: Account, quotes: Mapping[str, Quote], version: str) -> list[dict[str, Any]]:
    """``/fapi/v2/positionRisk`` (every symbol, leverage as a string), ``/fapi/v3/positionRisk`` (open rows, no
    leverage) and ``/papi/v1/um/positionRisk`` (open rows, leverage, no margin type)."""
    out = []
    figures: Margins | None = None  # the account's margins, once for every row (per row it grew with n squared)
    notionals = order_notionals(account) if version not in ("papi", "v2") else {}  # v3's bid/askNotional
    for p in _rows(account, "UM", every_symbol=version == "v2"):
        contract = account.contracts[p.symbol]
        mark = quotes[p.symbol].mark if p.symbol in quotes else ZERO
        notional = p.amount * mark
        isolated = account.isolated(p.symbol)
        lev = account.leverage[p.symbol]
        if p.amount and figures is None and not isolated:
            figures = margins(account, quotes)
        liq = liquidation_price(account, p.symbol, p.side, quotes, figures) if p.amount else ZERO
        row: dict[str, Any] = {
            "symbol": p.symbol,
            "positionSide": p.side,
            "positionAmt": num(p.amount),
            "entryPrice": num(p.entry_price),
            "breakEvenPrice": num(p.break_even),
            "markPrice": num(mark),
            "unRealizedProfit": num(unrealized(p, mark)),
            "liquidationPrice": num(liq),
            "notional": num(notional),
            "updateTime": p.update_ms,
        }
        isolated_margin = p.isolated_wallet + unrealized(p, mark) if isolated and p.amount else ZERO
        if version == "papi":
            row.update({"leverage": str(lev), "maxNotionalValue": contract.cap_for(lev)})
        elif version == "v2":
            row.update(
                {
                    "marginType": "isolated" if isolated else "cross",
                    "isAutoAddMargin": "false",
                    "isolatedMargin": num(isolated_margin),
                    "leverage": str(lev),
                    "maxNotionalValue": contract.cap_for(lev),
                    "isolatedWallet": num(p.isolated_wallet),
                }
            )
        else:
            mm = maintenance(contract, notional)[0]
            im = abs(notional) / lev if p.amount else ZERO
            orders_im = order_initial_margin(account, quotes, p.symbol)
            row.update(
                {
                    "isolatedMargin": num(isolated_margin),
                    "marginAsset": contract.margin_asset,
                    "isolatedWallet": num(p.isolated_wallet),
                    "initialMargin": num(im + orders_im),
                    "maintMargin": num(mm),
                    "positionInitialMargin": num(im),
                    "openOrderInitialMargin": num(orders_im),
                    "adl": 1 if p.amount else 0,
                    **_bid_ask(notionals, p.symbol),
                }
            )
        out.append(row)
    return out


def _bid_ask(notionals: Mapping[str, tuple[Decimal, Decimal]], symbol: str) -> dict[str, str]:
    """``bidNotional`` and ``askNotional`` from ``order_notionals`` (unrounded, as Binance writes them)."""
    bids, asks = notionals.get(symbol, (ZERO, ZERO))
    return {"bidNotional": num(bids), "askNotional": num(asks)}


# -- balances and accounts ---------------------------------------------------------------------------------------
def _asset_updated(account: Account, asset: str) -> int:
    # ccxt skips an asset whose updateTime is 0 (ccxt#27997): a funded asset always has a time.
    return account.balance_updated_ms.get(asset) or 1


def futures_totals(m: Margins) -> dict[str, str]:
    withdrawable = max(ZERO, min(m.available, m.cross_wallet - m.position_initial - m.open_order_initial))
    return {
        "totalInitialMargin": num(m.initial),
        "totalMaintMargin": num(m.maintenance),
        "totalWalletBalance": num(m.wallet),
        "totalUnrealizedProfit": num(m.unrealized),
        "totalMarginBalance": num(m.wallet + m.unrealized),
        "totalPositionInitialMargin": num(m.position_initial),
        "totalOpenOrderInitialMargin": num(m.open_order_initial),
        "totalCrossWalletBalance": num(m.cross_wallet),
        "totalCrossUnPnl": num(m.cross_unrealized),
        "availableBalance": num(max(m.available, ZERO)),
        "maxWithdrawAmount": num(withdrawable),
    }


def futures_account(account: Account, quotes: Mapping[str, Quote], version: str) -> dict[str, Any]:
    """``/fapi/v2/account`` (every symbol's row, with leverage) or ``/fapi/v3/account`` (open rows only)."""
    m = margins(account, quotes)
    totals = futures_totals(m)
    asset = account.margin_asset
    assets = [
        {
            "asset": asset,
            "walletBalance": totals["totalWalletBalance"],
            "unrealizedProfit": num(m.unrealized),
            "marginBalance": totals["totalMarginBalance"],
            "maintMargin": num(m.maintenance),
            "initialMargin": num(m.initial),
            "positionInitialMargin": num(m.position_initial),
            "openOrderInitialMargin": num(m.open_order_initial),
            "crossWalletBalance": num(m.cross_wallet),
            "crossUnPnl": num(m.cross_unrealized),
            "availableBalance": totals["availableBalance"],
            "maxWithdrawAmount": totals["maxWithdrawAmount"],
            "updateTime": _asset_updated(account, asset),
        }
    ]
    if version == "v2":  # whether the asset counts as margin in Multi-Assets mode: v2 says, v3 dropped it
        assets[0]["marginAvailable"] = True
    positions = []
    notionals = order_notionals(account) if version == "v2" else {}
    for p in _rows(account, "UM", every_symbol=version == "v2"):
        contract = account.contracts[p.symbol]
        mark = quotes[p.symbol].mark if p.symbol in quotes else ZERO
        notional = p.amount * mark
        lev = account.leverage[p.symbol]
        im = abs(notional) / lev
        row: dict[str, Any] = {
            "symbol": p.symbol,
            "positionSide": p.side,
            "positionAmt": num(p.amount),
            "unrealizedProfit": num(unrealized(p, mark)),
            "initialMargin": num(im),
            "maintMargin": num(maintenance(contract, notional)[0]),
            "updateTime": p.update_ms,
        }
        if version == "v2":
            row.update(
                {
                    "positionInitialMargin": num(im),
                    "openOrderInitialMargin": "0",
                    "leverage": str(lev),
                    "isolated": account.isolated(p.symbol),
                    "entryPrice": num(p.entry_price),
                    "maxNotional": contract.cap_for(lev),
                    **_bid_ask(notionals, p.symbol),
                }
            )
        else:
            isolated_margin = p.isolated_wallet + unrealized(p, mark) if account.isolated(p.symbol) else ZERO
            row.update(
                {
                    "isolatedMargin": num(isolated_margin),
                    "notional": num(notional),
                    "isolatedWallet": num(p.isolated_wallet),
                }
            )
        positions.append(row)
    body: dict[str, Any] = {**totals, "assets": assets, "positions": positions}
    if version == "v2":
        body.update(
            {
                "feeTier": 0,
                "feeBurn": False,
                "canTrade": True,
                "canDeposit": True,
                "canWithdraw": True,
                "updateTime": 0,
                "multiAssetsMargin": account.multi_assets,
                "tradeGroupId": -1,
            }
        )
    return body


def futures_balance(account: Account, quotes: Mapping[str, Quote]) -> list[dict[str, Any]]:
    m = margins(account, quotes)
    totals = futures_totals(m)
    asset = account.margin_asset
    return [
        {
            "accountAlias": "SgsR",
            "asset": asset,
            "balance": totals["totalWalletBalance"],
            "crossWalletBalance": num(m.cross_wallet),
            "crossUnPnl": num(m.cross_unrealized),
            "availableBalance": totals["availableBalance"],
            "maxWithdrawAmount": totals["maxWithdrawAmount"],
            "marginAvailable": True,
            "updateTime": _asset_updated(account, asset),
        }
    ]


def _symbols(account: Account, unit: Unit) -> list[str]:
    return [s for s, c in account.contracts.items() if c.unit == unit]
