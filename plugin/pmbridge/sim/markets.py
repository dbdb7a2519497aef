"""The symbol catalogue: UM and CM contracts, leverage brackets and the (cached) exchangeInfo payloads."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

Unit = Literal["UM", "CM"]

PERPETUAL_DELIVERY_MS: Final = 4133404800000
# Leverage steps Binance uses between a symbol's max and 1x; brackets are cut from this ladder.
_LADDER: Final = (125, 100, 75, 50, 25, 20, 10, 5, 4, 3, 2, 1)
_UM_MAJORS: Final = {"BTC": 125, "ETH": 100, "BNB": 75, "SOL": 75, "XRP": 75}
_CM_CONTRACT_SIZE: Final = {"BTC": 100, "ETH": 10}


@dataclass(frozen=True, slots=True)
class Contract:
    symbol: str
    unit: Unit
    base: str
    quote: str
    margin_asset: str
    contract_type: str
    delivery_ms: int
    max_leverage: int
    brackets: tuple[dict[str, Any], ...]

    def cap_for(self, leverage: int) -> str:
        """The notional (UM) or quantity (CM) cap of the widest bracket that still allows `leverage`."""
        cap_key = "notionalCap" if self.unit == "UM" else "qtyCap"
        allowed = [b for b in self.brackets if b["initialLeverage"] >= leverage]
        return str(allowed[-1][cap_key] if allowed else self.brackets[0][cap_key])


def next_quarter_delivery(now: dt.datetime) -> dt.datetime:
    """Last Friday 08:00 UTC of the first quarter month (Mar/Jun/Sep/Dec) at least a week ahead."""
    year, month = now.year, now.month
    while True:
        if month % 3 == 0:
            first_next = dt.datetime(year + (month == 12), month % 12 + 1, 1, 8, tzinfo=dt.UTC)
            last_day = first_next - dt.timedelta(days=1)
            friday = last_day - dt.timedelta(days=(last_day.weekday() - 4) % 7)
            if friday > now + dt.timedelta(days=7):
                return friday
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _brackets(unit: Unit, max_leverage: int) -> tuple[dict[str, Any], ...]:
    levels = [lev for lev in _LADDER if lev <= max_leverage]
    if levels[0] != max_leverage:
        levels.insert(0, max_leverage)
    floor_key, cap_key = ("notionalFloor", "notionalCap") if unit == "UM" else ("qtyFloor", "qtyCap")
    first_cap = 50_000 if unit == "UM" else 5
    out: list[dict[str, Any]] = []
    floor, cum, prev_mmr = 0, 0.0, 0.0
    for i, lev in enumerate(levels):
        cap = first_cap * 4**i
        mmr = round(1.0 / (2 * lev), 4)
        cum += floor * (mmr - prev_mmr)
        out.append(
            {
                "bracket": i + 1,
                "initialLeverage": lev,
                cap_key: cap,
                floor_key: floor,
                "maintMarginRatio": mmr,
                "cum": round(cum, 4),
            }
        )
        floor, prev_mmr = cap, mmr
    return tuple(out)


def _contract(symbol: str, unit: Unit, base: str, contract_type: str, delivery_ms: int, max_lev: int) -> Contract:
    quote = "USDT" if unit == "UM" else "USD"
    margin = "USDT" if unit == "UM" else base
    return Contract(symbol, unit, base, quote, margin, contract_type, delivery_ms, max_lev, _brackets(unit, max_lev))


class Catalogue:
    """Every contract of both units, by id. Built once; exchangeInfo bodies are encoded once and reused."""

    def __init__(self, um_symbols: int = 8, now: dt.datetime | None = None) -> None:
        delivery = next_quarter_delivery(now or dt.datetime.now(dt.UTC))
        suffix, delivery_ms = delivery.strftime("%y%m%d"), int(delivery.timestamp() * 1000)
        um = [_contract(f"{b}USDT", "UM", b, "PERPETUAL", PERPETUAL_DELIVERY_MS, lev) for b, lev in _UM_MAJORS.items()]
        um.append(_contract(f"BTCUSDT_{suffix}", "UM", "BTC", "CURRENT_QUARTER", delivery_ms, 50))
        um += [
            _contract(f"S{i:04d}USDT", "UM", f"S{i:04d}", "PERPETUAL", PERPETUAL_DELIVERY_MS, 50)
            for i in range(1, um_symbols - len(um) + 1)
        ]
        cm = [
            _contract("BTCUSD_PERP", "CM", "BTC", "PERPETUAL", PERPETUAL_DELIVERY_MS, 125),
            _contract("ETHUSD_PERP", "CM", "ETH", "PERPETUAL", PERPETUAL_DELIVERY_MS, 75),
            _contract(f"BTCUSD_{suffix}", "CM", "BTC", "CURRENT_QUARTER", delivery_ms, 75),
        ]
        self.contracts: dict[str, Contract] = {c.symbol: c for c in um + cm}
        self.delivery_suffix = suffix
        self._info_tail: dict[Unit, bytes] = {"UM": self._encode_tail(um), "CM": self._encode_tail(cm)}
        self._brackets: dict[Unit, bytes] = {"UM": self._encode_brackets(um), "CM": self._encode_brackets(cm)}

    def symbols(self, unit: Unit) -> list[str]:
        return [s for s, c in self.contracts.items() if c.unit == unit]

    def exchange_info(self, unit: Unit, server_time_ms: int) -> bytes:
        # Splice the live serverTime in front of the cached symbol list: re-encoding 5,000 symbols per call is waste.
        return b'{"timezone":"UTC","serverTime":' + str(server_time_ms).encode() + self._info_tail[unit]

    def leverage_brackets(self, unit: Unit, symbol: str | None) -> bytes:
        if symbol is None:
            return self._brackets[unit]
        return orjson.dumps([_bracket_entry(self.contracts[symbol])])

    @staticmethod
    def _encode_brackets(contracts: list[Contract]) -> bytes:
        return orjson.dumps([_bracket_entry(c) for c in contracts])

    @staticmethod
    def _encode_tail(contracts: list[Contract]) -> bytes:
        limits = [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        ]
        symbols = [_info_entry(c) for c in contracts]
        body = orjson.dumps({"rateLimits": limits, "exchangeFilters": [], "symbols": symbols})
        return b"," + body[1:]


def _bracket_entry(c: Contract) -> dict[str, Any]:
    return {"symbol": c.symbol, "notionalCoef": 1.0, "brackets": list(c.brackets)}


def _info_entry(c: Contract) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "symbol": c.symbol,
        "pair": c.symbol.split("_")[0] if c.unit == "UM" else f"{c.base}USD",
        "contractType": c.contract_type,
        "deliveryDate": c.delivery_ms,
        "onboardDate": 1569398400000,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": c.base,
        "quoteAsset": c.quote,
        "marginAsset": c.margin_asset,
        "pricePrecision": 2,
        "quantityPrecision": 3,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.10", "maxPrice": "1000000", "tickSize": "0.10"},
            {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "maxQty": "120", "stepSize": "0.001"},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
    }
    if c.unit == "UM":
        entry["status"] = "TRADING"
        entry["filters"].append({"filterType": "MIN_NOTIONAL", "notional": "100"})
    else:
        entry["contractStatus"] = "TRADING"
        entry["contractSize"] = _CM_CONTRACT_SIZE.get(c.base, 10)
        entry["equalQtyPrecision"] = 4
    return entry
