"""A faithful local Binance (Portfolio Margin, USDⓈ-M, COIN-M) for tests and demos: REST, user streams, control API.

Nothing starts at import: build a `Simulator` and `await sim.start()`, or use `SimulatorThread` from sync code.
"""

from __future__ import annotations

from .clock import SimClock
from .server import Simulator
from .thread import SimulatorThread

__all__ = ["SimClock", "Simulator", "SimulatorThread"]
