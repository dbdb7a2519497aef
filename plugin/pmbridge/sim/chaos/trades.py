"""The trades a schedule makes in the Binance app: MARKET orders on two USDⓈ-M symbols whose price is pinned first.

The planner keeps the position each trade leaves, so every order it plans is one the venue accepts (above the minimum
notional, reduce-only when it reduces, nothing to close when flat) and every fill and entry price is known before the
run. Positions stay small (a few hundred USDT): no leverage change a schedule makes is refused because of them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal

from .steps import Trade, TradeIntent


@dataclass(frozen=True, slots=True)
class Traded:
    prices: tuple[int, ...]
    """Where the price is pinned before a trade (a fill at another price moves the entry price)."""
    lots: tuple[Decimal, ...]
    """Quantities that open or grow a position: above the symbol's minimum notional at every price."""
    step: Decimal
    cap: Decimal
    """The largest size the planner builds."""


TRADED: Final[dict[str, Traded]] = {
    "BTCUSDT": Traded((59_000, 60_000, 61_000), (Decimal("0.002"), Decimal("0.003"), Decimal("0.005")),
                      Decimal("0.001"), Decimal("0.012")),
    "ETHUSDT": Traded((2_950, 3_000, 3_050), (Decimal("0.010"), Decimal("0.020"), Decimal("0.050")),
                      Decimal("0.001"), Decimal("0.200")),
}  # fmt: skip
"""Both are among ``CHAOS_SYMBOLS``: leverage changes land on symbols that hold positions."""


class TradePlanner:
    """Draws trades from the schedule's RNG and tracks the position (one-way mode) each one leaves."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.amounts = {symbol: Decimal(0) for symbol in TRADED}

    def next(self, where: str = "") -> Trade:
        rng = self.rng
        symbol = rng.choice(sorted(TRADED))
        spec, amount = TRADED[symbol], self.amounts[symbol]
        lot = rng.choice(spec.lots)
        intent: TradeIntent
        if amount == 0:
            intent = "open"
        else:
            grow: list[TradeIntent] = ["grow", "grow"] if abs(amount) + lot <= spec.cap else []
            shrink: list[TradeIntent] = ["reduce"] if abs(amount) >= 2 * spec.step else []
            intent = rng.choice([*grow, *shrink, "flip", "close"])
        side: Literal["BUY", "SELL"]
        if intent == "open":
            side, quantity = rng.choice(("BUY", "SELL")), lot
        elif intent == "grow":
            side, quantity = ("BUY" if amount > 0 else "SELL"), lot
        else:
            side = "SELL" if amount > 0 else "BUY"
            size = abs(amount)
            quantity = {"reduce": (size / 2).quantize(spec.step), "flip": size + lot, "close": size}[intent]
        self.amounts[symbol] = amount + (quantity if side == "BUY" else -quantity)
        return Trade(symbol, side, quantity, rng.choice(spec.prices), intent, where)
