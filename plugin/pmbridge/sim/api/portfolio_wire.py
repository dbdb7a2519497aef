"""REST bodies only Portfolio Margin (papi) and COIN-M (dapi) have: PM balances and account, the UM and CM account
details, CM position risk.

A PM account keeps deposits in its margin (cross-margin) balance and realized profit, fees and funding in its UM
wallet: ``totalWalletBalance = crossMarginFree + crossMarginLocked + umWalletBalance + cmWalletBalance``. ccxt reads
``umWalletBalance`` as "free" (reference/freqtrade_live.md §5.1), which is why that figure alone under-states what a
PM account can trade with; ``/papi/v1/account``'s ``totalAvailableBalance`` is the account-wide figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..stream.frames import num
from ..venue.fills import order_notionals
from ..venue.model import ZERO
from ..venue.risk import maintenance, margins, unrealized
from .account_wire import _asset_updated, _bid_ask, _rows, _symbols

if TYPE_CHECKING:
    from ..market.prices import Quote
    from ..venue.account import Account


def pm_balances(
    account: Account, quotes: Mapping[str, Quote], asset: str | None
) -> list[dict[str, Any]] | dict[str, Any]:
    m = margins(account, quotes)
    assets = sorted(set(account.collateral) | set(account.wallet))
    rows = []
    for name in assets:
        margin_free = account.collateral.get(name, ZERO)
        um_wallet = account.wallet.get(name, ZERO)
        upnl = m.unrealized if name == account.margin_asset else ZERO
        rows.append(
            {
                "asset": name,
                "totalWalletBalance": num(margin_free + um_wallet),
                "crossMarginAsset": num(margin_free),
                "crossMarginBorrowed": "0",
                "crossMarginFree": num(margin_free),
                "crossMarginInterest": "0",
                "crossMarginLocked": "0",
                "umWalletBalance": num(um_wallet),
                "umUnrealizedPNL": num(upnl),
                "cmWalletBalance": "0",
                "cmUnrealizedPNL": "0",
                "updateTime": _asset_updated(account, name),
                "negativeBalance": "0",
            }
        )
    if asset:
        found = next((r for r in rows if r["asset"] == asset), None)
        if found is None:
            return {
                **rows[0],
                "asset": asset,
                "totalWalletBalance": "0",
                "crossMarginAsset": "0",
                "crossMarginFree": "0",
                "umWalletBalance": "0",
                "umUnrealizedPNL": "0",
            }
        found.pop("crossMarginAsset")
        return found
    return rows


def pm_account(account: Account, quotes: Mapping[str, Quote]) -> dict[str, Any]:
    m = margins(account, quotes)
    available = max(m.available, ZERO)
    return {
        "uniMMR": num(m.uni_mmr.quantize(ZERO.scaleb(-8))) if m.uni_mmr is not None else "0",
        "accountEquity": num(m.equity),
        "actualEquity": num(m.equity),
        "accountInitialMargin": num(m.initial),
        "accountMaintMargin": num(m.maintenance),
        "accountStatus": account.risk_level,
        "virtualMaxWithdrawAmount": num(available),
        "totalAvailableBalance": num(available),
        "totalMarginOpenLoss": "0",
        "updateTime": max(account.balance_updated_ms.values(), default=0),
    }


def um_account(account: Account, quotes: Mapping[str, Quote], version: int) -> dict[str, Any]:
    """``/papi/v1/um/account`` (every symbol, with leverage) or ``/papi/v2/um/account`` (open rows, no leverage)."""
    m = margins(account, quotes)
    asset = {
        "asset": account.margin_asset,
        "crossWalletBalance": num(m.wallet),
        "crossUnPnl": num(m.unrealized),
        "maintMargin": num(m.maintenance),
        "initialMargin": num(m.initial),
        "positionInitialMargin": num(m.position_initial),
        "openOrderInitialMargin": num(m.open_order_initial),
        "updateTime": _asset_updated(account, account.margin_asset),
    }
    rows = (
        _rows(account, "UM", every_symbol=True)
        if version == 1
        else [p for p in account.open_positions() if account.contracts[p.symbol].unit == "UM"]
    )
    notionals = order_notionals(account) if version == 1 else {}
    positions = []
    for p in rows:
        contract = account.contracts[p.symbol]
        mark = quotes[p.symbol].mark if p.symbol in quotes else ZERO
        notional = p.amount * mark
        lev = account.leverage[p.symbol]
        row: dict[str, Any] = {
            "symbol": p.symbol,
            "initialMargin": num(abs(notional) / lev),
            "maintMargin": num(maintenance(contract, notional)[0]),
            "unrealizedProfit": num(unrealized(p, mark)),
            "positionSide": p.side,
            "positionAmt": num(p.amount),
            "updateTime": p.update_ms,
        }
        if version == 1:
            row.update(
                {
                    "positionInitialMargin": num(abs(notional) / lev),
                    "openOrderInitialMargin": "0",
                    "leverage": str(lev),
                    "entryPrice": num(p.entry_price),
                    "maxNotional": contract.cap_for(lev),
                    **_bid_ask(notionals, p.symbol),
                }
            )
        else:
            row["notional"] = num(notional)
        positions.append(row)
    return {"assets": [asset], "positions": positions}


def _cm_position(account: Account, symbol: str, side: str) -> dict[str, Any]:
    lev = account.leverage[symbol]
    return {
        "symbol": symbol,
        "positionAmt": "0",
        "initialMargin": "0",
        "maintMargin": "0",
        "unrealizedProfit": "0",
        "positionInitialMargin": "0",
        "openOrderInitialMargin": "0",
        "leverage": str(lev),
        "positionSide": side,
        "entryPrice": "0",
        "maxQty": account.contracts[symbol].cap_for(lev),
        "updateTime": 0,
    }


def cm_account(account: Account, *, standalone: bool = False) -> dict[str, Any]:
    """``/papi/v1/cm/account`` (PM names: crossWalletBalance...) or ``/dapi/v1/account`` (COIN-M's own)."""
    positions = [_cm_position(account, s, side) for s in _symbols(account, "CM") for side in account.position_sides()]
    if standalone:
        # The dapi account also answers for margin type, which the papi one leaves out.
        for pos in positions:
            pos["isolated"] = account.isolated(pos["symbol"])
            pos["breakEvenPrice"] = "0"
            pos["notionalValue"] = "0"
            pos["isolatedWallet"] = "0"
        asset = account.margin_asset
        wallet = account.wallet.get(asset, ZERO)
        assets: list[dict[str, Any]] = [
            {
                "asset": asset,
                "walletBalance": num(wallet),
                "unrealizedProfit": "0",
                "marginBalance": num(wallet),
                "maintMargin": "0",
                "initialMargin": "0",
                "positionInitialMargin": "0",
                "openOrderInitialMargin": "0",
                "maxWithdrawAmount": num(wallet),
                "crossWalletBalance": num(wallet),
                "crossUnPnl": "0",
                "availableBalance": num(wallet),
                "updateTime": _asset_updated(account, asset),
            }
        ]
        return {
            "assets": assets,
            "positions": positions,
            "canDeposit": True,
            "canTrade": True,
            "canWithdraw": True,
            "feeTier": 0,
            "updateTime": 0,
        }
    assets = [
        {
            "asset": "BTC",
            "crossWalletBalance": "0",
            "crossUnPnl": "0",
            "maintMargin": "0",
            "initialMargin": "0",
            "positionInitialMargin": "0",
            "openOrderInitialMargin": "0",
            "updateTime": 0,
        }
    ]
    return {"assets": assets, "positions": positions}


def cm_position_risk(account: Account, *, standalone: bool = False) -> list[dict[str, Any]]:
    out = []
    for s in _symbols(account, "CM"):
        for side in account.position_sides():
            lev = account.leverage[s]
            row: dict[str, Any] = {
                "symbol": s,
                "positionAmt": "0",
                "entryPrice": "0",
                "markPrice": "0",
                "unRealizedProfit": "0",
                "liquidationPrice": "0",
                "leverage": str(lev),
                "positionSide": side,
                "updateTime": 0,
                "notionalValue": "0",
                "maxQty": account.contracts[s].cap_for(lev),
            }
            if standalone:
                row.update(
                    {
                        "marginType": "isolated" if account.isolated(s) else "cross",
                        "isolatedMargin": "0",
                        "isAutoAddMargin": "false",
                        "breakEvenPrice": "0",
                        "isolatedWallet": "0",
                    }
                )
            out.append(row)
    return out
