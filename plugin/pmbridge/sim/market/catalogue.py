"""The symbol catalogue: UM and CM contracts with their trading filters, leverage brackets and exchangeInfo payloads."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal

import orjson

from .noise import stable_key

Unit = Literal["UM", "CM"]

PERPETUAL_DELIVERY_MS: Final = 4133404800000
# Leverage steps Binance uses between a symbol's max and 1x; brackets are cut from this ladder.
_LADDER: Final = (125, 100, 75, 50, 25, 20, 10, 5, 4, 3, 2, 1)
_CM_CONTRACT_SIZE: Final = {"BTC": 100, "ETH": 10}
START_PRICES: Final = {"BTC": 65_000.0, "ETH": 3_200.0, "BNB": 600.0, "SOL": 150.0, "XRP": 2.5}


@dataclass(frozen=True, slots=True)
class Filters:
    """A contract's PRICE_FILTER, LOT_SIZE and MIN_NOTIONAL: what an order must respect."""

    tick: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    """UM: in USDT; CM has no MIN_NOTIONAL (orders count whole contracts)."""
    min_price: Decimal = Decimal("0.0001")
    max_price: Decimal = Decimal("10000000")

    @property
    def price_decimals(self) -> int:
        """As the tick is written: Binance lists pricePrecision 2 for a tick of "0.10", and an order's price may
        have that many decimals: 60000.05 is within it but off the tick (-4014), 60000.001 is over it (-1111)."""
        return max(0, -int(self.tick.as_tuple().exponent))

    @property
    def qty_decimals(self) -> int:
        return max(0, -int(self.step.as_tuple().exponent))


# Majors as Binance lists them (2026): tick, step, minimum notional, max leverage.
_UM_MAJORS: Final[dict[str, tuple[str, str, str, int]]] = {
    "BTC": ("0.10", "0.001", "100", 125),
    "ETH": ("0.01", "0.001", "20", 100),
    "BNB": ("0.010", "0.01", "5", 75),
    "SOL": ("0.0100", "1", "5", 75),
    "XRP": ("0.0001", "0.1", "5", 75),
}


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
    filters: Filters
    start_price: float
    """Where the seeded price path of the base asset starts."""
    contract_size: int = 1
    """CM: USD value of one contract; UM: 1 (quantities are in the base asset)."""

    def cap_for(self, leverage: int) -> str:
        """The notional (UM) or quantity (CM) cap of the widest bracket that still allows `leverage`."""
        cap_key = "notionalCap" if self.unit == "UM" else "qtyCap"
        allowed = [b for b in self.brackets if b["initialLeverage"] >= leverage]
        return str(allowed[-1][cap_key] if allowed else self.brackets[0][cap_key])

    def bracket(self, size: Decimal) -> dict[str, Any]:
        """The bracket holding a position of ``size`` (UM: notional in USDT; CM: contracts)."""
        floor_key = "notionalFloor" if self.unit == "UM" else "qtyFloor"
        chosen = self.brackets[0]
        for b in self.brackets:
            if size >= b[floor_key]:
                chosen = b
        return chosen

    @property
    def perpetual(self) -> bool:
        return self.delivery_ms == PERPETUAL_DELIVERY_MS


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
    floor, cum, prev_mmr = 0, Decimal(0), Decimal(0)
    for i, lev in enumerate(levels):
        cap = first_cap * 4**i
        mmr = (Decimal(1) / (2 * lev)).quantize(Decimal("0.0001"))
        cum += floor * (mmr - prev_mmr)
        # Maintenance amounts are whole USDT on UM (floors are multiples of 50,000 and rates have four decimals).
        out.append(
            {
                "bracket": i + 1,
                "initialLeverage": lev,
                cap_key: cap,
                floor_key: floor,
                "maintMarginRatio": float(mmr),
                "cum": int(cum) if unit == "UM" else float(cum),
            }
        )
        floor, prev_mmr = cap, mmr
    return tuple(out)


def _generic_filters(start_price: float) -> Filters:
    """Binance's shape for a small listing: ~5 significant price digits, a lot worth about 0.5-5 USDT, 5 USDT min."""
    magnitude = math.floor(math.log10(start_price))
    tick = Decimal(1).scaleb(magnitude - 4)
    step = Decimal(1).scaleb(math.ceil(math.log10(1 / start_price)))
    return Filters(tick, step, step, Decimal(10_000_000), Decimal(1_000_000), Decimal(5), min_price=tick)


def _um_filters(base: str, start_price: float, delivery: bool) -> Filters:
    spec = _UM_MAJORS.get(base)
    if spec is None:
        return _generic_filters(start_price)
    tick, step, notional, _ = spec
    min_notional = Decimal(5) if delivery else Decimal(notional)
    return Filters(
        Decimal(tick), Decimal(step), Decimal(step), Decimal(1000), Decimal(120), min_notional, min_price=Decimal(tick)
    )


def _cm_filters(base: str) -> Filters:
    tick = Decimal("0.1") if base == "BTC" else Decimal("0.01")
    return Filters(tick, Decimal(1), Decimal(1), Decimal(1_000_000), Decimal(25_000), Decimal(0), min_price=tick)


def start_price(seed: int, base: str) -> float:
    """Where an asset's price path starts: the majors at their usual level, the rest between 5 and 500 (seeded)."""
    return START_PRICES.get(base) or 5.0 + stable_key(seed, base) % 49_500 / 100.0


class Catalogue:
    """Every contract of both units, by id. Built once; exchangeInfo bodies are encoded once and reused.

    ``seed`` draws the start prices of generic listings, which size their filters; majors have Binance's own.
    """

    def __init__(self, um_symbols: int = 8, now: dt.datetime | None = None, seed: int = 0) -> None:
        delivery = next_quarter_delivery(now or dt.datetime.now(dt.UTC))
        suffix, delivery_ms = delivery.strftime("%y%m%d"), int(delivery.timestamp() * 1000)

        def um(symbol: str, base: str, kind: str, delivery_at: int, lev: int) -> Contract:
            start = start_price(seed, base)
            filters = _um_filters(base, start, kind != "PERPETUAL")
            return Contract(
                symbol, "UM", base, "USDT", "USDT", kind, delivery_at, lev, _brackets("UM", lev), filters, start
            )

        def cm(symbol: str, base: str, kind: str, delivery_at: int, lev: int) -> Contract:
            return Contract(
                symbol,
                "CM",
                base,
                "USD",
                base,
                kind,
                delivery_at,
                lev,
                _brackets("CM", lev),
                _cm_filters(base),
                start_price(seed, base),
                _CM_CONTRACT_SIZE.get(base, 10),
            )

        ums = [um(f"{b}USDT", b, "PERPETUAL", PERPETUAL_DELIVERY_MS, spec[3]) for b, spec in _UM_MAJORS.items()]
        ums.append(um(f"BTCUSDT_{suffix}", "BTC", "CURRENT_QUARTER", delivery_ms, 50))
        ums += [
            um(f"S{i:04d}USDT", f"S{i:04d}", "PERPETUAL", PERPETUAL_DELIVERY_MS, 50)
            for i in range(1, um_symbols - len(ums) + 1)
        ]
        cms = [
            cm("BTCUSD_PERP", "BTC", "PERPETUAL", PERPETUAL_DELIVERY_MS, 125),
            cm("ETHUSD_PERP", "ETH", "PERPETUAL", PERPETUAL_DELIVERY_MS, 75),
            cm(f"BTCUSD_{suffix}", "BTC", "CURRENT_QUARTER", delivery_ms, 75),
        ]
        self.contracts: dict[str, Contract] = {c.symbol: c for c in ums + cms}
        self.delivery_suffix = suffix
        self._info_tail: dict[Unit, bytes] = {"UM": self._encode_tail(ums), "CM": self._encode_tail(cms)}

    def exchange_info(self, unit: Unit, server_time_ms: int) -> bytes:
        # Splice the live serverTime in front of the cached symbol list: re-encoding 5,000 symbols per call is waste.
        return b'{"timezone":"UTC","serverTime":' + str(server_time_ms).encode() + self._info_tail[unit]

    @staticmethod
    def _encode_tail(contracts: list[Contract]) -> bytes:
        limits = [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        ]
        symbols = [_info_entry(c) for c in contracts]
        body = orjson.dumps({"rateLimits": limits, "exchangeFilters": [], "symbols": symbols})
        return b"," + body[1:]


def _info_entry(c: Contract) -> dict[str, Any]:
    f = c.filters
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
        "pricePrecision": f.price_decimals,
        "quantityPrecision": f.qty_decimals,
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
            {
                "filterType": "PRICE_FILTER",
                "minPrice": str(f.min_price),
                "maxPrice": str(f.max_price),
                "tickSize": str(f.tick),
            },
            {"filterType": "LOT_SIZE", "minQty": str(f.min_qty), "maxQty": str(f.max_qty), "stepSize": str(f.step)},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": str(f.min_qty),
                "maxQty": str(f.market_max_qty),
                "stepSize": str(f.step),
            },
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
        entry["filters"].append({"filterType": "MIN_NOTIONAL", "notional": str(f.min_notional)})
    else:
        entry["contractStatus"] = "TRADING"
        entry["contractSize"] = c.contract_size
        entry["equalQtyPrecision"] = 4
    return entry
