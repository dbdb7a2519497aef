"""The vocabulary of chaos schedules: the fault kinds, the symbols they touch, and the typed steps."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal, get_args

from ..market.catalogue import Unit

DAY_MS: Final = 24 * 60 * 60 * 1000

SIM_SYMBOLS: Final = 8
"""``Simulator(symbols=8)`` lists every symbol below (perpetuals only: their ids do not depend on the date)."""
CHAOS_SYMBOLS: Final[tuple[tuple[Unit, str, int], ...]] = (
    ("UM", "BTCUSDT", 125),
    ("UM", "ETHUSDT", 100),
    ("UM", "SOLUSDT", 75),
    ("UM", "S0001USDT", 50),
    ("CM", "BTCUSD_PERP", 125),
    ("CM", "ETHUSD_PERP", 75),
)
"""(unit, exchange id, maximum leverage) of the symbols a schedule changes."""
INITIAL_LEVERAGE: Final = 20

GapKind = Literal["drop", "key_expired", "key_expired_silently", "cut_24h", "suspended_24h"]
GAP_KINDS: Final[tuple[GapKind, ...]] = ("drop", "key_expired", "key_expired_silently", "cut_24h", "suspended_24h")
ConfigKind = Literal["leverage_um", "leverage_cm", "multi_assets"]
CONFIG_KINDS: Final[tuple[ConfigKind, ...]] = ("leverage_um", "leverage_cm", "multi_assets")
ChangeKind = Literal["leverage_um", "leverage_cm", "multi_assets", "trade"]
CHANGE_KINDS: Final[tuple[ChangeKind, ...]] = (*CONFIG_KINDS, "trade")
"""What a schedule changes on the account: configuration, and trades in the app (opening, growing, reducing,
flipping and closing positions)."""
Placement = Literal["before", "inside", "after"]
PLACEMENTS: Final[tuple[Placement, ...]] = ("before", "inside", "after")
TroubleKind = Literal["http_429", "http_418", "http_5xx", "clock_skew_1021", "latency"]
TROUBLE_KINDS: Final[tuple[TroubleKind, ...]] = ("http_429", "http_418", "http_5xx", "clock_skew_1021", "latency")
FrameKind = Literal["malformed", "duplicate", "out_of_order", "position_duplicate", "position_out_of_order"]
FRAME_KINDS: Final[tuple[FrameKind, ...]] = get_args(FrameKind)
PluginKind = Literal["raising_plugin", "slow_plugin", "blocking_plugin"]
PLUGIN_KINDS: Final[tuple[PluginKind, ...]] = ("raising_plugin", "slow_plugin", "blocking_plugin")
FAULT_KINDS: Final[tuple[str, ...]] = (
    *GAP_KINDS,
    *TROUBLE_KINDS,
    *FRAME_KINDS,
    *CHANGE_KINDS,
    *PLUGIN_KINDS,
    "rotation",
    "manual_reconcile",
)
"""Every kind a schedule can contain; ``Schedule.kinds()`` counts them."""

MalformedVariant = Literal[
    "truncated_json",
    "not_an_object",
    "leverage_not_a_number",
    "leverage_out_of_range",
    "missing_event_time",
    "event_time_not_a_number",
    "bad_business_unit",
    "multi_assets_not_a_bool",
    "integer_overflow",
    "unknown_event_type",
]
MALFORMED_VARIANTS: Final[tuple[MalformedVariant, ...]] = get_args(MalformedVariant)
FAST_CLOCK_SPEED: Final = 3600.0
"""Sim seconds per real second in fast-clock schedules: keepalives every 0.42 s, a key dead 1 s after the last."""
ROTATE_AFTER_FAST_S: Final = 1800.0
"""Rotation period (sim seconds) in fast-clock schedules: a make-before-break rotation every 0.5 real s."""


# -- steps --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SetLeverage:
    """A leverage change, made in the Binance app (``via="app"``) or through the bridge's REST (``via="rest"``)."""

    unit: Unit
    symbol: str
    leverage: int
    via: Literal["app", "rest"] = "app"
    where: str = ""

    def __str__(self) -> str:
        return f"set {self.symbol} ({self.unit}) to {self.leverage}x via {self.via}{_where(self.where)}"


@dataclass(frozen=True, slots=True)
class SetMultiAssets:
    enabled: bool
    where: str = ""

    def __str__(self) -> str:
        return f"turn multi-assets mode {'on' if self.enabled else 'off'}{_where(self.where)}"


TradeIntent = Literal["open", "grow", "reduce", "flip", "close"]


@dataclass(frozen=True, slots=True)
class Trade:
    """A MARKET order placed in the Binance app on a symbol whose price is first pinned at ``price`` (so the fill,
    and the entry price, are known); ``close``: the app's "close position" (a reduce-only order for all of it)."""

    symbol: str
    side: Literal["BUY", "SELL"]
    quantity: Decimal
    price: int
    intent: TradeIntent
    where: str = ""

    def __str__(self) -> str:
        what = "close the position" if self.intent == "close" else f"{self.side.lower()} {self.quantity}"
        return f"{what} of {self.symbol} at {self.price} in the app ({self.intent}){_where(self.where)}"


@dataclass(frozen=True, slots=True)
class Pause:
    ms: int

    def __str__(self) -> str:
        return f"pause {self.ms} ms"


@dataclass(frozen=True, slots=True)
class DropSockets:
    """The exchange closes every user-stream socket (1001 going away)."""

    def __str__(self) -> str:
        return "drop every socket"


@dataclass(frozen=True, slots=True)
class ExpireKey:
    """The listenKey dies; ``announce`` False: without the listenKeyExpired frame (only a keepalive finds out)."""

    announce: bool

    def __str__(self) -> str:
        return "expire the listenKey" + ("" if self.announce else " silently (no listenKeyExpired frame)")


@dataclass(frozen=True, slots=True)
class Cut24h:
    """The sim clock jumps a day: every connection is cut at 24 h. ``key_alive`` False: the key expired too (a host
    suspended for a day); True: the key was kept alive meanwhile, only the connections go."""

    key_alive: bool

    def __str__(self) -> str:
        return "jump 24 h: " + ("connections cut, key kept alive" if self.key_alive else "key expired, connections cut")


@dataclass(frozen=True, slots=True)
class RestFailure:
    """The next ``count`` REST calls (to ``path`` only, if set) answer ``status`` (with Binance ``code``)."""

    status: int
    count: int
    code: int | None = None
    retry_after_s: float | None = None
    path: str | None = None

    def __str__(self) -> str:
        code = f" code {self.code}" if self.code is not None else ""
        retry = f" Retry-After {self.retry_after_s:g} s" if self.retry_after_s is not None else ""
        return (
            f"next {self.count} REST calls{f' to {self.path}' if self.path else ''} answer {self.status}{code}{retry}"
        )


@dataclass(frozen=True, slots=True)
class Latency:
    ms: int
    count: int

    def __str__(self) -> str:
        return f"next {self.count} REST answers {self.ms} ms late"


@dataclass(frozen=True, slots=True)
class MalformedFrame:
    variant: MalformedVariant

    def __str__(self) -> str:
        return f"push a malformed frame ({self.variant.replace('_', ' ')})"


@dataclass(frozen=True, slots=True)
class DuplicateFrame:
    """Push again the frame the bridge holds as newest for ``symbol`` (None: the multi-assets flag)."""

    symbol: str | None
    copies: int
    envelope: bool

    def __str__(self) -> str:
        wrapped = " in a combined-stream envelope" if self.envelope else ""
        return f"push {self.copies} duplicate(s) of the newest {self.symbol or 'multi-assets'} frame{wrapped}"


@dataclass(frozen=True, slots=True)
class StaleFrame:
    """Push a frame for ``symbol`` (None: multi-assets) older than the one the bridge holds: a true older event
    (``invented`` False) or an older time with a value the exchange never had then (``invented`` True)."""

    symbol: str | None
    invented: bool

    def __str__(self) -> str:
        what = "an invented value" if self.invented else "a true older value"
        return f"push an out-of-order {self.symbol or 'multi-assets'} frame with {what}"


@dataclass(frozen=True, slots=True)
class DuplicatePosition:
    """Push again the newest ACCOUNT_UPDATE the bridge received for ``symbol``'s position."""

    symbol: str
    copies: int
    envelope: bool

    def __str__(self) -> str:
        wrapped = " in a combined-stream envelope" if self.envelope else ""
        return f"push {self.copies} duplicate(s) of the newest {self.symbol} position update{wrapped}"


@dataclass(frozen=True, slots=True)
class StalePosition:
    """Push an ACCOUNT_UPDATE for ``symbol`` older than the newest one the bridge received: the true update before it
    (``invented`` False), or an older time with an amount the position never had (``invented`` True)."""

    symbol: str
    invented: bool

    def __str__(self) -> str:
        what = "an invented amount" if self.invented else "the true older amount"
        return f"push an out-of-order {self.symbol} position update with {what}"


@dataclass(frozen=True, slots=True)
class ReconcileNow:
    """A host asks for a snapshot now (``bridge.reconcile_now()``), not waited for: later steps run during it."""

    def __str__(self) -> str:
        return "start a manual reconcile"


Step = (
    SetLeverage
    | SetMultiAssets
    | Trade
    | Pause
    | DropSockets
    | ExpireKey
    | Cut24h
    | RestFailure
    | Latency
    | MalformedFrame
    | DuplicateFrame
    | StaleFrame
    | DuplicatePosition
    | StalePosition
    | ReconcileNow
)


def _where(where: str) -> str:
    return f"  [{where}]" if where else ""


_ONE_KIND: Final[dict[type, str]] = {
    SetMultiAssets: "multi_assets",
    Trade: "trade",
    DropSockets: "drop",
    Latency: "latency",
    MalformedFrame: "malformed",
    DuplicateFrame: "duplicate",
    StaleFrame: "out_of_order",
    DuplicatePosition: "position_duplicate",
    StalePosition: "position_out_of_order",
    ReconcileNow: "manual_reconcile",
}


def step_kinds(step: Step) -> tuple[str, ...]:
    """The fault kinds (``FAULT_KINDS``) one step exercises."""
    if isinstance(step, SetLeverage):
        return ("leverage_um" if step.unit == "UM" else "leverage_cm",)
    if isinstance(step, ExpireKey):
        return ("key_expired" if step.announce else "key_expired_silently",)
    if isinstance(step, Cut24h):
        return ("cut_24h" if step.key_alive else "suspended_24h",)
    if isinstance(step, RestFailure):
        if step.code == -1021:
            return ("clock_skew_1021",)
        return ("http_5xx",) if step.status >= 500 else (f"http_{step.status}",)
    kind = _ONE_KIND.get(type(step))
    return () if kind is None else (kind,)
