"""The writer of recordings (``pmbridge record``): a bridge's raw frames and reconciled books, in the format
``pmbridge.recording`` describes and reads."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO, Final

import orjson

from . import __version__
from .models import ReconcileReport
from .recording import FORMAT_VERSION
from .redact import scrub
from .views import position_view

if TYPE_CHECKING:
    from .bridge import Bridge

__all__ = ["Recorder"]

log = logging.getLogger(__name__)

_MARKET_FIELDS: Final = ("id", "swap", "future", "inverse")
"""What ``SymbolMap.from_ccxt_markets`` reads of ccxt's markets: a replay names symbols the way the live bridge did."""


def now_ms() -> float:
    return time.time() * 1000.0


class Recorder:
    """Writes ``bridge``'s raw frames (as its frame observer) and reconciled books (as a plugin) to ``out``.

    Create it before ``bridge.start()``. Every line is flushed as it is written. A write that fails stops the
    recording and calls ``on_failure`` with the reason (the stream itself goes on).
    """

    def __init__(self, out: BinaryIO, bridge: Bridge, on_failure: Callable[[str], None] | None = None) -> None:
        self.out = out
        self.bridge = bridge
        self.on_failure = on_failure
        self.frames = 0
        self.snapshots = 0
        self.failed: str | None = None
        self._secrets = tuple(s for s in (bridge.config.api_key, bridge.config.api_secret) if s)
        self._markets_written = False
        bridge.frame_observer = self.frame_received
        bridge.pm.register(self, name="pmbridge.recorder", inline=True)  # snapshots the book at the hook
        self._write(
            {
                "pmbridge_recording": FORMAT_VERSION,
                "account": bridge.config.account,
                "started": now_ms(),
                "pmbridge": __version__,
            }
        )

    def frame_received(self, raw: str | bytes, received_at: float) -> None:
        """The bridge's frame observer: one ``frame`` line, secrets masked."""
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        self._write_markets()
        if self._write({"t": received_at * 1000.0, "frame": self._mask(text)}):
            self.frames += 1

    def pmbridge_reconciled(self, report: ReconcileReport) -> None:
        book = self.bridge.book
        leverage: dict[str, dict[str, int]] = {"UM": {}, "CM": {}}
        for (unit, symbol), entry in book.entries().items():
            leverage[unit][symbol] = entry.leverage
        snapshot: dict[str, Any] = {
            **leverage,
            "multi_assets": book.multi_assets,
            "dual_side_position": book.dual_side_position,
            "positions": [position_view(p) for p in self.bridge.positions.open_positions()],
        }
        self._write_markets()
        line = {"t": now_ms(), "snapshot": snapshot, "source": report.source, "trigger": report.trigger}
        if self._write(line):
            self.snapshots += 1

    def _mask(self, text: str) -> str:
        return scrub(text, self._secrets)  # by value too: a short test key has no secret shape

    def _write_markets(self) -> None:
        if self._markets_written:
            return
        exchange = self.bridge.rest.exchange
        markets: Mapping[str, Mapping[str, Any]] | None = getattr(exchange, "markets", None)
        if not markets:
            return
        self._markets_written = True
        reduced = {name: {key: market.get(key) for key in _MARKET_FIELDS} for name, market in markets.items()}
        self._write({"t": now_ms(), "markets": reduced})

    def _write(self, record: Mapping[str, Any]) -> bool:
        if self.failed is not None:
            return False
        try:
            self.out.write(orjson.dumps(record) + b"\n")
            self.out.flush()
        except (OSError, ValueError) as exc:  # ValueError: the file was closed under us
            self.failed = f"could not write the recording ({exc}); recording stopped"
        if self.failed is None:
            return True
        log.error("%s", self.failed)
        if self.on_failure is not None:
            self.on_failure(self.failed)
        return False
