"""Freqtrade's wallet (free, used, total per currency) of a Portfolio Margin account, from papi's own figures.

ccxt reads ``/papi/v1/balance`` for a futures caller as ``free = umWalletBalance``, ``used = umUnrealizedPNL``. On PM
the deposited collateral sits in the margin wallet (``crossMarginAsset``) and the UM wallet holds only what UM trading
realised (profit, fees, funding): a fresh account shows free 0 and Freqtrade stakes nothing, an account that lost a
little shows a negative free although it has thousands to trade with. What the account can still put up for a new
position is ``/papi/v1/account``'s ``totalAvailableBalance`` (equity less the margin in use, over every collateral
asset); that is the stake currency's ``free`` here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any


def _number(row: Mapping[str, Any], key: str) -> float:
    value = row.get(key)
    try:
        return float(value) if value not in (None, "") else 0.0
    except (TypeError, ValueError):
        return 0.0


def pm_balances(
    rows: Sequence[Mapping[str, Any]],
    account: Mapping[str, Any],
    stake_currency: str,
    currency_code: Callable[[str], str] = str,
) -> dict[str, dict[str, float]]:
    """``rows``: ``/papi/v1/balance``; ``account``: ``/papi/v1/account``. Per asset, ``total`` is its wallet balance
    (margin, UM and CM wallets) plus the UM and CM unrealized profit, as on fapi (Freqtrade takes the open positions'
    unrealized profit out of it itself). The stake currency's ``free`` is the account's ``totalAvailableBalance``
    (USD, the stake's value for USDT and USDC), other assets' their free margin-wallet balance."""
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        asset = row.get("asset")
        if not isinstance(asset, str) or not asset:
            continue
        total = _number(row, "totalWalletBalance") + _number(row, "umUnrealizedPNL") + _number(row, "cmUnrealizedPNL")
        free = _number(row, "crossMarginFree")
        out[currency_code(asset)] = {"free": free, "used": total - free, "total": total}
    available = _number(account, "totalAvailableBalance")
    stake = out.setdefault(stake_currency, {"free": 0.0, "used": 0.0, "total": 0.0})
    stake["free"] = max(0.0, available)
    stake["used"] = max(0.0, stake["total"] - stake["free"])
    return out
