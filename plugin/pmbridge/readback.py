"""Read-back: after a change on a symbol with open positions, read its positions over REST before announcing it.

The stream says a leverage changed, or a position moved, but not what that did to the position: its margin in use,
its liquidation price. So an announcement on such a symbol is held, one REST read (``fetch_positions``) is made for
every symbol held within a short window, the position book takes it (source ``readback``), and the held
announcements go out in their order carrying the positions read. Changes of one symbol keep their order; a symbol
with no open position is announced at once. If the read fails, they go out with what the book knows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Final

from attrs import evolve

from .errors import ExchangeError
from .models import LeverageChange, Position, PositionChange
from .readings import positions_snapshot

if TYPE_CHECKING:
    from .book import LeverageBook, PositionBook
    from .manager import PluginManager
    from .rest import RestClient

log = logging.getLogger(__name__)

COALESCE_S: Final = 0.02
"""Changes arriving together (a fill's events, a burst of app changes) share one read."""

Held = LeverageChange | PositionChange


class ReadBack:
    def __init__(
        self,
        rest: RestClient,
        book: LeverageBook,
        positions: PositionBook,
        pm: PluginManager,
        *,
        enabled: bool = True,
    ) -> None:
        self._rest, self._book, self._positions, self._pm = rest, book, positions, pm
        self.enabled = enabled
        self._held: list[Held] = []
        self._symbols: set[str] = set()
        """Symbols with a change held or in a read in flight: later changes of them queue behind."""
        self._task: asyncio.Task[None] | None = None
        self.reads = 0
        self.failures = 0

    def queued(self, exchange_symbol: str) -> bool:
        """A change of this symbol is held or being read: anything later about it must queue behind."""
        return exchange_symbol in self._symbols

    def needed(self, change: Held) -> bool:
        """Whether ``change`` waits for a read: it leaves a position open (whose liquidation price the stream does
        not carry), or its symbol has changes held before it."""
        if not self.enabled:
            return False
        if change.exchange_symbol in self._symbols:
            return True
        if isinstance(change, PositionChange):
            return change.position.is_open
        return self._positions.has_open(change.unit, change.exchange_symbol)

    def hold(self, change: Held) -> None:
        self._held.append(change)
        self._symbols.add(change.exchange_symbol)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._read_then_release(), name="pmbridge-readback")

    async def _read_then_release(self) -> None:
        while self._held:
            await asyncio.sleep(COALESCE_S)
            batch, self._held = self._held, []
            found: tuple[PositionChange, ...] = ()
            try:
                found = await self._read(frozenset(c.exchange_symbol for c in batch))
            except ExchangeError as exc:
                self.failures += 1
                log.warning("could not read positions back after a change (%s); announcing what the stream said", exc)
            except asyncio.CancelledError:
                self._release(batch, ())
                raise
            self._release(batch, found)
            # Symbols held meanwhile wait for the next read, behind what was just announced.
            self._symbols = {c.exchange_symbol for c in self._held}

    async def _read(self, symbols: frozenset[str]) -> tuple[PositionChange, ...]:
        book_symbols = self._book.symbols
        if book_symbols is None:
            return ()
        mark = self._positions.mark()
        reading = await positions_snapshot(self._rest, book_symbols, only=symbols)
        self.reads += 1
        return self._positions.apply_snapshot(reading, requested_at=mark, source="readback")

    def _release(self, batch: list[Held], found: tuple[PositionChange, ...]) -> None:
        announced: dict[tuple[str, str], Position] = {}
        for change in batch:
            if isinstance(change, LeverageChange):
                positions = self._positions.open_positions(change.exchange_symbol)
                self._pm.notify("pmbridge_leverage_changed", evolve(change, positions=positions))
            else:
                self._pm.notify("pmbridge_position_changed", self._refreshed(change))
                announced[(change.exchange_symbol, change.position.side)] = change.position
        for change in found:
            # What the read found beyond the held changes (a fill whose event was lost): reported as such. Where it
            # found a held change's position with other figures only, the held change already carried them.
            said = announced.get((change.exchange_symbol, change.position.side))
            now = change.position
            if said is None or (said.amount, said.entry_price) != (now.amount, now.entry_price):
                self._pm.notify("pmbridge_position_changed", change)

    def _refreshed(self, change: PositionChange) -> PositionChange:
        """The held change with the figures the read brought (liquidation price, mark), if it read the same state."""
        now = self._positions.get(change.exchange_symbol, change.position.side, change.position.unit)
        held = change.position
        if now is None or (now.amount, now.entry_price) != (held.amount, held.entry_price):
            return change
        return evolve(
            change,
            position=evolve(
                held,
                liquidation_price=now.liquidation_price,
                mark_price=now.mark_price,
                unrealized_pnl=now.unrealized_pnl,
                leverage=now.leverage,
            ),
        )

    async def settled(self) -> None:
        """Until every held change has been read back and announced (tests, and callers that must not race it)."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
