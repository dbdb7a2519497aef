"""REST response bodies built from the account state, in Binance's field names and string/number types."""

from __future__ import annotations

from typing import Any

from .markets import Unit
from .state import AccountState


def _position_sides(state: AccountState) -> tuple[str, ...]:
    return ("LONG", "SHORT") if state.dual_side_position else ("BOTH",)


def symbol_config(state: AccountState, symbol: str | None) -> list[dict[str, Any]]:
    symbols = [state.contract(symbol, "UM").symbol] if symbol else state.catalogue.symbols("UM")
    contracts = state.catalogue.contracts
    return [
        {
            "symbol": s,
            "marginType": state.margin_type[s],
            "isAutoAddMargin": "false",
            "leverage": state.leverage[s],
            "maxNotionalValue": contracts[s].cap_for(state.leverage[s]),
        }
        for s in symbols
    ]


def um_account(state: AccountState) -> dict[str, Any]:
    contracts = state.catalogue.contracts
    positions = [
        {
            "symbol": s,
            "initialMargin": "0",
            "maintMargin": "0",
            "unrealizedProfit": "0.00000000",
            "positionInitialMargin": "0",
            "openOrderInitialMargin": "0",
            "leverage": str(state.leverage[s]),
            "entryPrice": "0.0",
            "maxNotional": contracts[s].cap_for(state.leverage[s]),
            "bidNotional": "0",
            "askNotional": "0",
            "positionSide": side,
            "positionAmt": "0",
            "updateTime": 0,
        }
        for s in state.catalogue.symbols("UM")
        for side in _position_sides(state)
    ]
    asset = {
        "asset": "USDT",
        "crossWalletBalance": "0.00000000",
        "crossUnPnl": "0.00000000",
        "maintMargin": "0.00000000",
        "initialMargin": "0.00000000",
        "positionInitialMargin": "0.00000000",
        "openOrderInitialMargin": "0.00000000",
        "updateTime": 0,
    }
    return {"assets": [asset], "positions": positions}


def um_account_config(state: AccountState) -> dict[str, Any]:
    return {
        "feeTier": 0,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "dualSidePosition": state.dual_side_position,
        "updateTime": 0,
        "multiAssetsMargin": state.multi_assets,
        "tradeGroupId": -1,
    }


def _cm_position(state: AccountState, symbol: str, side: str) -> dict[str, Any]:
    lev = state.leverage[symbol]
    return {
        "symbol": symbol,
        "positionAmt": "0",
        "initialMargin": "0",
        "maintMargin": "0",
        "unrealizedProfit": "0.00000000",
        "positionInitialMargin": "0",
        "openOrderInitialMargin": "0",
        "leverage": str(lev),
        "positionSide": side,
        "entryPrice": "0.0",
        "maxQty": state.catalogue.contracts[symbol].cap_for(lev),
        "updateTime": 0,
    }


def cm_account(state: AccountState, *, standalone: bool = False) -> dict[str, Any]:
    positions = [_cm_position(state, s, side) for s in state.catalogue.symbols("CM") for side in _position_sides(state)]
    if standalone:
        # The dapi account also answers for margin type, which the papi one leaves out.
        for pos in positions:
            pos["isolated"] = state.margin_type[pos["symbol"]] == "ISOLATED"
    body: dict[str, Any] = {
        "assets": [
            {
                "asset": "BTC",
                "walletBalance": "0.00000000",
                "unrealizedProfit": "0.00000000",
                "marginBalance": "0.00000000",
                "maintMargin": "0.00000000",
                "initialMargin": "0.00000000",
                "updateTime": 0,
            }
        ],
        "positions": positions,
    }
    if standalone:
        body.update({"canDeposit": True, "canTrade": True, "canWithdraw": True, "feeTier": 0, "updateTime": 0})
    return body


def cm_position_risk(state: AccountState, *, standalone: bool = False) -> list[dict[str, Any]]:
    out = []
    for s in state.catalogue.symbols("CM"):
        for side in _position_sides(state):
            lev = state.leverage[s]
            row: dict[str, Any] = {
                "symbol": s,
                "positionAmt": "0",
                "entryPrice": "0.0",
                "markPrice": "0.0",
                "unRealizedProfit": "0.00000000",
                "liquidationPrice": "0",
                "leverage": str(lev),
                "positionSide": side,
                "updateTime": 0,
                "notionalValue": "0",
                "maxQty": state.catalogue.contracts[s].cap_for(lev),
            }
            if standalone:
                row.update(
                    {
                        "marginType": state.margin_type[s].lower().replace("crossed", "cross"),
                        "isolatedMargin": "0.00000000",
                        "isAutoAddMargin": "false",
                    }
                )
            out.append(row)
    return out


def leverage_answer(state: AccountState, symbol: str, unit: Unit) -> dict[str, Any]:
    lev = state.leverage[symbol]
    cap_name = "maxNotionalValue" if unit == "UM" else "maxQty"
    return {"leverage": lev, cap_name: state.catalogue.contracts[symbol].cap_for(lev), "symbol": symbol}
