"""`SimulatorThread`: a Simulator on its own event loop in a daemon thread, driven with plain sync calls."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Final, Self, TypeVar

from .server import Simulator
from .venue.account import AccountType

T = TypeVar("T")
CALL_TIMEOUT_S: Final = 30.0


class SimulatorThread:
    """For clients that own another loop (or none): every method blocks until the simulator's loop has done it."""

    def __init__(
        self,
        symbols: int = 8,
        api_key: str | None = None,
        api_secret: str | None = None,
        seed: int | None = None,
        clock_speed: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        token_prefix: str | None = None,
    ) -> None:
        self.simulator = Simulator(symbols, api_key, api_secret, seed, clock_speed, token_prefix)
        self._host, self._port = host, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pmbridge-sim", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._call(self.simulator.start(self._host, self._port))

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            self._call(self.simulator.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=CALL_TIMEOUT_S)
            self._loop.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(CALL_TIMEOUT_S)

    @property
    def base_url(self) -> str:
        return self.simulator.base_url

    @property
    def api_key(self) -> str:
        return self.simulator.api_key

    @property
    def api_secret(self) -> str:
        return self.simulator.api_secret

    @property
    def ccxt_config(self) -> dict[str, Any]:
        return self.simulator.ccxt_config

    def startup_info(self) -> dict[str, Any]:
        return self.simulator.startup_info()

    def credentials(self, account: str | None = None) -> tuple[str, str]:
        return self.simulator.credentials(account)

    def set_leverage(self, symbol: str, leverage: int, account: str | None = None) -> dict[str, Any]:
        return self._call(self.simulator.set_leverage(symbol, leverage, account))

    def set_multi_assets(self, enabled: bool, account: str | None = None) -> None:
        self._call(self.simulator.set_multi_assets(enabled, account))

    def set_position_mode(self, dual_side: bool, account: str | None = None) -> None:
        self._call(self.simulator.set_position_mode(dual_side, account))

    def set_price(self, symbol: str, price: float | None) -> dict[str, Any]:
        return self._call(self.simulator.set_price(symbol, price))

    def place_order(self, account: str | None = None, **fields: Any) -> dict[str, Any]:
        return self._call(self.simulator.place_order(account, **fields))

    def place_algo_order(self, account: str | None = None, **fields: Any) -> dict[str, Any]:
        return self._call(self.simulator.place_algo_order(account, **fields))

    def cancel(
        self, account: str | None = None, *, order_id: int | None = None, algo_id: int | None = None
    ) -> dict[str, Any]:
        return self._call(self.simulator.cancel(account, order_id=order_id, algo_id=algo_id))

    def close_position(
        self, symbol: str, account: str | None = None, position_side: str | None = None
    ) -> dict[str, Any]:
        return self._call(self.simulator.close_position(symbol, account, position_side))

    def set_margin_type(self, symbol: str, margin_type: str, account: str | None = None) -> dict[str, Any]:
        return self._call(self.simulator.set_margin_type(symbol, margin_type, account))

    def deposit(self, amount: float | str, account: str | None = None) -> None:
        self._call(self.simulator.deposit(amount, account))

    def drop(self) -> int:
        return self._call(self.simulator.drop())

    def expire_key(self, account: AccountType | None = None, announce: bool = True) -> list[AccountType]:
        return self._call(self.simulator.expire_key(account, announce))

    def fail(
        self,
        status: int,
        count: int,
        code: int | None = None,
        retry_after: float | None = None,
        paths: list[str] | None = None,
    ) -> None:
        self._call(self.simulator.fail(status, count, code, retry_after, paths))

    def set_latency(self, ms: int, count: int | None = None) -> None:
        self._call(self.simulator.set_latency(ms, count))

    def push_frames(self, frames: list[Any]) -> int:
        return self._call(self.simulator.push_frames(frames))

    def set_clock(self, speed: float | None = None, advance_ms: int | None = None, keep_keys: bool = False) -> None:
        self._call(self.simulator.set_clock(speed, advance_ms, keep_keys))

    def reset_stats(self) -> None:
        self._call(self.simulator.reset_stats())

    def state(self) -> dict[str, Any]:
        # Read on the simulator's loop: its dicts are only ever mutated there.
        return self._call(self._on_loop(self.simulator.state))

    def history(self) -> dict[str, Any]:
        return self._call(self._on_loop(self.simulator.history))

    def stats(self) -> dict[str, Any]:
        return self._call(self._on_loop(self.simulator.stats))

    @staticmethod
    async def _on_loop(read: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        return read()
