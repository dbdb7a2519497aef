"""What a chaos run plugs into the bridge (a recorder, a raising and a slow plugin, a frame log) and the frames it
injects into the stream (marked ``"chaos": n`` so the frame log can tell which ones the bridge really received)."""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Final

import orjson

from ...models import AccountModeChange, LeverageChange, PositionChange, ReconcileReport, Shutdown, StreamStateChange
from ..market.catalogue import Unit
from .check import PositionValue
from .steps import CHAOS_SYMBOLS, MalformedVariant

SLOW_S: Final = 0.003
BLOCK_S: Final = 0.3
MAX_BLOCKS: Final = 2
"""Blocking calls per schedule at most, so one schedule stays under a couple of seconds."""
FAR_FUTURE_MS: Final = 4_102_444_800_000  # 2100-01-01: a malformed frame wrongly applied would freeze the book
_MARK: Final = re.compile(r'"chaos":(\d+)')
UNITS: Final[dict[str, Unit]] = {symbol: unit for unit, symbol, _ in CHAOS_SYMBOLS}


# -- plugins ------------------------------------------------------------------------------------------------------
class ChaosRecorder:
    """Records every change, stream state, reconcile and shutdown hook. Thread-safe: hooks arrive on the hook thread
    (or a detached plugin's own); the properties return copies taken under the lock."""

    def __init__(self) -> None:
        self.__name__ = "chaos-recorder"
        self._lock = threading.Lock()
        self._changes: list[LeverageChange | AccountModeChange] = []
        self._positions: list[PositionChange] = []
        self._states: list[StreamStateChange] = []
        self._reports: list[ReconcileReport] = []
        self._shutdowns: list[Shutdown] = []

    @property
    def changes(self) -> list[LeverageChange | AccountModeChange]:
        with self._lock:
            return list(self._changes)

    @property
    def position_changes(self) -> list[PositionChange]:
        with self._lock:
            return list(self._positions)

    @property
    def states(self) -> list[StreamStateChange]:
        with self._lock:
            return list(self._states)

    @property
    def reports(self) -> list[ReconcileReport]:
        with self._lock:
            return list(self._reports)

    @property
    def shutdowns(self) -> list[Shutdown]:
        with self._lock:
            return list(self._shutdowns)

    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
        with self._lock:
            self._changes.append(change)

    def pmbridge_account_mode_changed(self, change: AccountModeChange) -> None:
        with self._lock:
            self._changes.append(change)

    def pmbridge_position_changed(self, change: PositionChange) -> None:
        with self._lock:
            self._positions.append(change)

    def pmbridge_stream_state_changed(self, change: StreamStateChange) -> None:
        with self._lock:
            self._states.append(change)

    def pmbridge_reconciled(self, report: ReconcileReport) -> None:
        with self._lock:
            self._reports.append(report)

    def pmbridge_shutdown(self, shutdown: Shutdown) -> None:
        with self._lock:
            self._shutdowns.append(shutdown)


class RaisingPlugin:
    """Raises on every change: the other plugins must still hear every one, and the stream must go on."""

    def __init__(self) -> None:
        self.__name__ = "chaos-raising"

    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
        raise RuntimeError(f"chaos: a plugin that raises on every change ({change.exchange_symbol})")

    def pmbridge_account_mode_changed(self, change: AccountModeChange) -> None:
        raise RuntimeError(f"chaos: a plugin that raises on every change ({change.setting})")

    def pmbridge_position_changed(self, change: PositionChange) -> None:
        raise RuntimeError(f"chaos: a plugin that raises on every change ({change.exchange_symbol} {change.kind})")


class SlowPlugin:
    """Sleeps a few ms in every hook call; with ``block_every``, every Nth call blocks ~0.3 s (twice at most)."""

    def __init__(self, block_every: int | None) -> None:
        self.__name__ = "chaos-slow"
        self._block_every = block_every
        self._lock = threading.Lock()
        self.calls = 0
        self.blocks = 0

    def _work(self) -> None:
        with self._lock:
            self.calls += 1
            block = self._block_every is not None and self.calls % self._block_every == 0 and self.blocks < MAX_BLOCKS
            self.blocks += block
        time.sleep(BLOCK_S if block else SLOW_S)

    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
        self._work()

    def pmbridge_account_mode_changed(self, change: AccountModeChange) -> None:
        self._work()

    def pmbridge_position_changed(self, change: PositionChange) -> None:
        self._work()

    def pmbridge_stream_state_changed(self, change: StreamStateChange) -> None:
        self._work()

    def pmbridge_reconciled(self, report: ReconcileReport) -> None:
        self._work()


class FrameLog:
    """The bridge's frame observer: which injected (marked) frames it really received, and per position
    (``SYMBOL:SIDE``) the ``(E, T)`` of the newest ACCOUNT_UPDATE the exchange pushed that reached it."""

    def __init__(self) -> None:
        self.frames = 0
        self.marks: list[int] = []
        self.positions: dict[str, tuple[int, int | None]] = {}

    def __call__(self, raw: str | bytes, received_at: float) -> None:
        self.frames += 1
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if '"chaos":' in text:
            match = _MARK.search(text)
            if match:
                self.marks.append(int(match[1]))
        elif '"ACCOUNT_UPDATE"' in text:
            frame = orjson.loads(text)
            stamp = (frame["E"], frame.get("T"))
            for row in frame.get("a", {}).get("P", ()):
                key = f"{row['s']}:{row.get('ps', 'BOTH')}"
                if key not in self.positions or _later(stamp, self.positions[key]):
                    self.positions[key] = stamp


def _later(stamp: tuple[int, int | None], than: tuple[int, int | None]) -> bool:
    return (stamp[0], stamp[1] or 0) > (than[0], than[1] or 0)


# -- frames -------------------------------------------------------------------------------------------------------
def config_frame(
    symbol: str | None, event_ms: int, transaction_ms: int | None, value: int | bool, mark: int
) -> dict[str, Any]:
    """A PM ACCOUNT_CONFIG_UPDATE for ``symbol`` (None: the multi-assets flag), marked so the frame log finds it."""
    frame: dict[str, Any] = {"e": "ACCOUNT_CONFIG_UPDATE", "fs": "UM" if symbol is None else UNITS[symbol]}
    frame.update({"E": event_ms, "T": transaction_ms, "chaos": mark})
    frame.update({"ai": {"j": value}} if symbol is None else {"ac": {"s": symbol, "l": value}})
    return frame


def position_frame(
    symbol: str, event_ms: int, transaction_ms: int | None, value: PositionValue, mark: int
) -> dict[str, Any]:
    """A PM ACCOUNT_UPDATE (reason ORDER) carrying one position row, marked so the frame log finds it."""
    amount, entry = str(value.amount), str(value.entry_price)
    row = {"s": symbol, "pa": amount, "ep": entry, "cr": "0", "up": "0", "ps": "BOTH", "bep": entry}
    return {"e": "ACCOUNT_UPDATE", "fs": "UM", "E": event_ms, "T": transaction_ms, "i": "", "chaos": mark,
            "a": {"m": "ORDER", "B": [], "P": [row]}}  # fmt: skip


def malformed_frame(variant: MalformedVariant, mark: int) -> str:
    """A frame the decoder must refuse (or, ``unknown_event_type``, count and ignore), as the text sent."""
    head = f'{{"e":"ACCOUNT_CONFIG_UPDATE","chaos":{mark},"fs":"UM"'
    if variant == "truncated_json":
        return head + ',"E":17'
    if variant == "not_an_object":
        return f'[{{"chaos":{mark}}}]'
    if variant == "integer_overflow":
        return head + f',"E":{2**70},"ac":{{"s":"BTCUSDT","l":5}}}}'
    body: dict[str, Any] = {"E": FAR_FUTURE_MS, "T": FAR_FUTURE_MS, "ac": {"s": "BTCUSDT", "l": 7}}
    if variant == "leverage_not_a_number":
        body["ac"] = {"s": "BTCUSDT", "l": "lots"}
    elif variant == "leverage_out_of_range":
        body["ac"] = {"s": "BTCUSDT", "l": 126}
    elif variant == "missing_event_time":
        del body["E"]
    elif variant == "event_time_not_a_number":
        body["E"] = "soon"
    elif variant == "bad_business_unit":
        return head.replace('"fs":"UM"', '"fs":"XM"') + "," + orjson.dumps(body).decode()[1:]
    elif variant == "multi_assets_not_a_bool":
        body = {"E": FAR_FUTURE_MS, "ai": {"j": "true"}}
    else:  # unknown_event_type
        return orjson.dumps({"e": "CHAOS_UNKNOWN_EVENT", "E": FAR_FUTURE_MS, "chaos": mark}).decode()
    return head + "," + orjson.dumps(body).decode()[1:]
