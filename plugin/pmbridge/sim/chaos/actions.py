"""The steps of a chaos schedule, performed: changes, gaps, REST trouble and injected frames, then the settling."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from ...bridge import Bridge
from ...errors import ExchangeError, PMBridgeError
from ..errors import BinanceError
from ..server import Simulator
from .check import (
    FLAT,
    PositionValue,
    Setting,
    TrueValue,
    differences,
    positions_from_history,
    truth_from_history,
)
from .plugins import UNITS, FrameLog, config_frame, malformed_frame, position_frame
from .schedule import Schedule
from .steps import (
    CHAOS_SYMBOLS,
    DAY_MS,
    Cut24h,
    DropSockets,
    DuplicateFrame,
    DuplicatePosition,
    ExpireKey,
    Latency,
    MalformedFrame,
    Pause,
    ReconcileNow,
    RestFailure,
    SetLeverage,
    SetMultiAssets,
    StaleFrame,
    StalePosition,
    Step,
    Trade,
)

QUIET_S: Final = 0.05
"""The book must still equal the exchange this long after it first did."""
HELD_WAIT_S: Final = 0.5
"""How long a duplicate/stale step waits for the bridge to hold the newest pushed frame of its target."""
INVENTED_ENTRY: Final = Decimal("12345.6")
"""The entry price of an invented position update: no fill at the pinned prices of ``TRADED`` averages to it."""
_MAX_LEVERAGE: Final[dict[str, int]] = {symbol: maximum for _, symbol, maximum in CHAOS_SYMBOLS}


@dataclass
class Actions:
    """Performs a schedule's steps on one simulator and bridge; collects effects and step-level violations."""

    schedule: Schedule
    sim: Simulator
    bridge: Bridge
    frames: FrameLog
    rng: random.Random
    effects: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    injected: dict[int, str] = field(default_factory=dict)
    reconciles: list[asyncio.Task[None]] = field(default_factory=list)
    next_mark: int = 1

    def mark(self, kind: str) -> int:
        mark, self.next_mark = self.next_mark, self.next_mark + 1
        self.injected[mark] = kind
        return mark

    async def do(self, step: Step) -> None:
        sim, bridge, effects = self.sim, self.bridge, self.effects
        if isinstance(step, SetLeverage):
            if step.via == "app":
                await sim.set_leverage(step.symbol, step.leverage)
            else:
                try:
                    await bridge.set_leverage(step.unit, step.symbol, step.leverage)
                except ExchangeError:  # injected trouble hit it: the change was refused, nothing to find
                    effects["rest_changes_refused"] += 1
                    return
            effects["leverage_um_changed" if step.unit == "UM" else "leverage_cm_changed"] += 1
        elif isinstance(step, SetMultiAssets):
            await sim.set_multi_assets(step.enabled)
            effects["multi_assets_changed"] += 1
        elif isinstance(step, Trade):
            await self.trade(step)
        elif isinstance(step, Pause):
            await asyncio.sleep(step.ms / 1000)
        elif isinstance(step, DropSockets):
            effects["sockets_dropped"] += await sim.drop()
        elif isinstance(step, ExpireKey):
            expired = len(await sim.expire_key("pm", announce=step.announce))
            effects["keys_expired" if step.announce else "keys_expired_silently"] += expired
        elif isinstance(step, Cut24h):
            effects["sockets_cut" if step.key_alive else "sockets_cut_key_expired"] += sim.state()["sockets"]["pm"]
            await sim.set_clock(advance_ms=DAY_MS + 60_000, keep_keys=step.key_alive)
        elif isinstance(step, RestFailure):
            await sim.fail(step.status, step.count, step.code, step.retry_after_s, [step.path] if step.path else None)
        elif isinstance(step, Latency):
            await sim.set_latency(step.ms, step.count)
        elif isinstance(step, MalformedFrame):
            await self.push([malformed_frame(step.variant, self.mark("malformed"))])
        elif isinstance(step, DuplicateFrame | StaleFrame):
            await self.replay(step)
        elif isinstance(step, DuplicatePosition | StalePosition):
            await self.replay_position(step)
        elif isinstance(step, ReconcileNow):
            self.reconciles.append(asyncio.create_task(self.reconcile(), name="chaos-reconcile"))

    async def trade(self, step: Trade) -> None:
        await self.sim.set_price(step.symbol, step.price)
        try:
            if step.intent == "close":
                await self.sim.close_position(step.symbol)
            else:
                reduce_only = True if step.intent == "reduce" else None
                await self.sim.place_order(
                    symbol=step.symbol,
                    side=step.side,
                    type="MARKET",
                    quantity=str(step.quantity),
                    reduce_only=reduce_only,
                )
        except (BinanceError, ValueError) as exc:  # the schedule's model of the position is wrong, or the venue is
            self.violations.append(f"the simulator refused a planned trade ({step}): {exc}")
            return
        self.effects["trades_filled"] += 1
        self.effects[f"trades_{step.intent}"] += 1

    async def push(self, frames: list[Any]) -> None:
        if not await self.sim.push_frames(frames):
            self.effects["frames_pushed_to_no_socket"] += len(frames)

    async def reconcile(self) -> None:
        try:
            await self.bridge.reconcile_now()
        except PMBridgeError:  # a refused snapshot; the bridge's own resyncs carry on
            self.effects["manual_reconciles_failed"] += 1
        else:
            self.effects["manual_reconciles"] += 1

    def _held(self, symbol: str | None) -> tuple[int | None, list[TrueValue[Setting]]]:
        """The event time the bridge holds as newest for the target, and the target's true history."""
        history = truth_from_history(self.sim.history())
        if symbol is None:
            flag = self.bridge.book.flags().get("multi_assets")
            return (None if flag is None else flag.event_time), history["multi_assets"]
        unit = UNITS[symbol]
        entry = self.bridge.book.get(symbol, unit)
        return (None if entry is None else entry.event_time), history[f"{unit}:{symbol}"]

    async def replay(self, step: DuplicateFrame | StaleFrame) -> None:
        """Push copies of (or frames older than) the newest frame the bridge holds for the step's target."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HELD_WAIT_S
        held, truth = self._held(step.symbol)
        while held != truth[-1].event_ms and loop.time() < deadline:
            await asyncio.sleep(0.005)
            held, truth = self._held(step.symbol)
        if held is None:
            self.effects["frame_replays_skipped"] += 1  # the bridge has no pushed frame for it (only snapshots)
            return
        index = next((i for i, record in enumerate(truth) if record.event_ms == held), None)
        if index is None:
            self.violations.append(f"the book holds E={held} for {step.symbol or 'multi_assets'}: never pushed")
            return
        record = truth[index]
        if isinstance(step, DuplicateFrame):
            frames: list[Any] = []
            for _ in range(step.copies):
                frame = config_frame(step.symbol, held, record.transaction_ms, record.value, self.mark("duplicate"))
                frames.append({"stream": "chaos-envelope", "data": frame} if step.envelope else frame)
            await self.push(frames)
            return
        older = [r for r in truth[:index] if r.event_ms is not None]
        if older and not step.invented:
            true_old = older[-1]  # the event just before the held one, arriving after it
            assert true_old.event_ms is not None
            frame = config_frame(
                step.symbol, true_old.event_ms, true_old.transaction_ms, true_old.value, self.mark("stale")
            )
        else:
            event_ms = held - 1 - self.rng.randint(0, 50)
            frame = config_frame(
                step.symbol, event_ms, event_ms - 2, self._invented(step.symbol, truth), self.mark("stale")
            )
        await self.push([frame])

    def _invented(self, symbol: str | None, truth: list[TrueValue[Setting]]) -> int | bool:
        """A value the target never had (for the two-valued flag: the opposite of the exchange's current one)."""
        if symbol is None:
            return not truth[-1].value
        seen = {record.value for record in truth}
        unused = [v for v in range(1, _MAX_LEVERAGE[symbol] + 1) if v not in seen]
        return self.rng.choice(unused) if unused else (int(truth[-1].value) % _MAX_LEVERAGE[symbol]) + 1

    async def replay_position(self, step: DuplicatePosition | StalePosition) -> None:
        """Push copies of (or updates older than) the newest ACCOUNT_UPDATE the bridge received for the position."""
        key = f"{step.symbol}:BOTH"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HELD_WAIT_S
        truth = self._position_truth(key)
        while (held := self.frames.positions.get(key)) is None or held[0] != truth[-1].event_ms:
            if loop.time() > deadline:
                break
            await asyncio.sleep(0.005)
            truth = self._position_truth(key)
        if held is None:
            self.effects["frame_replays_skipped"] += 1  # every update of it was lost in a gap
            return
        event_ms, transaction_ms = held
        before = [r for r in truth if r.event_ms is None or r.event_ms <= event_ms]
        if isinstance(step, DuplicatePosition):
            frames: list[Any] = []
            for _ in range(step.copies):
                frame = position_frame(
                    step.symbol, event_ms, transaction_ms, before[-1].value, self.mark("position_duplicate")
                )
                frames.append({"stream": "chaos-envelope", "data": frame} if step.envelope else frame)
            await self.push(frames)
            return
        older = [r for r in before if r.event_ms is not None and r.event_ms < event_ms]
        if older and not step.invented:
            record = older[-1]  # the update just before the held one, arriving after it
            assert record.event_ms is not None
            frame = position_frame(
                step.symbol, record.event_ms, record.transaction_ms, record.value, self.mark("position_stale")
            )
        else:
            stale_ms = event_ms - 1 - self.rng.randint(0, 50)
            amount = Decimal(self.rng.randint(1, 999)).scaleb(-3) * self.rng.choice((1, -1))
            invented = PositionValue(amount, INVENTED_ENTRY)
            frame = position_frame(step.symbol, stale_ms, stale_ms - 2, invented, self.mark("position_stale"))
        await self.push([frame])

    def _position_truth(self, key: str) -> list[TrueValue[PositionValue]]:
        return positions_from_history(self.sim.history()).get(key, [TrueValue(None, None, FLAT)])

    async def settle(self, timeout: float) -> bool:
        """Lift the REST trouble and wait until the book equals the exchange (and stays so for ``QUIET_S``)."""
        await self.sim.fail(500, 0)
        await self.sim.set_latency(0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self.reconciles:
            await asyncio.wait(self.reconciles, timeout=timeout)
        while loop.time() < deadline:
            if self.bridge.available and not self.differences():
                await asyncio.sleep(QUIET_S)
                if self.bridge.available and not self.differences():
                    return True
            await asyncio.sleep(0.01)
        return False

    def differences(self) -> list[str]:
        return differences(self.bridge.book, self.bridge.positions, self.sim.state())
