"""Seeded fault schedules: what a chaos run does to the simulator, step by step. The same seed gives the same schedule.

A schedule is built from blocks. A gap block puts changes (UM leverage, CM leverage, multi-assets, a trade in the app
that opens, grows, reduces, flips or closes a position) before the gap, inside it (lost to the stream, fills and
ACCOUNT_UPDATEs included: only a resync can find them) and after it (the new connection must carry them); other blocks
inject frames (malformed; duplicate and stale configuration or position updates) or REST trouble (429, 418, 5xx,
-1021, latency). Every schedule is built around one focus kind (``FAULT_KINDS[seed % len(FAULT_KINDS)]``) and one gap
kind (``GAP_KINDS[seed % 5]``, with the change kinds rotated over before/inside/after), so any run of consecutive seeds
covers every kind.

24 h cuts and silent key expiry run on the compressed clock (``FAST_CLOCK_SPEED``, bridge ``time_scale`` to match):
the bridge's keepalives and make-before-break rotations then happen during the run too, and event times stay as close
to the bridge's clock as Binance's are (a day's jump on a real-time clock would date every later event a day ahead).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from ..market.catalogue import Unit
from .steps import (
    CHANGE_KINDS,
    CHAOS_SYMBOLS,
    CONFIG_KINDS,
    FAULT_KINDS,
    FRAME_KINDS,
    GAP_KINDS,
    INITIAL_LEVERAGE,
    MALFORMED_VARIANTS,
    PLACEMENTS,
    TROUBLE_KINDS,
    ChangeKind,
    Cut24h,
    DropSockets,
    DuplicateFrame,
    DuplicatePosition,
    ExpireKey,
    FrameKind,
    GapKind,
    Latency,
    MalformedFrame,
    Pause,
    Placement,
    ReconcileNow,
    RestFailure,
    SetLeverage,
    SetMultiAssets,
    StaleFrame,
    StalePosition,
    Step,
    TroubleKind,
    step_kinds,
)
from .trades import TradePlanner


# -- the schedule ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Schedule:
    seed: int
    steps: tuple[Step, ...]
    raising_plugin: bool = False
    """A plugin that raises on every change (it must be isolated: the others still hear everything)."""
    slow_plugin: bool = False
    """A plugin that sleeps a few ms in every hook call."""
    block_every: int | None = None
    """With the slow plugin: every Nth call blocks ~0.3 s instead."""
    fast_clock: bool = False
    """Sim clock and bridge at ``FAST_CLOCK_SPEED``: keepalives and make-before-break rotations happen meanwhile."""
    expect_rotation: bool = False
    """The run lasts long enough on the fast clock for a make-before-break rotation (gaps restart its timer)."""
    reconcile_s: float | None = None
    """The bridge's fixed reconcile cadence in real seconds (None: none during the run)."""
    tags: frozenset[str] = field(default=frozenset())
    """``"<gap>:<placement>:<change>"`` for every change placed around a gap (coverage bookkeeping)."""

    def kinds(self) -> Counter[str]:
        counts: Counter[str] = Counter(kind for step in self.steps for kind in step_kinds(step))
        for kind, present in (
            ("raising_plugin", self.raising_plugin),
            ("slow_plugin", self.slow_plugin),
            ("blocking_plugin", self.block_every is not None),
            ("rotation", self.expect_rotation),
        ):
            if present:
                counts[kind] += 1
        return counts

    def describe(self) -> str:
        """The schedule as text, one numbered step a line: what to paste into a bug report next to the seed."""
        plugins = [name for name, on in (("raising", self.raising_plugin), ("slow", self.slow_plugin)) if on]
        if self.block_every is not None:
            plugins.append(f"slow blocks 0.3 s every {self.block_every} calls")
        reconcile = f"every {self.reconcile_s:g} s" if self.reconcile_s else "off"
        head = (
            f"chaos schedule seed={self.seed}: clock={'fast' if self.fast_clock else 'real'}, reconcile={reconcile}, "
            f"plugins={', '.join(plugins) or 'none'}"
        )
        return "\n".join([head, *(f"{i:3d}. {step}" for i, step in enumerate(self.steps, 1))])


# -- the generator --------------------------------------------------------------------------------------------------
class _Builder:
    """Draws steps from one seeded RNG and tracks the values the exchange will hold, to pick repeats and no-ops."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.steps: list[Step] = []
        self.tags: set[str] = set()
        self.leverage = {symbol: INITIAL_LEVERAGE for _, symbol, _ in CHAOS_SYMBOLS}
        self.used: dict[str, list[int]] = {symbol: [INITIAL_LEVERAGE] for _, symbol, _ in CHAOS_SYMBOLS}
        self.multi_assets = False
        self.trades = TradePlanner(self.rng)
        self.fast_clock = False
        self.show_rotation = False

    def pause(self, low: int, high: int) -> None:
        self.steps.append(Pause(self.rng.randint(low, high)))

    def change(self, kind: ChangeKind, where: str = "") -> str | None:
        """Append one change of ``kind``; return its symbol (None for multi-assets)."""
        rng = self.rng
        if kind == "trade":
            trade = self.trades.next(where)
            self.steps.append(trade)
            return trade.symbol
        if kind == "multi_assets":
            # Mostly a flip; sometimes the same value again (Binance still pushes an event).
            self.multi_assets = self.multi_assets if rng.random() < 0.1 else not self.multi_assets
            self.steps.append(SetMultiAssets(self.multi_assets, where))
            return None
        unit: Unit = "UM" if kind == "leverage_um" else "CM"
        unit_symbol, symbol, maximum = rng.choice([c for c in CHAOS_SYMBOLS if c[0] == unit])
        draw = rng.random()
        if draw < 0.1:
            leverage = self.leverage[symbol]  # a no-op change: pushed, but nothing to announce
        elif draw < 0.35:
            leverage = rng.choice(self.used[symbol])  # back to an earlier value
        else:
            leverage = rng.randint(1, maximum)
        self.leverage[symbol] = leverage
        self.used[symbol].append(leverage)
        via: Literal["app", "rest"] = "rest" if rng.random() < 0.2 else "app"
        self.steps.append(SetLeverage(unit_symbol, symbol, leverage, via, where))
        return symbol

    def any_change(self, where: str = "") -> str | None:
        return self.change(self.rng.choice(CHANGE_KINDS), where)

    def trouble(self, kind: TroubleKind, *, listen_key: bool) -> None:
        rng = self.rng
        paths = (
            None,
            None,
            "/papi/v1/um/symbolConfig",
            "/papi/v1/cm/account",
            "/papi/v1/um/accountConfig",
            "/papi/v1/um/positionRisk",  # a resync's positions, and every read-back
        )
        path = rng.choice((*paths, "/papi/v1/listenKey") if listen_key else paths)
        count = rng.randint(1, 3)
        if kind == "http_429":
            self.steps.append(RestFailure(429, count, retry_after_s=rng.choice((0, 0.02, 0.05, 0.1)), path=path))
        elif kind == "http_418":
            self.steps.append(RestFailure(418, 1, retry_after_s=rng.choice((0.05, 0.1, 0.2)), path=path))
        elif kind == "http_5xx":
            self.steps.append(RestFailure(rng.choice((500, 502, 503, 504)), count, path=path))
        elif kind == "clock_skew_1021":
            self.steps.append(RestFailure(400, count, code=-1021, path=path))
        else:
            self.steps.append(Latency(rng.choice((20, 50, 100, 200, 300)), rng.randint(1, 4)))

    def gap_block(self, gap: GapKind, kinds: dict[Placement, ChangeKind] | None = None) -> None:
        """Changes before, inside and after one gap (each placement gets a change unless ``kinds`` leaves it out)."""
        rng = self.rng
        if kinds is None:
            kinds = {p: rng.choice(CHANGE_KINDS) for p in PLACEMENTS if rng.random() < 0.8}
        if "before" in kinds:
            self.change(kinds["before"], f"before {gap}")
            if rng.random() < 0.5:
                self.pause(0, 5)
        if rng.random() < 0.4:  # trouble armed just before: the reconnect and its snapshot run into it
            self.trouble(rng.choice(TROUBLE_KINDS), listen_key=True)
        if gap == "drop":
            self.steps.append(DropSockets())
        elif gap in ("key_expired", "key_expired_silently"):
            self.steps.append(ExpireKey(announce=gap == "key_expired"))
            if gap == "key_expired_silently":
                self.fast_clock = True  # only a keepalive (every 0.42 s on the fast clock) can find out
        else:
            self.steps.append(Cut24h(key_alive=gap == "cut_24h"))
            # A day's jump on a real-time clock would date every later event a day ahead of the bridge's clock
            # (which the bridge rightly drops as corrupt); Binance's clock never jumps. The compressed clock is the
            # faithful way to reach the 24 h cut.
            self.fast_clock = True
        if "inside" in kinds:
            self.change(kinds["inside"], f"inside {gap}")
            for _ in range(rng.randint(0, 2)):  # more, spread over the reconnect and its snapshot
                self.pause(0, 15)
                self.any_change(f"inside {gap}")
        self.pause(40, 120)
        if "after" in kinds:
            self.change(kinds["after"], f"after {gap}")
        self.pause(10, 40)
        self.tags.update(f"{gap}:{placement}:{kind}" for placement, kind in kinds.items())

    def frame_block(self, kind: FrameKind) -> None:
        rng = self.rng
        if kind == "malformed":
            for variant in rng.sample(MALFORMED_VARIANTS, rng.randint(1, 3)):
                self.steps.append(MalformedFrame(variant))
            self.pause(5, 20)
            return
        # Change the target first so the bridge holds a pushed frame for it, give it time to arrive, then replay.
        where = f"before {kind.replace('_', '-')} frames"
        target = self.change("trade" if kind.startswith("position") else rng.choice(CONFIG_KINDS), where)
        self.pause(20, 40)
        copies, envelope, invented = rng.randint(1, 3), rng.random() < 0.3, rng.random() < 0.5
        if kind == "duplicate":
            self.steps.append(DuplicateFrame(target, copies, envelope))
        elif kind == "out_of_order":
            self.steps.append(StaleFrame(target, invented))
        elif kind == "position_duplicate":
            assert target is not None
            self.steps.append(DuplicatePosition(target, copies, envelope))
        else:
            assert target is not None
            self.steps.append(StalePosition(target, invented))
        self.pause(5, 20)

    def trouble_block(self, kind: TroubleKind) -> None:
        """REST trouble with no gap: a manual reconcile (and a REST change, sometimes) runs into it."""
        self.trouble(kind, listen_key=False)
        if self.rng.random() < 0.5:
            self.change(self.rng.choice(("leverage_um", "leverage_cm")), f"during {kind}")
        self.steps.append(ReconcileNow())
        self.any_change(f"during {kind} reconcile")
        self.pause(30, 80)

    def focus(self, kind: str) -> None:
        """Make sure ``kind`` is in the schedule (plugin kinds are switched on by ``generate``)."""
        if kind in GAP_KINDS:
            self.gap_block(kind)
        elif kind in TROUBLE_KINDS:
            self.trouble_block(kind)
        elif kind in FRAME_KINDS:
            self.frame_block(kind)
        elif kind in CHANGE_KINDS:
            self.change(kind)
            self.pause(5, 20)
        elif kind == "manual_reconcile":
            self.steps.append(ReconcileNow())
            self.any_change("during a manual reconcile")
            self.pause(20, 50)
        elif kind == "rotation":
            self.fast_clock = self.show_rotation = True


def generate(seed: int) -> Schedule:
    """The schedule for ``seed`` (any int; the same seed always gives the same schedule)."""
    b = _Builder(seed)
    rng = b.rng
    # The first block: gap kind and change rotation from the seed, so consecutive seeds cover every combination.
    gap = GAP_KINDS[seed % len(GAP_KINDS)]
    turn = seed // len(GAP_KINDS)
    b.gap_block(gap, {p: CHANGE_KINDS[(turn + i) % len(CHANGE_KINDS)] for i, p in enumerate(PLACEMENTS)})
    focus = FAULT_KINDS[seed % len(FAULT_KINDS)]
    b.focus(focus)
    for _ in range(rng.randint(1, 2)):
        draw = rng.random()
        if draw < 0.4:
            b.gap_block(rng.choice(GAP_KINDS))
        elif draw < 0.7:
            b.frame_block(rng.choice(FRAME_KINDS))
        else:
            b.trouble_block(rng.choice(TROUBLE_KINDS))
    blocking = focus == "blocking_plugin" or rng.random() < 0.1
    slow = blocking or focus == "slow_plugin" or rng.random() < 0.3
    if rng.random() < 0.1:
        b.fast_clock = b.show_rotation = True
    if b.show_rotation:
        b.pause(300, 500)  # long enough for a keepalive and a rotation to happen
    return Schedule(
        seed=seed,
        steps=tuple(b.steps),
        raising_plugin=focus == "raising_plugin" or rng.random() < 0.4,
        slow_plugin=slow,
        block_every=rng.randint(6, 15) if blocking else None,
        fast_clock=b.fast_clock,
        expect_rotation=b.show_rotation,
        reconcile_s=rng.choice((None, None, 0.15, 0.4)),
        tags=frozenset(b.tags),
    )
