"""pytest fixtures for pmbridge and its plugins (registered through ``pytest11``: installed with pmbridge).

    async def test_my_plugin(pmbridge_sim, pmbridge_bridge, pmbridge_recorder):
        pmbridge_bridge.pm.register(MyPlugin())
        await pmbridge_sim.set_leverage("BTCUSDT", 25)          # a change made "in the Binance app"
        change = await pmbridge_recorder.wait_for_leverage("BTCUSDT", 25)
        assert change.source == "stream"

``pmbridge_sim`` is a running simulator on 127.0.0.1; ``pmbridge_bridge`` a started bridge connected to it (first
snapshot applied); ``pmbridge_recorder`` a plugin registered on that bridge that records every hook call. The
async fixtures need pytest-asyncio (``pip install 'pmbridge[test]'``). Importing this module is cheap: nothing heavy
is imported until a fixture is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

from .models import (
    AccountModeChange,
    BridgeInfo,
    LeverageChange,
    PositionChange,
    ReconcileReport,
    Shutdown,
    StreamStateChange,
)

if TYPE_CHECKING:
    from .book import LeverageBook
    from .bridge import Bridge
    from .config import BridgeConfig
    from .manager import PluginManager
    from .sim import Simulator

F = TypeVar("F", bound=Callable[..., Any])

try:
    import pytest_asyncio

    _fixture: Any = pytest_asyncio.fixture
except ImportError:  # pragma: no cover - without pytest-asyncio only the sync helpers are usable
    _fixture = pytest.fixture


def _async_fixture(function: F) -> F:
    return cast(F, _fixture(function))


class HookRecorder:
    """A plugin that records every notification hook call as ``(hook name, argument)``, in order.

    Hooks arrive on pmbridge's hook thread. Once attached to a plugin manager (``running_bridge`` and the
    ``pmbridge_bridge`` fixture do it), every read first waits for what was already queued (``pm.flush``), so a
    test reads everything announced before its read.
    """

    def __init__(self) -> None:
        self._calls: list[tuple[str, Any]] = []
        self._pm: PluginManager | None = None

    def attach(self, pm: PluginManager) -> None:
        """Register on ``pm`` and flush it before every read."""
        pm.register(self)
        self._pm = pm

    @property
    def calls(self) -> list[tuple[str, Any]]:
        pm = self._pm
        if pm is not None:
            pm.flush(include_detached=False)
        return self._calls

    def _record(self, name: str, arg: Any) -> None:
        self._calls.append((name, arg))

    def pmbridge_configure(self, config: BridgeInfo) -> None:
        self._record("pmbridge_configure", config)

    def pmbridge_ready(self, book: LeverageBook) -> None:
        self._record("pmbridge_ready", book)

    def pmbridge_leverage_changed(self, change: LeverageChange) -> None:
        self._record("pmbridge_leverage_changed", change)

    def pmbridge_account_mode_changed(self, change: AccountModeChange) -> None:
        self._record("pmbridge_account_mode_changed", change)

    def pmbridge_position_changed(self, change: PositionChange) -> None:
        self._record("pmbridge_position_changed", change)

    def pmbridge_stream_state_changed(self, change: StreamStateChange) -> None:
        self._record("pmbridge_stream_state_changed", change)

    def pmbridge_reconciled(self, report: ReconcileReport) -> None:
        self._record("pmbridge_reconciled", report)

    def pmbridge_shutdown(self, shutdown: Shutdown) -> None:
        self._record("pmbridge_shutdown", shutdown)

    def of(self, hook: str) -> list[Any]:
        return [arg for name, arg in self.calls if name == hook]

    def leverage_changes(self, source: str | None = None) -> list[LeverageChange]:
        return [c for c in self.of("pmbridge_leverage_changed") if source is None or c.source == source]

    def position_changes(self, kind: str | None = None) -> list[PositionChange]:
        return [c for c in self.of("pmbridge_position_changed") if kind is None or c.kind == kind]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
        """Poll ``predicate`` until it returns something truthy (returned), or fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; hooks seen: {self.summary()}")
            await asyncio.sleep(0.002)

    async def wait_for_leverage(
        self, exchange_symbol: str, leverage: int, source: str | None = None, timeout: float = 5.0
    ) -> LeverageChange:
        def found() -> LeverageChange | None:
            for change in reversed(self.leverage_changes(source)):
                if change.exchange_symbol == exchange_symbol and change.new == leverage:
                    return change
            return None

        result: LeverageChange = await self.wait_for(found, timeout, f"{exchange_symbol} -> {leverage}x")
        return result

    def summary(self) -> list[str]:
        return [
            f"{name}({getattr(arg, 'exchange_symbol', '')}{getattr(arg, 'new', '')})" for name, arg in self.calls[-20:]
        ]


def fast_config(sim: Simulator, **overrides: Any) -> BridgeConfig:
    """A bridge configuration for the simulator with test-friendly timings (overridable). ``account="usdm"`` (or
    ``coinm``) connects as that simulated account, with its own key."""
    from .config import BridgeConfig  # noqa: PLC0415

    key, secret = sim.credentials(overrides.get("account"))
    key, secret = overrides.pop("api_key", key), overrides.pop("api_secret", secret)
    return BridgeConfig.for_simulator(sim.base_url, key, secret, **overrides)


@contextlib.asynccontextmanager
async def running_bridge(sim: Simulator, *plugins: object, **overrides: Any) -> AsyncIterator[Bridge]:
    """A started bridge on ``sim`` with ``plugins`` (no installed plugins), stopped on exit."""
    from .bridge import Bridge  # noqa: PLC0415
    from .manager import create_plugin_manager  # noqa: PLC0415

    pm = create_plugin_manager(load_entrypoints=False)
    for plugin in plugins:
        if isinstance(plugin, HookRecorder):
            plugin.attach(pm)
        else:
            pm.register(plugin)
    bridge = Bridge(fast_config(sim, **overrides), pm=pm)
    await bridge.start()
    try:
        yield bridge
    finally:
        await bridge.stop()


@_async_fixture
async def pmbridge_sim() -> AsyncIterator[Simulator]:
    """A running simulator (8 symbols) on 127.0.0.1, stopped after the test."""
    from .sim import Simulator  # noqa: PLC0415

    async with Simulator(symbols=8) as sim:
        yield sim


@pytest.fixture
def pmbridge_recorder() -> HookRecorder:
    return HookRecorder()


@_async_fixture
async def pmbridge_bridge(pmbridge_sim: Simulator, pmbridge_recorder: HookRecorder) -> AsyncIterator[Bridge]:
    """A bridge connected to ``pmbridge_sim`` with its first snapshot applied; ``pmbridge_recorder`` registered."""
    async with running_bridge(pmbridge_sim, pmbridge_recorder) as bridge:
        yield bridge
